//! The `power-cut` entry of the report: each cut was a boot of its own, judged like any other
//! ([`super::judge::judge`]) and described by a [`CutReport`] (phase, point, marker, delay,
//! seed, writes dropped, passed, how to re-run it alone); [`merge`] makes one scenario report
//! of them. It passes only when every cut passed and at least one cut dropped a write: a run
//! in which the disk never lost anything did not test a power cut.

use super::cutrun::CutOutcome;
use super::judge::{MarkerReport, ScenarioReport};
use super::planner::CutBoot;
use super::powercut::Phase;
use serde::Serialize;
use std::path::PathBuf;

/// One cut, as the report records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutReport {
    /// The cut's number in the run, from 1.
    pub cut: usize,
    pub phase: Phase,
    pub point: String,
    /// The console marker the delay counted from.
    pub marker: String,
    /// Seconds after the marker.
    pub delay: f64,
    pub seed: u64,
    /// Seconds from QEMU's start to the cut; `None` when the marker never came.
    pub at: Option<f64>,
    /// Writes the disk had not flushed, lost at the cut.
    pub writes_dropped: usize,
    /// Seconds the cut's two VMs ran (up to the cut, and after it), and the boots they made.
    pub seconds: f64,
    pub boots: usize,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub serial_log: PathBuf,
    /// The `snapsmith validate` arguments that re-run this cut alone.
    pub rerun: String,
}

/// The cut of one boot's report.
pub fn cut_report(cut: &CutBoot, report: &ScenarioReport, done: Option<&CutOutcome>) -> CutReport {
    CutReport {
        cut: cut.index + 1,
        phase: cut.phase,
        point: cut.point.clone(),
        marker: cut.after.clone(),
        delay: cut.delay,
        seed: cut.seed,
        at: done.and_then(|d| d.at),
        writes_dropped: done.map_or(0, |d| d.dropped),
        seconds: report.total,
        boots: report.timeline.len(),
        passed: report.passed,
        reason: report.reason.clone(),
        serial_log: report.serial_log.clone(),
        rerun: format!(
            "--scenario {} --cut {}:{}",
            report.name, cut.point, cut.delay
        ),
    }
}

/// Merges the reports of each scenario's cuts (consecutive, with the same name) into one.
pub fn merge(reports: Vec<ScenarioReport>) -> Vec<ScenarioReport> {
    let mut out: Vec<ScenarioReport> = Vec::new();
    for r in reports {
        match out.last_mut() {
            Some(last) if !r.cuts.is_empty() && !last.cuts.is_empty() && last.name == r.name => {
                absorb(last, r);
            }
            _ => out.push(r),
        }
    }
    for r in out.iter_mut().filter(|r| !r.cuts.is_empty()) {
        conclude(r);
    }
    out
}

/// Adds cut `r` to the merged report `into`.
fn absorb(into: &mut ScenarioReport, r: ScenarioReport) {
    into.host_failure |= r.host_failure;
    into.markers.extend(r.markers);
    into.failures.extend(r.failures);
    into.total += r.total;
    into.host_checks.extend(r.host_checks);
    into.timeline.extend(r.timeline);
    into.console_errors.extend(r.console_errors);
    into.qmp_events.extend(r.qmp_events);
    into.resets.extend(r.resets);
    into.cuts.extend(r.cuts);
}

/// The verdict of all cuts: the first failing cut's reason, or no write ever dropped.
fn conclude(r: &mut ScenarioReport) {
    let failed = r.cuts.iter().find(|c| !c.passed);
    r.reason = match failed {
        Some(c) => Some(format!(
            "cut {} ({}, {} s after {:?}): {}",
            c.cut,
            c.point,
            c.delay,
            c.marker,
            c.reason.as_deref().unwrap_or("failed")
        )),
        None if r.cuts.iter().all(|c| c.writes_dropped == 0) => Some(format!(
            "none of the {} cuts dropped a write: the disk never lost anything, so no power \
             cut was tested",
            r.cuts.len()
        )),
        None => None,
    };
    if let Some(c) = failed {
        r.serial_log = c.serial_log.clone();
    }
    r.passed = r.reason.is_none();
}

/// The cuts as text lines of the report.
pub fn render(out: &mut String, cuts: &[CutReport]) {
    for c in cuts {
        let verdict = if c.passed { "ok  " } else { "FAIL" };
        let no_cut = c.at.map_or(" (no cut: the marker never came)", |_| "");
        out.push_str(&format!(
            "  cut {:2} {verdict} {} {} +{} s after {:?}: {} writes dropped{no_cut}\n",
            c.cut,
            c.phase.name(),
            c.point,
            c.delay,
            c.marker,
            c.writes_dropped,
        ));
    }
}

/// A cut's markers read `cut N: <marker>` in the merged report.
pub fn label_markers(index: usize, markers: &mut [MarkerReport]) {
    for m in markers {
        m.marker = format!("cut {}: {}", index + 1, m.marker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut_boot(index: usize) -> CutBoot {
        CutBoot {
            index,
            point: "try-kernel".into(),
            phase: Phase::TryBoot,
            after: "snapsmith: update staged".into(),
            timeout: 9.0,
            delay: 1.5,
            seed: 4,
            good: Vec::new(),
        }
    }

    fn report(passed: bool, dropped: usize, index: usize) -> ScenarioReport {
        let mut r = ScenarioReport {
            passed,
            reason: (!passed).then(|| "timed out".to_string()),
            total: 10.0,
            serial_log: format!("cut-{index}.log").into(),
            ..ScenarioReport::new("power-cut")
        };
        let done = CutOutcome {
            at: Some(20.0),
            dropped,
            writes: 9,
            flushes: 2,
        };
        r.cuts = vec![cut_report(&cut_boot(index), &r, Some(&done))];
        r
    }

    #[test]
    fn cuts_merge_into_one_entry_that_passes_when_each_passed_and_one_dropped_writes() {
        let merged = merge(vec![report(true, 0, 0), report(true, 3, 1)]);
        assert_eq!(merged.len(), 1);
        let r = &merged[0];
        assert!(r.passed, "{r:?}");
        assert_eq!((r.cuts.len(), r.total), (2, 20.0));
        assert_eq!(r.cuts[1].cut, 2);
        assert_eq!(r.cuts[1].writes_dropped, 3);
        assert_eq!(r.cuts[1].rerun, "--scenario power-cut --cut try-kernel:1.5");
        let json = serde_json::to_value(&r.cuts[0]).unwrap();
        for key in [
            "phase",
            "marker",
            "delay",
            "seed",
            "writes_dropped",
            "passed",
        ] {
            assert!(json.get(key).is_some(), "{key}: {json}");
        }
        assert_eq!(json["phase"], "try-boot");
    }

    #[test]
    fn a_run_in_which_no_cut_dropped_a_write_fails() {
        let merged = merge(vec![report(true, 0, 0), report(true, 0, 1)]);
        let reason = merged[0].reason.as_deref().unwrap();
        assert!(!merged[0].passed && reason.contains("none of the 2 cuts dropped a write"));
    }

    #[test]
    fn a_failing_cut_fails_the_entry_naming_the_cut_and_its_log() {
        let merged = merge(vec![report(true, 5, 0), report(false, 1, 1)]);
        let r = &merged[0];
        assert!(!r.passed);
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .starts_with("cut 2 (try-kernel, 1.5 s after")
        );
        assert_eq!(r.serial_log, PathBuf::from("cut-1.log"));
    }
}
