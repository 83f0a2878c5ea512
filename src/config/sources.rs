//! Merging: each setting's winning value, flag > environment > config file > default,
//! and the place it came from.

use std::path::PathBuf;

use clap::ArgMatches;
use clap::parser::ValueSource;

use super::error::{ConfigError, Place};
use super::file::{FileEntry, load_file};
use super::flags::{CONFIG_FILE, Flag, Kind, env_var_name, find_flag};
use super::values::parse_non_empty;

pub(super) struct Sources<'a> {
    /// `check`'s matches first, then the top level's.
    cli: &'a [&'a ArgMatches],
    env: &'a dyn Fn(&str) -> Option<String>,
    file: Option<(PathBuf, Vec<FileEntry>)>,
}

impl<'a> Sources<'a> {
    /// Reads the `--config.file`, named by a flag or else by the environment, at once:
    /// its errors come before any other setting is looked at.
    pub(super) fn new(
        cli: &'a [&'a ArgMatches],
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Result<Sources<'a>, ConfigError> {
        let config_file = cli
            .iter()
            .find(|m| given_on_command_line(m, CONFIG_FILE))
            .and_then(|m| m.try_get_one::<String>(CONFIG_FILE).ok().flatten().cloned())
            .or_else(|| env(&env_var_name(CONFIG_FILE)).filter(|v| !v.is_empty()));
        let file = match config_file {
            Some(path) => {
                let path = PathBuf::from(path);
                let entries = load_file(&path)?;
                Some((path, entries))
            }
            None => None,
        };
        Ok(Sources { cli, env, file })
    }

    pub(super) fn env_value(&self, var: &str) -> Option<String> {
        (self.env)(var).filter(|v| !v.is_empty())
    }

    /// The winning value of a flag, if anything but the default set it.
    fn lookup(&self, flag: &'static Flag) -> Option<(String, Place)> {
        for matches in self.cli {
            if given_on_command_line(matches, flag.name) {
                let value = match flag.kind {
                    Kind::Switch => Some("true".to_string()),
                    _ => matches
                        .try_get_one::<String>(flag.name)
                        .ok()
                        .flatten()
                        .cloned(),
                };
                if let Some(value) = value {
                    return Some((value, Place::Flag(flag.name)));
                }
            }
        }
        let var = env_var_name(flag.name);
        if let Some(value) = self.env_value(&var) {
            return Some((
                value,
                Place::Env {
                    var,
                    flag: flag.name,
                },
            ));
        }
        let (file, entries) = self.file.as_ref()?;
        let entry = entries.iter().find(|e| e.flag.name == flag.name)?;
        let value = entry.value.clone()?;
        Some((
            value,
            Place::File {
                file: file.clone(),
                key: flag.name,
            },
        ))
    }

    /// Whether anything but the default set the flag `name`.
    pub(super) fn is_set(&self, name: &'static str) -> bool {
        find_flag(name).is_some_and(|flag| self.lookup(flag).is_some())
    }

    pub(super) fn optional<T>(
        &self,
        name: &'static str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<(T, Place)>, ConfigError> {
        let Some(flag) = find_flag(name) else {
            return Ok(None);
        };
        let Some((value, place)) = self.lookup(flag).or_else(|| {
            flag.default
                .map(|d| (d.to_string(), Place::Default(flag.name)))
        }) else {
            return Ok(None);
        };
        match parse(&value) {
            Ok(parsed) => Ok(Some((parsed, place))),
            Err(expected) => Err(ConfigError::Invalid {
                place,
                value,
                expected,
            }),
        }
    }

    /// A flag with a default: absent only if `name` is missing from the flag table.
    pub(super) fn required<T>(
        &self,
        name: &'static str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.optional(name, parse)? {
            Some((value, _)) => Ok(value),
            None => Err(ConfigError::Invalid {
                place: Place::Default(name),
                value: String::new(),
                expected: "a value (internal error: this flag has no default)".to_string(),
            }),
        }
    }

    pub(super) fn path(&self, name: &'static str) -> Result<Option<(PathBuf, Place)>, ConfigError> {
        Ok(self
            .optional(name, parse_non_empty)?
            .map(|(p, place)| (PathBuf::from(p), place)))
    }
}

pub(super) fn given_on_command_line(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}
