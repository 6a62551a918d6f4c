//! Validate-catalogue benchmark (not a test): builds the example device, runs `snapsmith
//! validate`'s whole default catalogue on it, and prints each scenario's wall time, its boots
//! with their timelines (firmware → GRUB → kernel → init → run marker), and the catalogue's
//! wall time against two figures of the same run (the sum of the scenario times, which is what
//! one VM at a time would take) and against the goal of 150 s.
//!
//! Run: `SNAPSMITH_KERNEL_DEB=$(scripts/kernel-deb) cargo bench --bench catalogue [-- JOBS]`.

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::Value;

/// The goal for the default catalogue under TCG on 2 cores (power-cut excluded), in seconds.
const GOAL: f64 = 150.0;
/// One cold boot to the run marker, measured quiet on this machine kind before this work began
/// (the lower end of 14.2–15.8 s).
const BASELINE_COLD_BOOT: f64 = 14.2;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it,
    // and then only its build is checked (boots are not tests).
    if !std::env::args().any(|a| a == "--bench") {
        println!("catalogue: run with `cargo bench --bench catalogue`");
        return;
    }
    let jobs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2);
    let Some(deb) = support::vm::ready() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("example");
    support::build::example(&deb, &out).assert().success();
    let report_path = dir.path().join("report.json");
    let run = support::snapsmith()
        .arg("validate")
        .arg(out.join("pc.img"))
        .args(["--jobs", &jobs.to_string(), "--report"])
        .arg(&report_path)
        .arg("--work")
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    let report = support::fixtures::read_json(&report_path);
    let accel = report["accel"].as_str().unwrap_or("?");
    println!("accelerator {accel}, {jobs} VMs side by side");
    let scenarios = report["scenarios"].as_array().unwrap();
    let (mut serial, mut boots, mut cold) = (0.0, 0, Vec::new());
    for s in scenarios {
        let total = s["total"].as_f64().unwrap_or(0.0);
        let timeline = s["timeline"].as_array().cloned().unwrap_or_default();
        serial += total;
        boots += timeline.len();
        if let Some(run) = timeline.first().and_then(|t| t["run"].as_f64()) {
            cold.push(run);
        }
        let verdict = if s["passed"] == true { "PASS" } else { "FAIL" };
        println!(
            "{verdict} {:<22} {total:6.1} s, {} boots",
            s["name"].as_str().unwrap_or("?"),
            timeline.len()
        );
        for t in &timeline {
            println!("    {}", stages(t));
        }
    }
    let wall = report["total"].as_f64().unwrap_or(0.0);
    println!(
        "catalogue: {} scenarios, {boots} boots, {wall:.1} s wall; one VM at a time would take \
         {serial:.1} s (wall is {:.2}x that); goal {GOAL} s ({:.2}x the goal)",
        scenarios.len(),
        wall / serial.max(f64::EPSILON),
        wall / GOAL
    );
    cold.sort_by(f64::total_cmp);
    if let Some(median) = cold.get(cold.len() / 2) {
        println!(
            "first boot of each scenario, QEMU start to run marker: median {median:.1} s \
             ({:.2}x the {BASELINE_COLD_BOOT} s of a quiet cold boot before)",
            median / BASELINE_COLD_BOOT
        );
    }
    if !run.status.success() {
        println!("validate failed:\n{}", String::from_utf8_lossy(&run.stderr));
    }
}

/// `firmware 0.0 → grub 3.9 → kernel 9.6 → init 13.1 → run 14.2`, with the stages a boot
/// reached.
fn stages(t: &Value) -> String {
    ["firmware", "grub", "kernel", "init", "run"]
        .iter()
        .filter_map(|stage| Some(format!("{stage} {:.1}", t[stage].as_f64()?)))
        .collect::<Vec<_>>()
        .join(" → ")
}
