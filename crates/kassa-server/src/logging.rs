//! Which log lines are written. Operators choose with tracing directives (`KASSA_LOG`), but a
//! few libraries are clamped whatever they choose, because at their debug levels they write
//! data kassa must never log: `tokio_postgres` logs statement parameters (emails, names, keys),
//! `hyper` and `reqwest` can log header details.

use tracing_subscriber::EnvFilter;

/// The default: one line per start/stop and per problem; no per-request lines.
pub const DEFAULT_DIRECTIVES: &str = "info";

/// Libraries held at `warn`, unless the directives name them explicitly.
const CLAMPED: &[&str] = &["tokio_postgres", "hyper", "hyper_util", "reqwest", "h2"];

/// The filter for `directives` (tracing's syntax), with the clamps added.
pub fn filter(directives: Option<&str>) -> EnvFilter {
    let mut text = directives.filter(|d| !d.trim().is_empty()).unwrap_or(DEFAULT_DIRECTIVES).to_string();
    for library in CLAMPED {
        if !text.contains(library) {
            text.push_str(&format!(",{library}=warn"));
        }
    }
    EnvFilter::try_new(&text).unwrap_or_else(|_| EnvFilter::new(DEFAULT_DIRECTIVES))
}
