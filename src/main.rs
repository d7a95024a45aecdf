use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use consentry::cli::{self, Cli, Command};

fn main() -> ExitCode {
    return_big_allocations_to_the_os();
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
    let format = match consentry::telemetry::LogFormat::from_env() {
        Ok(format) => format,
        Err(e) => {
            eprintln!("consentry: {e}");
            return ExitCode::from(2);
        }
    };
    consentry::telemetry::init(
        if serving {
            "info,actix_server=warn"
        } else {
            "warn"
        },
        format,
    );
    if !serving {
        one_line_when_output_fails();
    }
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consentry: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// A command's output is printed with `println!`, which panics when standard output is
/// closed or full (`| head`, `> /dev/full`). A reader that stopped early ends the command
/// quietly, as other Unix tools do (SIGPIPE); any other failure is one line and exit 1,
/// not a backtrace.
fn one_line_when_output_fails() {
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("unexpected failure");
        eprintln!("consentry: {}", what.lines().next().unwrap_or(what));
        std::process::exit(1);
    }));
}

/// Each password check takes 19 MiB (argon2). glibc raises its mmap threshold after the
/// first such block is freed, after which these blocks come from per-thread heaps that
/// keep them: a sign-in flood then leaves hundreds of megabytes behind. A fixed threshold
/// keeps every block of 1 MiB or more in its own mapping, given back the moment it is freed.
fn return_big_allocations_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
