//! The iAdvize login: password, password file, token file.

use super::*;

fn password_of(config: &Config) -> (String, String) {
    match &config.client.credentials {
        Credentials::Password { username, password } => {
            (username.clone(), password.expose().to_string())
        }
        other => panic!("expected a password login, got {other:?}"),
    }
}

#[test]
fn password_from_file_drops_trailing_newline_only() {
    let file = TempFile::new(" s3 cret \r\n");
    let c = run_config(
        &[
            "--iadvize.username",
            "u@x.example",
            "--iadvize.password-file",
            file.path(),
        ],
        &[],
    );
    assert_eq!(
        password_of(&c),
        ("u@x.example".to_string(), " s3 cret ".to_string())
    );
}

#[test]
fn password_from_environment() {
    let c = run_config(
        &[],
        &[
            ("IADVIZE_IADVIZE_USERNAME", "u@x.example"),
            ("IADVIZE_PASSWORD", "from-env"),
        ],
    );
    assert_eq!(
        password_of(&c),
        ("u@x.example".to_string(), "from-env".to_string())
    );
}

#[test]
fn password_file_flag_beats_password_env_which_beats_file_setting() {
    let pw = TempFile::new("from-file\n");
    let yaml = TempFile::new(&format!(
        "iadvize:\n  username: u@x.example\n  password-file: {}\n",
        pw.path()
    ));
    let env = [("IADVIZE_PASSWORD", "from-env")];
    let c = run_config(&["--config.file", yaml.path()], &env);
    assert_eq!(password_of(&c).1, "from-env");
    let c = run_config(&["--config.file", yaml.path()], &[]);
    assert_eq!(password_of(&c).1, "from-file");
    let c = run_config(
        &[
            "--config.file",
            yaml.path(),
            "--iadvize.password-file",
            pw.path(),
        ],
        &env,
    );
    assert_eq!(password_of(&c).1, "from-file");
    let err = error(
        &["--iadvize.username", "u"],
        &[
            ("IADVIZE_PASSWORD", "from-env"),
            ("IADVIZE_IADVIZE_PASSWORD_FILE", pw.path()),
        ],
    );
    assert!(matches!(err, ConfigError::TwoPasswords { .. }), "{err:?}");
}

#[test]
fn missing_or_unusable_credentials() {
    let err = error(&[], &[]);
    assert!(matches!(err, ConfigError::MissingCredentials), "{err:?}");
    assert!(err.to_string().contains("--iadvize.username"));
    assert!(err.to_string().contains("--iadvize.password-file"));
    assert_eq!(err.exit_code(), 2);

    let err = error(&["--iadvize.username", "u"], &[]);
    assert!(
        matches!(err, ConfigError::MissingPassword { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--iadvize.password-file"));

    let err = error(&[], &[("IADVIZE_PASSWORD", "pw")]);
    assert!(
        matches!(err, ConfigError::MissingUsername { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--iadvize.username"));

    let err = error(
        &[
            "--iadvize.username",
            "u",
            "--iadvize.password-file",
            "/nonexistent/pw",
        ],
        &[],
    );
    assert!(matches!(err, ConfigError::PasswordFile { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/pw"));

    let empty = TempFile::new("\n");
    let err = error(
        &[
            "--iadvize.username",
            "u",
            "--iadvize.password-file",
            empty.path(),
        ],
        &[],
    );
    assert!(
        matches!(err, ConfigError::EmptyPasswordFile { .. }),
        "{err:?}"
    );
}

#[test]
fn token_file_and_login_together_are_refused() {
    let err = error(&with_token(&["--iadvize.username", "u"]), &[]);
    match &err {
        ConfigError::TokenAndLogin { other, .. } => {
            assert_eq!(other, &Place::Flag("iadvize.username"))
        }
        other => panic!("expected TokenAndLogin, got {other:?}"),
    }
    assert!(err.to_string().contains("drop --iadvize.username"), "{err}");
    let err = error(TOKEN, &[("IADVIZE_PASSWORD", "pw")]);
    assert!(err.to_string().contains("drop IADVIZE_PASSWORD"), "{err}");
}

#[test]
fn debug_never_shows_the_password() {
    let file = TempFile::new("hunter2-file\n");
    let c = run_config(
        &[
            "--iadvize.username",
            "u",
            "--iadvize.password-file",
            file.path(),
        ],
        &[],
    );
    assert_eq!(password_of(&c).1, "hunter2-file");
    assert!(!format!("{c:?}").contains("hunter2"));
    let command = parse_with(
        &["check", "--iadvize.username", "u"],
        &[("IADVIZE_PASSWORD", "hunter2-env")],
    )
    .unwrap();
    assert!(!format!("{command:?}").contains("hunter2"));
    assert!(!format!("{command:#?}").contains("hunter2"));
}
