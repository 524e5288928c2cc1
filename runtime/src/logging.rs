//! The runtime's diagnostics go through the [`log`] facade, one target per module
//! (`multiproc::boot`, `multiproc::serve`, `multiproc::watch`, ...): a program with a logger sees them
//! there, filtered like any other crate's. [`log_to_stderr`] is for programs without one. Python:
//! `multiprocessing.log_to_stderr()`.

use crate::error::{Error, ErrorKind, Result};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub use log::LevelFilter;

/// The variable that hands the level of [`log_to_stderr`] to children (which re-execute the program
/// and so start without the logger).
pub(crate) const LOG_ENV: &str = "MULTIPROC_LOG";

/// The stderr logger's level, as `LevelFilter as usize` (0: `Off`).
static LEVEL: AtomicUsize = AtomicUsize::new(0);
/// Whether the stderr logger is this process's logger.
static INSTALLED: AtomicBool = AtomicBool::new(false);

struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;

fn current() -> LevelFilter {
    match LEVEL.load(Ordering::Relaxed) {
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        5 => LevelFilter::Trace,
        _ => LevelFilter::Off,
    }
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("multiproc") && metadata.level() <= current()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // One write per record, so that lines of several processes do not interleave mid-line.
        let line = format!(
            "[{}/{}] {}: {}\n",
            record.level(),
            std::process::id(),
            record.target(),
            record.args()
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs a small logger that prints multiproc's own diagnostics (only those: targets
/// `multiproc::*`) at `level` and above to stderr, as `[LEVEL/pid] target: message`, in this process
/// and in the children it starts from now on. Python: `multiprocessing.log_to_stderr(level)`.
///
/// Programs that already have a logger (`env_logger`, `tracing`'s log bridge, ...) do not need it:
/// they see the same records under the `multiproc::` targets. Calling it again changes the level.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] if another logger is already installed in this process.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// multiproc::log_to_stderr(multiproc::LevelFilter::Warn)?;
/// # Ok::<(), multiproc::Error>(())
/// ```
pub fn log_to_stderr(level: LevelFilter) -> Result<()> {
    install(level).map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            "another logger is already installed: multiproc's records go to it under the targets \
             `multiproc::*` (configure its level there instead of calling log_to_stderr)",
        )
    })
}

fn install(level: LevelFilter) -> std::result::Result<(), log::SetLoggerError> {
    if !INSTALLED.load(Ordering::Acquire) {
        log::set_logger(&LOGGER)?;
        INSTALLED.store(true, Ordering::Release);
    }
    LEVEL.store(level as usize, Ordering::Relaxed);
    if log::max_level() < level {
        log::set_max_level(level);
    }
    Ok(())
}

/// The value of [`LOG_ENV`] a child gets: the stderr logger's level, if it is installed.
pub(crate) fn child_env() -> Option<String> {
    match current() {
        LevelFilter::Off => None,
        level => Some(level.to_string()),
    }
}

/// In a child: installs the stderr logger if the parent had it.
pub(crate) fn inherit() {
    let Some(level) = std::env::var_os(LOG_ENV) else {
        return;
    };
    if let Some(level) = level.to_str().and_then(|l| l.parse::<LevelFilter>().ok()) {
        let _ = install(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_through_the_child_variable() {
        for level in [
            LevelFilter::Error,
            LevelFilter::Warn,
            LevelFilter::Info,
            LevelFilter::Debug,
            LevelFilter::Trace,
        ] {
            LEVEL.store(level as usize, Ordering::Relaxed);
            assert_eq!(current(), level);
            assert_eq!(child_env().and_then(|l| l.parse().ok()), Some(level));
        }
        LEVEL.store(0, Ordering::Relaxed);
        assert_eq!(child_env(), None);
    }
}
