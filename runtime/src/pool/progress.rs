//! The terminal progress bar of long maps (indicatif), drawn on stderr only when it is a terminal.
//! Only with the `progress` feature; without it the bar is never drawn (and
//! [`PoolBuilder::progress`](super::PoolBuilder) does not exist, so it cannot be asked for).

#[cfg(feature = "progress")]
use std::io::IsTerminal;

/// A progress bar, or nothing when progress is off or stderr is not a terminal.
#[cfg(feature = "progress")]
pub(crate) struct Progress(Option<indicatif::ProgressBar>);

/// Without the `progress` feature: nothing to draw.
#[cfg(not(feature = "progress"))]
pub(crate) struct Progress;

#[cfg(not(feature = "progress"))]
impl Progress {
    pub(crate) fn new(_enabled: bool, _total: Option<usize>) -> Progress {
        Progress
    }

    pub(crate) fn inc(&self, _n: usize) {}

    pub(crate) fn finish(&self) {}
}

#[cfg(feature = "progress")]
impl Progress {
    /// A bar over `total` items (a spinner with a count when the total is unknown), if `enabled` and
    /// stderr is a terminal.
    pub(crate) fn new(enabled: bool, total: Option<usize>) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n as u64),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let style = match total {
            Some(_) => indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} tasks [{elapsed_precise} < {eta_precise}] {per_sec}",
            ),
            None => indicatif::ProgressStyle::with_template(
                "{spinner} {pos} tasks [{elapsed_precise}] {per_sec}",
            ),
        };
        if let Ok(style) = style {
            bar.set_style(style);
        }
        Progress(Some(bar))
    }

    /// `n` more items done.
    pub(crate) fn inc(&self, n: usize) {
        if let Some(bar) = &self.0 {
            bar.inc(n as u64);
        }
    }

    /// All done: leave the bar at its final state.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish();
        }
    }
}
