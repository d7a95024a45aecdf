use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use consentry::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message is several lines; the contract is one line and exit code 2.
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("consentry: {first} (see consentry --help)");
            return ExitCode::from(2);
        }
    };
    let serving = matches!(cli.command, None | Some(Command::Serve));
    consentry::telemetry::init(if serving {
        "info,actix_server=warn"
    } else {
        "warn"
    });
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consentry: {e}");
            ExitCode::from(2)
        }
    }
}
