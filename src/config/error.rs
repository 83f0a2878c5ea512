//! Why a configuration was refused, and where the refused value came from.

use std::fmt;
use std::path::PathBuf;

/// Where a setting's value came from, so an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `--name` on the command line.
    Flag(&'static str),
    /// `IADVIZE_...` in the environment, standing for flag `name`.
    Env { var: String, flag: &'static str },
    /// A key of the `--config.file`.
    File { file: PathBuf, key: &'static str },
    /// The built-in default of flag `name`.
    Default(&'static str),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Flag(name) => write!(f, "--{name}"),
            Place::Env { var, flag } => write!(f, "{var} (--{flag})"),
            Place::File { file, key } => write!(f, "{}, key {key}", file.display()),
            Place::Default(name) => write!(f, "the default of --{name}"),
        }
    }
}

/// Why the command line, the environment or the config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A usage error, or `--help` / `--version`: Display is clap's rendered text, and
    /// [`ConfigError::print`] writes it where clap would (stdout for help).
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error("{place}: invalid value {value:?}: {expected}")]
    Invalid {
        place: Place,
        value: String,
        expected: String,
    },
    #[error("cannot read the config file {}: {source}", file.display())]
    ReadFile {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse the config file {}: {message}", file.display())]
    ParseFile { file: PathBuf, message: String },
    #[error("{}{}: key {key}: {problem}", file.display(), line_suffix(*line))]
    FileKey {
        file: PathBuf,
        key: String,
        line: Option<usize>,
        problem: String,
    },
    #[error("cannot read the password file {} (from {place}): {source}", path.display())]
    PasswordFile {
        path: PathBuf,
        place: Place,
        #[source]
        source: std::io::Error,
    },
    #[error("the password file {} (from {place}) is empty", path.display())]
    EmptyPasswordFile { path: PathBuf, place: Place },
    #[error(
        "both IADVIZE_PASSWORD and {place} are set: keep one, the password itself or the file holding it"
    )]
    TwoPasswords { place: Place },
    #[error(
        "no iAdvize credentials: set --iadvize.username and --iadvize.password-file (or IADVIZE_PASSWORD), or --iadvize.token-file, or use --demo"
    )]
    MissingCredentials,
    #[error(
        "--iadvize.username is set ({place}) but no password: set --iadvize.password-file or IADVIZE_PASSWORD"
    )]
    MissingPassword { place: Place },
    #[error(
        "a password is set ({place}) but --iadvize.username is missing: set --iadvize.username to log in with it"
    )]
    MissingUsername { place: Place },
    #[error(
        "both a token file ({token}) and a login ({other}) are set: drop {other} to use the token file, or drop {token} to log in with a username and password"
    )]
    TokenAndLogin { token: Place, other: Place },
    #[error("{place} does not apply to `simulate`, which only takes --listen")]
    NotForSimulate { place: Place },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

impl ConfigError {
    /// The process exit code: 0 when clap displayed `--help` or `--version`, 2 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Clap(e) => e.exit_code(),
            _ => 2,
        }
    }

    /// Writes the message where the user expects it: help and version on stdout (through
    /// clap, with its colours), everything else on stderr.
    pub fn print(&self) -> std::io::Result<()> {
        match self {
            ConfigError::Clap(e) => e.print(),
            other => {
                use std::io::Write;
                writeln!(std::io::stderr(), "error: {other}")
            }
        }
    }
}
