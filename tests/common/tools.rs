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
