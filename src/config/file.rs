//! The YAML config file: every key and value checked while reading, so that each error
//! names the file, the key and the line.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Visitor};

use super::error::ConfigError;
use super::flags::{CONFIG_FILE, FLAGS, Flag, find_flag};

/// One setting of the config file, already checked. `None` is an explicit YAML null,
/// which leaves the setting to its default.
pub(super) struct FileEntry {
    pub(super) flag: &'static Flag,
    pub(super) value: Option<String>,
}

/// What went wrong inside the YAML walk, kept aside because serde's error only carries
/// a message and a position, and our error names the key separately.
struct FileProblem {
    key: String,
    problem: String,
}

/// Walks the YAML document with serde seeds rather than through `serde_norway::Value`,
/// because only errors raised during deserialization carry the line of the offending
/// key or value.
struct FileReader {
    entries: RefCell<Vec<FileEntry>>,
    problem: RefCell<Option<FileProblem>>,
}

impl FileReader {
    fn fail<E: de::Error>(&self, key: &str, problem: String) -> E {
        let error = E::custom(format!("{key}: {problem}"));
        *self.problem.borrow_mut() = Some(FileProblem {
            key: key.to_string(),
            problem,
        });
        error
    }
}

pub(super) fn load_file(file: &Path) -> Result<Vec<FileEntry>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::ReadFile {
        file: file.to_path_buf(),
        source,
    })?;
    let reader = FileReader {
        entries: RefCell::new(Vec::new()),
        problem: RefCell::new(None),
    };
    let walked = MappingSeed {
        reader: &reader,
        prefix: String::new(),
    }
    .deserialize(serde_norway::Deserializer::from_str(&text));
    if let Err(error) = walked {
        let line = error.location().map(|l| l.line());
        return Err(match reader.problem.into_inner() {
            Some(FileProblem { key, problem }) => ConfigError::FileKey {
                file: file.to_path_buf(),
                key,
                line,
                problem,
            },
            None => ConfigError::ParseFile {
                file: file.to_path_buf(),
                message: error.to_string(),
            },
        });
    }
    Ok(reader.entries.into_inner())
}

/// A mapping of settings whose keys all start with `prefix` (`""` at the top,
/// `"iadvize."` inside `iadvize:`).
struct MappingSeed<'r> {
    reader: &'r FileReader,
    prefix: String,
}

impl MappingSeed<'_> {
    fn not_a_mapping<E: de::Error>(&self) -> E {
        let section = self.prefix.trim_end_matches('.');
        if section.is_empty() {
            E::custom("expected a mapping of settings, such as `poll.interval: 60s`")
        } else {
            self.reader.fail(
                section,
                format!("expected a mapping of {section}.* settings"),
            )
        }
    }
}

impl<'de> DeserializeSeed<'de> for MappingSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MappingSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a mapping of settings")
    }

    // An empty file or an empty section (`iadvize:` with nothing under it) sets nothing.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_a_mapping())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed {
            reader: self.reader,
            prefix: &self.prefix,
        })? {
            match key {
                Key::Setting(flag) => {
                    let value = map.next_value_seed(ValueSeed {
                        reader: self.reader,
                        flag,
                    })?;
                    self.reader
                        .entries
                        .borrow_mut()
                        .push(FileEntry { flag, value });
                }
                Key::Section(section) => map.next_value_seed(MappingSeed {
                    reader: self.reader,
                    prefix: format!("{section}."),
                })?,
            }
        }
        Ok(())
    }
}

enum Key {
    Setting(&'static Flag),
    Section(String),
}

struct KeySeed<'r> {
    reader: &'r FileReader,
    prefix: &'r str,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a setting name such as poll.interval")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        let full = format!("{}{key}", self.prefix);
        let fail = |problem: &str| Err(self.reader.fail(&full, problem.to_string()));
        if full == "iadvize.password" {
            return fail(
                "a password is not accepted in the config file: put it in a file named by \
                 iadvize.password-file, or in the IADVIZE_PASSWORD environment variable",
            );
        }
        if full == CONFIG_FILE {
            return fail("config.file cannot be set inside the config file");
        }
        if let Some(flag) = find_flag(&full) {
            if self
                .reader
                .entries
                .borrow()
                .iter()
                .any(|e| e.flag.name == flag.name)
            {
                return fail("set twice (the dotted and nested forms name the same setting)");
            }
            return Ok(Key::Setting(flag));
        }
        let section = format!("{full}.");
        let is_section =
            full == "config" || FLAGS.iter().any(|f| f.name.starts_with(section.as_str()));
        if is_section {
            return Ok(Key::Section(full));
        }
        match closest_key(&full) {
            Some(known) => fail(&format!(
                "unknown key: did you mean {known}? Keys are the flag names without the leading --, dotted or nested"
            )),
            None => fail(
                "unknown key: keys are the flag names without the leading --, such as poll.interval, dotted or nested",
            ),
        }
    }
}

/// The setting a mistyped key most likely meant: the most similar flag name, if it is
/// close (a letter missing, doubled or swapped, a section misspelt).
fn closest_key(key: &str) -> Option<&'static str> {
    FLAGS
        .iter()
        .filter(|f| f.name != CONFIG_FILE && f.name != "iadvize.password")
        .map(|f| (strsim::jaro_winkler(key, f.name), f.name))
        .filter(|(similarity, _)| *similarity >= 0.9)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

struct ValueSeed<'r> {
    reader: &'r FileReader,
    flag: &'static Flag,
}

impl ValueSeed<'_> {
    fn checked<E: de::Error>(&self, value: String) -> Result<Option<String>, E> {
        match self.flag.kind.check(&value) {
            Ok(()) => Ok(Some(value)),
            Err(expected) => Err(self.reader.fail(
                self.flag.name,
                format!("invalid value {value:?}: {expected}"),
            )),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value for {}", self.flag.name)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        if !self.flag.kind.takes_list() {
            return Err(self.reader.fail(
                self.flag.name,
                "expected a single value, not a list".to_string(),
            ));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ScalarSeed)? {
            items.push(item);
        }
        self.checked(items.join(","))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Option<String>, A::Error> {
        Err(self.reader.fail(
            self.flag.name,
            "expected a value, not a mapping".to_string(),
        ))
    }
}

/// One item of a list value: a string or a number.
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a number or a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}
