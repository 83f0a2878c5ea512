//! The exporter's own health families, live atomics encoded at each scrape, in one
//! registry that each group of them registers into in turn.

mod api;
mod poll;
mod state_file;
mod web_config;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use api::Api;
use poll::Poll;
use state_file::StateFile;
use web_config::WebConfig;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    revision: String,
    rustc: String,
}

#[derive(Debug)]
pub(super) struct Health {
    pub(super) registry: Registry,
    pub(super) poll: Poll,
    pub(super) api: Api,
    pub(super) state_file: StateFile,
    pub(super) web_config: WebConfig,
}

impl Health {
    pub(super) fn new() -> Self {
        let mut registry = Registry::default();
        // A registry encodes in the order of registration, and that order is the contract.
        let poll = Poll::register(&mut registry);
        let api = Api::register(&mut registry);
        let state_file = StateFile::register(&mut registry);
        let web_config = WebConfig::register(&mut registry);
        register_build_info(&mut registry);
        Health {
            registry,
            poll,
            api,
            state_file,
            web_config,
        }
    }
}

fn register_build_info(registry: &mut Registry) {
    let build_info = Family::<BuildLabels, Gauge>::default();
    build_info
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            revision: env!("IADVIZE_EXPORTER_REVISION").to_owned(),
            rustc: env!("IADVIZE_EXPORTER_RUSTC").to_owned(),
        })
        .set(1);
    registry.register(
        "iadvize_exporter_build_info",
        "Build of the exporter; always 1",
        build_info,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_is_one() {
        let mut body = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut body, &Health::new().registry)
            .unwrap();
        let line = body
            .lines()
            .find(|l| l.starts_with("iadvize_exporter_build_info{"))
            .unwrap();
        assert!(line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));
        assert!(line.ends_with(" 1"), "{line}");
    }
}
