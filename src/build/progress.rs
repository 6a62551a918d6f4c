//! Build progress on stderr: indicatif bars on a terminal, plain stage lines otherwise, so CI
//! logs stay readable. Results never go here; stdout is for them.

use super::timings::{StageTime, Timings};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Reports build stages and byte progress.
pub struct Reporter {
    bar: Mutex<Option<ProgressBar>>,
    terminal: bool,
    quiet: bool,
    timings: Timings,
}

impl Reporter {
    /// Bars when stderr is a terminal, stage lines when not; nothing when `quiet`.
    pub fn new(quiet: bool) -> Reporter {
        Reporter {
            bar: Mutex::new(None),
            terminal: std::io::stderr().is_terminal(),
            quiet,
            timings: Timings::default(),
        }
    }

    /// Begins the timed stage `stage` (`--timings`), ending the current one.
    pub fn timed(&self, stage: &str) {
        self.timings.begin(stage);
    }

    /// Records a part of the current timed stage that ran beside others.
    pub fn took(&self, part: &str, seconds: f64) {
        self.timings.part(part, seconds);
    }

    /// Ends the current timed stage; returns the timings recorded so far and forgets them.
    pub fn take_timings(&self) -> Vec<StageTime> {
        self.timings.take()
    }

    /// A new stage of the build ("resolving snaps", "writing pc.img", ...).
    pub fn stage(&self, what: &str) {
        self.replace_bar(what, || {
            let spinner = ProgressBar::new_spinner().with_message(what.to_string());
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        });
    }

    /// Starts a byte bar of `total` bytes for the current stage (terminal only).
    pub fn bytes(&self, what: &str, total: u64) {
        self.replace_bar(what, || {
            let b = ProgressBar::new(total).with_message(what.to_string());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
    }

    /// Starts a stage: a line when stderr is not a terminal, else `make`'s bar in place of the
    /// current one.
    fn replace_bar(&self, what: &str, make: impl FnOnce() -> ProgressBar) {
        if self.quiet {
            return;
        }
        if !self.terminal {
            eprintln!("snapsmith: {what}");
            return;
        }
        let mut bar = self.lock();
        if let Some(old) = bar.take() {
            old.finish_and_clear();
        }
        *bar = Some(make());
    }

    /// A sub-step, shown as the bar's message on a terminal, as a line otherwise.
    pub fn step(&self, what: &str) {
        if self.quiet {
            return;
        }
        match self.lock().as_ref() {
            Some(bar) if self.terminal => bar.set_message(what.to_string()),
            _ => eprintln!("snapsmith:   {what}"),
        }
    }

    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = self.lock().as_ref() {
            bar.inc(bytes);
        }
    }

    /// Clears the bar (call before printing results).
    pub fn finish(&self) {
        if let Some(bar) = self.lock().take() {
            bar.finish_and_clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}
