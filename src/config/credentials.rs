//! The iAdvize login: a username with a password (from the environment) or a password
//! file, or else a token file; and what to say when they are missing or clash.

use std::path::Path;

use crate::iadvize::Credentials;
use crate::secret::Secret;

use super::error::{ConfigError, Place};
use super::flags::PASSWORD_ENV;
use super::sources::Sources;
use super::values::parse_non_empty;

/// Rank of a place in the precedence order, to weigh `IADVIZE_PASSWORD` against
/// `--iadvize.password-file` from wherever that came.
fn rank(place: &Place) -> u8 {
    match place {
        Place::Flag(_) => 3,
        Place::Env { .. } => 2,
        Place::File { .. } => 1,
        Place::Default(_) => 0,
    }
}

pub(super) fn credentials(src: &Sources) -> Result<Credentials, ConfigError> {
    let token_file = src.path("iadvize.token-file")?;
    let username = src.optional("iadvize.username", parse_non_empty)?;
    let password_file = src.path("iadvize.password-file")?;
    let password_env = src.env_value(PASSWORD_ENV);
    let password_env_place = Place::Env {
        var: PASSWORD_ENV.to_string(),
        flag: "iadvize.password-file",
    };

    if let Some((token_file, token_place)) = token_file {
        let other = match (&username, &password_file, &password_env) {
            (Some((_, place)), _, _) | (None, Some((_, place)), _) => Some(place.clone()),
            (None, None, Some(_)) => Some(password_env_place),
            (None, None, None) => None,
        };
        return match other {
            Some(other) => Err(ConfigError::TokenAndLogin {
                token: token_place,
                other,
            }),
            None => Ok(Credentials::TokenFile(token_file)),
        };
    }

    let password = match (password_file, password_env) {
        (Some((_, place)), Some(_)) if rank(&place) == rank(&password_env_place) => {
            return Err(ConfigError::TwoPasswords { place });
        }
        (Some((path, place)), Some(password)) => {
            if rank(&place) > rank(&password_env_place) {
                Some((read_password_file(&path, &place)?, place))
            } else {
                Some((Secret::new(password), password_env_place))
            }
        }
        (Some((path, place)), None) => Some((read_password_file(&path, &place)?, place)),
        (None, Some(password)) => Some((Secret::new(password), password_env_place)),
        (None, None) => None,
    };

    match (username, password) {
        (Some((username, _)), Some((password, _))) => {
            Ok(Credentials::Password { username, password })
        }
        (Some((_, place)), None) => Err(ConfigError::MissingPassword { place }),
        (None, Some((_, place))) => Err(ConfigError::MissingUsername { place }),
        (None, None) => Err(ConfigError::MissingCredentials),
    }
}

fn read_password_file(path: &Path, place: &Place) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::PasswordFile {
        path: path.to_path_buf(),
        place: place.clone(),
        source,
    })?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(ConfigError::EmptyPasswordFile {
            path: path.to_path_buf(),
            place: place.clone(),
        });
    }
    Ok(Secret::new(password))
}
