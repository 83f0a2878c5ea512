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

/// A warning when the password file at `path`, of permission bits `mode`, can be read by
/// others than its owner: the password it holds logs in as that user.
pub fn password_file_mode_warning(path: &Path, mode: u32) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        format!(
            "the password file {} is readable by others than its owner (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(unix)]
fn check_password_file_mode(path: &Path, warnings: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path)
        && let Some(warning) = password_file_mode_warning(path, metadata.permissions().mode())
    {
        warnings.push(warning);
    }
}

#[cfg(not(unix))]
fn check_password_file_mode(_: &Path, _: &mut Vec<String>) {}

/// The credentials, and warnings to log once logging is set up (it is not yet while the
/// configuration is read).
pub(super) fn credentials(
    src: &Sources,
    warnings: &mut Vec<String>,
) -> Result<Credentials, ConfigError> {
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
                Some((read_password_file(&path, &place, warnings)?, place))
            } else {
                Some((Secret::new(password), password_env_place))
            }
        }
        (Some((path, place)), None) => Some((read_password_file(&path, &place, warnings)?, place)),
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

fn read_password_file(
    path: &Path,
    place: &Place,
    warnings: &mut Vec<String>,
) -> Result<Secret, ConfigError> {
    check_password_file_mode(path, warnings);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_or_world_readable_password_files_are_named() {
        let path = Path::new("/etc/iadvize/password");
        for mode in [0o100600, 0o600, 0o400, 0o700] {
            assert_eq!(password_file_mode_warning(path, mode), None, "{mode:o}");
        }
        for (mode, shown) in [
            (0o100644, "644"),
            (0o640, "640"),
            (0o604, "604"),
            (0o666, "666"),
        ] {
            let warning = password_file_mode_warning(path, mode).expect("a warning");
            assert!(warning.contains("/etc/iadvize/password"), "{warning}");
            assert!(warning.contains(&format!("mode {shown}")), "{warning}");
            assert!(warning.contains("chmod 600"), "{warning}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_real_file_is_checked() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("iadvize-pw-mode-{}", std::process::id()));
        std::fs::write(&path, "pw\n").unwrap();
        let place = Place::Flag("iadvize.password-file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut warnings = Vec::new();
        assert_eq!(
            read_password_file(&path, &place, &mut warnings)
                .unwrap()
                .expose(),
            "pw"
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut warnings = Vec::new();
        read_password_file(&path, &place, &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        std::fs::remove_file(&path).unwrap();
    }
}
