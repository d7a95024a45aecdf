//! Logs and metrics. Logs go through `tracing` to standard error, filtered by `RUST_LOG`,
//! as text (coloured only on a terminal) or as one JSON object a line
//! (`CONSENTRY_LOG_FORMAT`); metrics are in [`metrics`].

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub mod metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `CONSENTRY_LOG_FORMAT`: `text` (the default) or `json`. Read before anything else
    /// (and before the configuration), so the error is the one line to print.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("CONSENTRY_LOG_FORMAT").ok().as_deref() {
            None | Some("") | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(format!(
                "CONSENTRY_LOG_FORMAT: {other:?} is not a log format; fix: set it to text or json"
            )),
        }
    }
}

/// `default` applies when `RUST_LOG` is unset. In JSON, the fields of the request being
/// handled (its id) are on every line it logs.
pub fn init(default: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
