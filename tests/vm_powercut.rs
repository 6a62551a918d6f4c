//! `snapsmith validate --scenario power-cut` on the example device (`snapsmith example`), under
//! QEMU through OVMF and GRUB: the power is cut 12 times, spread over staging, the try boot,
//! committing and rolling back, on a disk that loses its unflushed writes at each cut; after
//! every cut the device comes back consistent and on a good revision (host checks), some cut
//! dropped writes, each cut is recorded so that it can be re-run alone, and re-running one
//! alone gives the same cut. Kept out of the default catalogue (tests/vm_catalogue.rs) so that
//! the catalogue's wall time stays comparable with its goal; CI runs it here.

mod support;

use serde_json::Value;

#[test]
fn power_cuts_leave_the_example_device_on_a_good_revision() {
    let Some((dir, image)) = support::vm::example_image() else {
        return;
    };
    let before = support::sha256(&image);
    let run = support::vm::validate(&image, &dir.path().join("all"), &["power-cut"]);
    let scenarios = run.report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1, "one entry for all the cuts");
    let s = &scenarios[0];
    assert_eq!(s["name"], "power-cut");
    // What was run and recorded first; the verdicts last, so that a failing cut still shows
    // that the rest of the machinery works.
    let cuts = s["cuts"].as_array().unwrap();
    assert!(cuts.len() >= 12, "{cuts:?}");
    for phase in ["staging", "try-boot", "committing", "rolling-back"] {
        assert!(
            cuts.iter().filter(|c| c["phase"] == phase).count() >= 2,
            "{phase}: {cuts:?}"
        );
    }
    for c in cuts {
        assert!(c["at"].is_f64(), "the power was cut: {c}");
        for key in ["marker", "delay", "seed", "writes_dropped", "rerun"] {
            assert!(!c[key].is_null(), "{key}: {c}");
        }
        let log = std::fs::read_to_string(c["serial_log"].as_str().unwrap()).unwrap();
        assert!(log.contains("# power cut at"), "{c}");
    }
    let dropped: u64 = cuts
        .iter()
        .filter_map(|c| c["writes_dropped"].as_u64())
        .sum();
    assert!(dropped > 0, "no cut dropped a write: {cuts:?}");
    // Judged from the disk after every cut: six checks each.
    let checks = s["host_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 6 * cuts.len(), "{checks:?}");
    let xml = std::fs::read_to_string(&run.junit).unwrap();
    roxmltree::Document::parse(&xml).expect("the JUnit report parses");
    assert!(run.artifacts.join("power-cut/cut-12.log").is_file());

    // A cut that dropped writes, re-run alone from its report entry.
    let chosen = cuts
        .iter()
        .find(|c| c["writes_dropped"].as_u64() > Some(0))
        .unwrap();
    let again = rerun(&image, &dir.path().join("one"), chosen);
    let one = &again.report["scenarios"][0];
    let cut = &one["cuts"].as_array().unwrap()[..];
    assert_eq!(cut.len(), 1, "{cut:?}");
    for key in ["phase", "point", "marker", "delay", "seed"] {
        assert_eq!(cut[0][key], chosen[key], "{key}");
    }
    assert_eq!(
        support::sha256(&image),
        before,
        "validate must not modify the image"
    );
    // The device's verdict on the cut re-run alone (whether this re-run dropped a write too
    // depends on where the delay landed, so the run's own "some cut dropped a write" rule is
    // not asked of one cut).
    let one_cut = &cut[0];
    assert!(
        one_cut["passed"] == true || open_finding(one_cut).is_some(),
        "re-run alone: {one_cut}"
    );

    // Every cut passed: the device came back consistent and on a good revision each time;
    // except where a cut hit the open device finding of docs/validate.md (in staging a
    // kernel), which the scenario reports as a failure and this test names.
    let mut open = Vec::new();
    for c in cuts.iter().filter(|c| c["passed"] != true) {
        let finding = open_finding(c).unwrap_or_else(|| panic!("a cut failed: {c}"));
        eprintln!("power-cut: open finding ({finding}) hit by {}", c["rerun"]);
        open.push(finding);
    }
    if open.is_empty() {
        assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
        assert_eq!(s["passed"], true, "{:?}", s["reason"]);
        assert!(run.status.success(), "{}", run.stdout);
    } else {
        assert_eq!(s["passed"], false, "a failed cut fails the scenario");
        assert_eq!(run.status.code(), Some(1), "{}", run.stdout);
    }
}

/// Which open finding of docs/validate.md ("Finding (open)" under power-cut) a failed cut is,
/// if it is one: a cut while a kernel is staged leaves ubuntu-boot's FAT dirty bit set
/// (`fs-clean` fails on ubuntu-boot alone). Anything else is not a known finding.
fn open_finding(cut: &Value) -> Option<&'static str> {
    if cut["point"] != "stage-kernel" {
        return None;
    }
    let reason = cut["reason"].as_str().unwrap_or_default();
    (reason.contains("fs-clean")
        && reason.contains("ubuntu-boot")
        && !reason.contains("ubuntu-data"))
    .then_some("ubuntu-boot's dirty bit")
}

/// `snapsmith validate IMAGE <the cut's rerun arguments>`.
fn rerun(image: &std::path::Path, dir: &std::path::Path, cut: &Value) -> support::vm::Validation {
    let args: Vec<&str> = cut["rerun"].as_str().unwrap().split(' ').collect();
    assert_eq!(args[..2], ["--scenario", "power-cut"], "{cut}");
    support::vm::validate_with(image, dir, &args)
}
