//! Files (the repository's own, and temporary ones the tests write), and the Prometheus
//! project's tools the tests run on them.

use std::path::{Path, PathBuf};

/// The root of the repository.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the Prometheus server is: on the `PATH`, or where Debian puts it.
pub fn prometheus_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("prometheus"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/bin/prometheus")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the end-to-end test needs the Prometheus server: install the Debian package \
                 `prometheus` (.ci/run does)"
            )
        })
}

/// Writing the files of a test into its temporary directory.
pub trait WriteFiles {
    /// Writes `content` to `name` in the directory; returns the file's path.
    fn write(&self, name: &str, content: &str) -> PathBuf;
}

impl WriteFiles for tempfile::TempDir {
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

/// A Prometheus server on `127.0.0.1:port` with its data under `dir/data`, scraping
/// `target` every second as job `job`, evaluating `rule_files` every second, and keeping
/// exemplars, as the README asks of users.
pub fn start_prometheus(
    dir: &Path,
    job: &str,
    target: &str,
    port: u16,
    rule_files: &[PathBuf],
) -> super::Process {
    let mut config =
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            .to_owned();
    if !rule_files.is_empty() {
        config.push_str("rule_files:\n");
        for file in rule_files {
            config.push_str(&format!("  - {}\n", file.display()));
        }
    }
    config.push_str(&format!(
        "scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
    ));
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    super::Process::spawn(
        prometheus_binary(),
        &[
            format!("--config.file={}", config_file.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--enable-feature=exemplar-storage".to_owned(),
            "--log.level=warn".to_owned(),
        ],
        &[],
    )
}
