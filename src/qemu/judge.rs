//! The validate judge: what each boot showed ([`Run`]) against what its scenario expects
//! ([`PlannedBoot`]) becomes a scenario report (pass or fail, with the reason), and the
//! scenario reports a run's [`Report`], as JSON or text ([`render`]).

use super::console::{BootTimeline, Finding};
use super::hostcheck::HostCheck;
pub use super::judge_cuts::{CutReport, merge};
use super::planner::{BootPath, PlannedBoot};
use super::queue::{NotRun, Run};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct MarkerReport {
    pub marker: String,
    /// Seconds since QEMU started; `None` when it never came.
    pub at: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    pub passed: bool,
    /// It failed because of the host (QEMU, firmware, tools, disk space), not the image.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host_failure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub markers: Vec<MarkerReport>,
    /// Tolerated kernel panics and error lines, in order (each rebooted the guest).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Seconds from QEMU's start to the end of the scenario.
    pub total: f64,
    pub serial_log: PathBuf,
    /// What the host read on the scenario's disk after the VM stopped.
    pub host_checks: Vec<HostCheck>,
    /// Each boot's stages (firmware, GRUB, kernel, init, run marker) in seconds since QEMU
    /// started.
    pub timeline: Vec<BootTimeline>,
    /// Error patterns seen on the console; an unexpected one fails the scenario.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub console_errors: Vec<Finding>,
    /// QEMU's own events (`WATCHDOG`, `RESET`, `POWERDOWN`, `SHUTDOWN`…), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub qmp_events: Vec<QmpEvent>,
    /// Resets the harness made because the guest hung, each described.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resets: Vec<String>,
    /// `power-cut`: one entry per cut ([`CutReport`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<CutReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QmpEvent {
    pub event: String,
    /// Seconds since QEMU started.
    pub at: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub image: PathBuf,
    pub accel: &'static str,
    pub boot: BootPath,
    pub passed: bool,
    /// A scenario failed because of the host; `snapsmith validate` then exits with
    /// [`super::host::EXIT_CODE`].
    pub host_failure: bool,
    /// Wall seconds for the whole run.
    pub total: f64,
    pub scenarios: Vec<ScenarioReport>,
}

/// The report of one boot: passed when every marker came and the VM ended as expected; a
/// boot that did not run (`Err`) fails with its reason. A cut of `power-cut` also gets its
/// [`CutReport`] (the cuts are merged into one entry by [`merge`]).
pub fn judge(boot: &PlannedBoot, run: Result<Run, NotRun>) -> ScenarioReport {
    let done = run.as_ref().ok().and_then(|r| r.cut.clone());
    let mut report = judge_boot(boot, run);
    if let Some(cut) = &boot.cut {
        super::judge_cuts::label_markers(cut.index, &mut report.markers);
        let entry = super::judge_cuts::cut_report(cut, &report, done.as_ref());
        report.cuts.push(entry);
    }
    report
}

fn judge_boot(boot: &PlannedBoot, run: Result<Run, NotRun>) -> ScenarioReport {
    let run = match run {
        Ok(run) => run,
        Err(not_run) => return failed_early(&boot.name, not_run),
    };
    let failed_check = run
        .host_checks
        .iter()
        .find(|c| !c.passed)
        .map(|c| format!("host check {} failed: {}", c.check, c.detail));
    let console_error = run.console.iter().find(|f| !f.expected).map(|f| {
        format!(
            "unexpected {} on the console at {:.1} s: {}",
            f.pattern, f.at, f.line
        )
    });
    let reason = match (&run.stopped, &run.exit) {
        (Some(why), _) => Some(why.clone()),
        (None, Some(Ok((true, _)))) => None,
        (None, Some(Ok((false, status)))) => Some(format!("qemu exited with {status}")),
        (None, Some(Err(err))) => Some(format!("the VM did not power off: {err}")),
        (None, None) => None,
    }
    .or(failed_check)
    .or(console_error);
    let markers = boot
        .expected
        .iter()
        .enumerate()
        .map(|(i, e)| MarkerReport {
            marker: e.marker.clone(),
            at: run.seen.get(i).map(Duration::as_secs_f64),
        })
        .collect();
    ScenarioReport {
        name: boot.name.clone(),
        passed: reason.is_none() && run.seen.len() == boot.expected.len(),
        host_failure: false,
        reason,
        markers,
        failures: run.failures,
        total: run.total,
        serial_log: run.serial_log,
        host_checks: run.host_checks,
        timeline: run.timeline,
        console_errors: run.console,
        qmp_events: run
            .qmp_events
            .into_iter()
            .map(|(event, at)| QmpEvent { event, at })
            .collect(),
        resets: run.resets,
        cuts: Vec::new(),
    }
}

fn failed_early(name: &str, not_run: NotRun) -> ScenarioReport {
    ScenarioReport {
        host_failure: not_run.host,
        reason: Some(not_run.reason),
        ..ScenarioReport::new(name)
    }
}

impl ScenarioReport {
    /// A report of `name` that shows nothing and has not passed.
    pub fn new(name: &str) -> ScenarioReport {
        ScenarioReport {
            name: name.to_string(),
            passed: false,
            host_failure: false,
            reason: None,
            markers: Vec::new(),
            failures: Vec::new(),
            total: 0.0,
            serial_log: PathBuf::new(),
            host_checks: Vec::new(),
            timeline: Vec::new(),
            console_errors: Vec::new(),
            qmp_events: Vec::new(),
            resets: Vec::new(),
            cuts: Vec::new(),
        }
    }
}

/// The report as text: one block per scenario with its markers and times.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "image {} ({}, {})\n",
        report.image.display(),
        match report.boot {
            BootPath::Firmware => "OVMF + GRUB",
            BootPath::DirectKernel => "direct kernel boot",
        },
        report.accel
    );
    for s in &report.scenarios {
        out.push_str(&format!(
            "{} {} ({:.1} s)\n",
            if s.passed { "PASS" } else { "FAIL" },
            s.name,
            s.total
        ));
        for m in &s.markers {
            match m.at {
                Some(at) => out.push_str(&format!("  {at:7.2} s  {}\n", m.marker)),
                None => out.push_str(&format!("        -    {}\n", m.marker)),
            }
        }
        for (i, boot) in s.timeline.iter().enumerate() {
            out.push_str(&format!("  boot {}: {}\n", i + 1, boot.render()));
        }
        for f in &s.console_errors {
            let kind = if f.expected { "expected" } else { "UNEXPECTED" };
            out.push_str(&format!(
                "  console {kind} {} at {:.1} s\n",
                f.pattern, f.at
            ));
        }
        for e in s.qmp_events.iter().filter(|e| e.event == "WATCHDOG") {
            out.push_str(&format!("  qemu WATCHDOG fired at {:.1} s\n", e.at));
        }
        for r in &s.resets {
            out.push_str(&format!("  harness reset: {r}\n"));
        }
        super::judge_cuts::render(&mut out, &s.cuts);
        for c in &s.host_checks {
            let verdict = if c.passed { "ok  " } else { "FAIL" };
            out.push_str(&format!("  host {verdict} {}: {}\n", c.check, c.detail));
        }
        if let Some(reason) = &s.reason {
            out.push_str(&format!("  reason: {reason}\n"));
        }
        if !s.serial_log.as_os_str().is_empty() {
            out.push_str(&format!("  serial log: {}\n", s.serial_log.display()));
        }
    }
    let passed = report.scenarios.iter().filter(|s| s.passed).count();
    out.push_str(&format!(
        "{passed} of {} scenarios passed in {:.1} s\n",
        report.scenarios.len(),
        report.total
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::planner::Expected;
    use crate::qemu::scenario::{Outcome, Wait};

    fn boot() -> PlannedBoot {
        PlannedBoot {
            name: "s".into(),
            update_disk: None,
            expected: ["a", "b"]
                .map(|m| Expected {
                    marker: m.into(),
                    wait: Wait::Marker(m.into()),
                    timeout: 1.0,
                    absent: Vec::new(),
                })
                .to_vec(),
            tolerate_failures: false,
            max_failures: None,
            outcome: Outcome::Poweroff,
            refused: None,
            data: Default::default(),
            seed_env: Default::default(),
            damage: Vec::new(),
            rogue_disk: false,
            open: Vec::new(),
            crashing_app: false,
            host_checks: Vec::new(),
            expect: Default::default(),
            expect_console: Vec::new(),
            cut: None,
        }
    }

    fn run(
        seen: usize,
        stopped: Option<&str>,
        exit: Option<Result<(bool, String), String>>,
    ) -> Run {
        Run {
            seen: (1..=seen as u64).map(Duration::from_secs).collect(),
            stopped: stopped.map(str::to_string),
            exit,
            total: 3.0,
            ..Run::empty("serial.log".into())
        }
    }

    #[test]
    fn every_marker_and_a_clean_poweroff_pass() {
        let r = judge(&boot(), Ok(run(2, None, Some(Ok((true, "exit 0".into()))))));
        assert!(r.passed && r.reason.is_none(), "{r:?}");
        assert_eq!(r.markers[1].at, Some(2.0));
    }

    #[test]
    fn a_missing_marker_or_a_bad_end_fails_with_the_reason() {
        let r = judge(&boot(), Ok(run(1, Some("timed out"), None)));
        assert!(!r.passed);
        assert_eq!(r.reason.as_deref(), Some("timed out"));
        assert_eq!(r.markers[1].at, None);
        let r = judge(
            &boot(),
            Ok(run(2, None, Some(Ok((false, "exit 1".into()))))),
        );
        assert_eq!(r.reason.as_deref(), Some("qemu exited with exit 1"));
        let r = judge(&boot(), Ok(run(2, None, Some(Err("gone".into())))));
        assert_eq!(r.reason.as_deref(), Some("the VM did not power off: gone"));
        let mut bad_disk = run(2, None, Some(Ok((true, "exit 0".into()))));
        bad_disk.host_checks = vec![HostCheck {
            check: "boot-state".into(),
            passed: false,
            detail: "kernel_status is \"try\"".into(),
        }];
        let r = judge(&boot(), Ok(bad_disk));
        assert!(
            !r.passed,
            "markers alone passed a scenario whose disk is wrong"
        );
        assert_eq!(
            r.reason.as_deref(),
            Some("host check boot-state failed: kernel_status is \"try\"")
        );
        let mut oops = run(2, None, Some(Ok((true, "exit 0".into()))));
        oops.console = vec![Finding {
            pattern: "kernel-oops".into(),
            at: 1.5,
            line: "Oops: 0000".into(),
            expected: false,
        }];
        let r = judge(&boot(), Ok(oops));
        assert!(!r.passed, "an unexpected oops passed");
        assert!(
            r.reason
                .unwrap()
                .starts_with("unexpected kernel-oops on the console")
        );
        let not_run = |host| NotRun {
            reason: "why".into(),
            host,
        };
        let r = judge(&boot(), Err(not_run(false)));
        assert!(!r.passed && r.markers.is_empty() && r.serial_log.as_os_str().is_empty());
        assert!(!r.host_failure);
        assert!(judge(&boot(), Err(not_run(true))).host_failure);
    }
}
