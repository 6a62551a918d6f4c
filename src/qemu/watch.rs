//! Follows one VM through a scenario's steps: waits for each console marker or QMP event, or
//! for the guest to hang (no `snapsmith:` line for a while), which the harness then ends with a
//! QMP `system_reset`, standing in for the watchdog a real board's firmware arms before the
//! kernel runs. It streams the console as it goes and counts the tolerated failures.

use super::planner::{Expected, PlannedBoot};
use super::runner::{Vm, VmError};
use super::scenario::Wait;
use crate::runtime::MARKER;
use std::time::{Duration, Instant};

/// A VM's console being followed.
pub struct Watch<'a> {
    on_line: &'a dyn Fn(&str),
    shown: usize,
    /// Tolerated kernel panics and error lines, in order.
    pub failures: Vec<String>,
    /// The resets the harness made, each described.
    pub resets: Vec<String>,
}

impl<'a> Watch<'a> {
    pub fn new(on_line: &'a dyn Fn(&str)) -> Self {
        Watch {
            on_line,
            shown: 0,
            failures: Vec::new(),
            resets: Vec::new(),
        }
    }

    /// Hands the lines not yet shown to `on_line`.
    pub fn stream(&mut self, vm: &Vm) {
        for (_, line) in &vm.lines()[self.shown..] {
            (self.on_line)(line);
        }
        self.shown = vm.lines().len();
    }

    /// Waits for one step; returns when it happened (seconds since QEMU started).
    pub fn wait(
        &mut self,
        vm: &mut Vm,
        expected: &Expected,
        boot: &PlannedBoot,
    ) -> Result<Duration, String> {
        let timeout = Duration::from_secs_f64(expected.timeout);
        let start = vm.lines().len();
        let at = match &expected.wait {
            Wait::Marker(marker) => self.poll(vm, boot, marker, timeout, |vm, step| {
                vm.wait_for(marker, step)
            }),
            Wait::Event(name) => self.poll(vm, boot, &format!("QMP event {name}"), timeout, {
                |vm, step| vm.wait_event(name, step)
            }),
            Wait::HangThenReset(secs) => self.hang_then_reset(vm, *secs),
            Wait::Reset => self.reset(vm),
            // The queue runs host checks itself: it holds the disk.
            Wait::HostCheck(kind) => Err(format!("host check {} outside the queue", kind.name())),
        }?;
        match first_absent(&vm.lines()[start..], &expected.absent) {
            Some((text, line)) => Err(format!(
                "{text:?} appeared before {:?}: {line:?}",
                expected.marker
            )),
            None => Ok(at),
        }
    }

    /// The harness reboots the device now, as an operator would.
    fn reset(&mut self, vm: &mut Vm) -> Result<Duration, String> {
        let at = vm.elapsed();
        vm.qmp("system_reset")
            .map_err(|e| format!("rebooting the guest: {e:#}"))?;
        self.resets.push(format!(
            "the harness rebooted the device through QMP at {:.1} s",
            at.as_secs_f64()
        ));
        Ok(at)
    }

    /// The guest must stay silent (no `snapsmith:` line) for `secs`; then the harness resets it.
    fn hang_then_reset(&mut self, vm: &mut Vm, secs: f64) -> Result<Duration, String> {
        let quiet = Duration::from_secs_f64(secs);
        let outcome = vm.wait_for(MARKER, quiet);
        self.stream(vm);
        match outcome {
            Err(VmError::Timeout { .. }) => {}
            Ok(at) => {
                let line = vm.lines().last().map_or("", |(_, l)| l.as_str());
                return Err(format!(
                    "the guest was expected to hang but printed {line:?} at {:.1} s",
                    at.as_secs_f64()
                ));
            }
            Err(other) => return Err(format!("the guest was expected to hang: {other}")),
        }
        let at = vm.elapsed();
        vm.qmp("system_reset")
            .map_err(|e| format!("resetting the hung guest: {e:#}"))?;
        self.resets.push(format!(
            "no {MARKER} line for {secs} s: the harness reset the machine through QMP at {:.1} s \
             (standing in for a firmware-armed watchdog)",
            at.as_secs_f64()
        ));
        Ok(at)
    }

    /// Calls `attempt` in short steps until it succeeds or `timeout` passes; with the boot's
    /// `tolerate_failures`, panics and error lines on the way do not end it (up to its
    /// `max_failures`).
    fn poll(
        &mut self,
        vm: &mut Vm,
        boot: &PlannedBoot,
        what: &str,
        timeout: Duration,
        mut attempt: impl FnMut(&mut Vm, Duration) -> Result<Duration, VmError>,
    ) -> Result<Duration, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let step = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(250));
            let outcome = attempt(vm, step);
            self.stream(vm);
            match outcome {
                Ok(at) => return Ok(at),
                Err(VmError::Panic { line, .. } | VmError::GuestError { line, .. })
                    if boot.tolerate_failures =>
                {
                    self.failures.push(line);
                    if boot
                        .max_failures
                        .is_some_and(|max| self.failures.len() >= max)
                    {
                        return Err(format!(
                            "the guest failed {} times without reaching {what:?} (last: {}; \
                             serial log: {})",
                            self.failures.len(),
                            self.failures.last().map_or("", String::as_str),
                            vm.log_path().display()
                        ));
                    }
                }
                Err(VmError::Timeout { .. }) if Instant::now() < deadline => {}
                Err(VmError::Timeout { .. }) => {
                    return Err(format!(
                        "timed out after {:.1} s waiting for {what:?} (serial log: {})",
                        timeout.as_secs_f64(),
                        vm.log_path().display()
                    ));
                }
                Err(other) => return Err(other.to_string()),
            }
        }
    }
}

/// The first of `texts` found in `lines`, with the line it was found in.
fn first_absent<'l>(
    lines: &'l [(Duration, String)],
    texts: &[String],
) -> Option<(String, &'l str)> {
    lines.iter().find_map(|(_, line)| {
        texts
            .iter()
            .find(|t| line.contains(t.as_str()))
            .map(|t| (t.clone(), line.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_texts_are_found_with_their_line() {
        let lines: Vec<(Duration, String)> = ["snapsmith: run kernel=a", "Kernel panic - x"]
            .iter()
            .map(|l| (Duration::ZERO, l.to_string()))
            .collect();
        let texts = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            first_absent(&lines, &texts(&["snapsmith: update staged"])),
            None
        );
        assert_eq!(
            first_absent(&lines, &texts(&["nothing", "Kernel panic"])),
            Some(("Kernel panic".to_string(), "Kernel panic - x"))
        );
    }
}
