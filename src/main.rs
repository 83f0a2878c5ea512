//! `iadvize-exporter`: parse the command line, set up logging, run.

use std::process::ExitCode;

use iadvize_exporter::config::{self, Command, LogConfig, LogFormat, LogLevel};
use iadvize_exporter::{app, backfill, logging, simulator};

fn main() -> ExitCode {
    let command = match config::parse(std::env::args_os(), &|name| std::env::var(name).ok()) {
        Ok(command) => command,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("iadvize-exporter: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    // `check` is run by a person: its error is a plain line. The server's goes to the log
    // (logfmt or JSON), once, where its other lines go.
    let human = matches!(command, Command::Check(_) | Command::Backfill(..));
    let result = runtime.block_on(async {
        match command {
            Command::Run(config) => {
                logging::init(&config.log);
                config.log_warnings();
                app::run(*config).await
            }
            Command::Check(config) => {
                logging::init(&config.log);
                config.log_warnings();
                // The report goes out as far as it got, also when a step failed.
                let (report, outcome) = app::check(*config).await;
                print!("{report}");
                outcome
            }
            Command::Backfill(config, args) => {
                logging::init(&config.log);
                config.log_warnings();
                // Standard output may be the history itself: the summary goes to stderr.
                // A stop drops the run, whose files are removed as it unwinds.
                let run = tokio::select! {
                    run = backfill::run(*config, *args) => run,
                    () = app::termination_signal() => Err(backfill::BackfillError::Interrupted),
                };
                run.map(|summary| eprint!("{summary}"))
                    .map_err(app::AppError::Backfill)
            }
            Command::Simulate(args) => {
                logging::init(&LogConfig {
                    level: LogLevel::Info,
                    format: LogFormat::Logfmt,
                });
                simulator::serve_forever(*args)
                    .await
                    .map_err(app::AppError::Simulator)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if human {
                eprintln!("iadvize-exporter: {error}");
            } else {
                tracing::error!(error = %error, "exiting");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
