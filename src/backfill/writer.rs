//! The history file: OpenMetrics with each family written once, header then samples, and
//! a final `# EOF`.
//!
//! Snapshots come in time order, each holding every family, but OpenMetrics wants a
//! family's samples together. Each family's lines go to a part file of its own beside the
//! output while the range is read, and the parts are joined at the end: memory holds one
//! snapshot, never the range. The output is written under a temporary name and renamed
//! last, so a failure leaves no half-written file under the output name.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::config::Output;

/// The history being written.
pub struct HistoryFile {
    /// The part files' directory, removed when this is dropped.
    parts: PathBuf,
    /// The output under its temporary name (`None` for standard output).
    pending: Option<(PathBuf, File)>,
    families: Vec<Family>,
    by_name: HashMap<String, usize>,
    current: Option<usize>,
    samples: u64,
    /// Hashes of the series seen, to count them without keeping their names.
    series: HashSet<u64>,
    hasher: RandomState,
}

struct Family {
    /// `# HELP`, `# TYPE`, `# UNIT` lines, from the first snapshot that had the family.
    header: String,
    /// Whether the header is complete.
    sealed: bool,
    path: PathBuf,
    file: BufWriter<File>,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub samples: u64,
    pub series: u64,
}

fn random_name(base: &Path, kind: &str) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{kind}-{:016x}", rand::random::<u64>()));
    PathBuf::from(name)
}

impl HistoryFile {
    /// Creates the temporary output and the part directory at once, so that an output that
    /// cannot be written fails before anything is read.
    pub fn create(output: &Output) -> io::Result<HistoryFile> {
        let (parts_base, pending) = match output {
            Output::Stdout => (std::env::temp_dir().join("iadvize-history"), None),
            Output::File(path) => {
                let tmp = random_name(path, "tmp");
                let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
                (path.clone(), Some((tmp, file)))
            }
        };
        let parts = random_name(&parts_base, "parts");
        if let Err(e) = fs::create_dir(&parts) {
            if let Some((tmp, _)) = &pending {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
        Ok(HistoryFile {
            parts,
            pending,
            families: Vec::new(),
            by_name: HashMap::new(),
            current: None,
            samples: 0,
            series: HashSet::new(),
            hasher: RandomState::new(),
        })
    }

    /// Appends one snapshot's lines: each family's header (kept from its first
    /// snapshot) and samples.
    pub fn append(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                let Some(name) = rest.split(' ').nth(1) else {
                    continue;
                };
                let index = self.family(name)?;
                self.current = Some(index);
                let family = &mut self.families[index];
                if !family.sealed {
                    family.header.push_str(line);
                    family.header.push('\n');
                }
                continue;
            }
            let Some(index) = self.current else {
                return Err(io::Error::other("a sample line before any family header"));
            };
            // `series value timestamp`: label values may hold spaces, the two numbers not.
            let series = line.rsplitn(3, ' ').nth(2).unwrap_or(line);
            self.series.insert(self.hasher.hash_one(series));
            self.samples += 1;
            let file = &mut self.families[index].file;
            file.write_all(line.as_bytes())?;
            file.write_all(b"\n")?;
        }
        // Every snapshot repeats the headers: the first one met is the one kept.
        for family in &mut self.families {
            family.sealed = true;
        }
        Ok(())
    }

    fn family(&mut self, name: &str) -> io::Result<usize> {
        if let Some(index) = self.by_name.get(name) {
            return Ok(*index);
        }
        let index = self.families.len();
        let path = self.parts.join(format!("{index}.om"));
        let file = BufWriter::new(File::create(&path)?);
        self.families.push(Family {
            header: String::new(),
            sealed: false,
            path,
            file,
        });
        self.by_name.insert(name.to_owned(), index);
        Ok(index)
    }

    /// Joins the parts into the output, with `# EOF`, and gives it its name.
    pub fn finish(mut self, output: &Output) -> io::Result<Written> {
        let mut bytes = 0u64;
        {
            let mut sink: Box<dyn Write> = match &mut self.pending {
                Some((_, file)) => Box::new(BufWriter::new(&*file)),
                None => Box::new(BufWriter::new(io::stdout().lock())),
            };
            for family in &mut self.families {
                family.file.flush()?;
                sink.write_all(family.header.as_bytes())?;
                bytes += family.header.len() as u64;
                bytes += io::copy(&mut File::open(&family.path)?, &mut sink)?;
            }
            sink.write_all(b"# EOF\n")?;
            bytes += 6;
            sink.flush()?;
        }
        if let (Some((tmp, file)), Output::File(path)) = (self.pending.take(), output) {
            file.sync_all()?;
            drop(file);
            if let Err(e) = fs::rename(&tmp, path) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
        Ok(Written {
            bytes,
            samples: self.samples,
            series: self.series.len() as u64,
        })
    }
}

impl Drop for HistoryFile {
    fn drop(&mut self) {
        self.families.clear();
        let _ = fs::remove_dir_all(&self.parts);
        if let Some((tmp, _)) = self.pending.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_come_out_whole_and_a_failure_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("history-test-{:x}", rand::random::<u64>()));
        fs::create_dir(&dir).unwrap();
        let output = Output::File(dir.join("out.om"));
        let mut file = HistoryFile::create(&output).unwrap();
        for t in [1, 2] {
            file.append(&format!(
                "# HELP a A.\n# TYPE a counter\na_total{{x=\"1 2\"}} {t} {t}\n# TYPE b gauge\nb {t} {t}\n"
            ))
            .unwrap();
        }
        let written = file.finish(&output).unwrap();
        let text = fs::read_to_string(dir.join("out.om")).unwrap();
        assert_eq!(
            text,
            "# HELP a A.\n# TYPE a counter\na_total{x=\"1 2\"} 1 1\na_total{x=\"1 2\"} 2 2\n\
             # TYPE b gauge\nb 1 1\nb 2 2\n# EOF\n"
        );
        assert_eq!(written.bytes, text.len() as u64);
        assert_eq!((written.samples, written.series), (4, 2));

        let failed = Output::File(dir.join("failed.om"));
        let mut file = HistoryFile::create(&failed).unwrap();
        file.append("# TYPE b gauge\nb 1 1\n").unwrap();
        drop(file);
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("out.om")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
