//! Power-cut benchmark (not a test): builds the example device, runs `snapsmith validate
//! --scenario power-cut` on it, and prints each cut (its point, delay, when the power went, the
//! writes dropped, its boots and time) and the run's wall time against the sum of the cut
//! times (one VM at a time) and against the goal of 12 cuts in 120 s.
//!
//! Run: `SNAPSMITH_KERNEL_DEB=$(scripts/kernel-deb) cargo bench --bench powercut [-- JOBS]`.

#[path = "../tests/support/mod.rs"]
mod support;

/// The goal for power-cut's 12 cuts under TCG on 2 cores, in seconds.
const GOAL: f64 = 120.0;

fn main() {
    // `cargo test --all-targets` runs this binary without --bench: only its build is checked.
    if !std::env::args().any(|a| a == "--bench") {
        println!("powercut: run with `cargo bench --bench powercut`");
        return;
    }
    let jobs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(2)
        .to_string();
    let Some((dir, image)) = support::vm::example_image() else {
        return;
    };
    let run = support::vm::validate_with(
        &image,
        dir.path(),
        &["--scenario", "power-cut", "--jobs", &jobs],
    );
    let s = &run.report["scenarios"][0];
    let cuts = s["cuts"].as_array().cloned().unwrap_or_default();
    let (mut serial, mut dropped, mut boots) = (0.0, 0, 0);
    for c in &cuts {
        let seconds = c["seconds"].as_f64().unwrap_or(0.0);
        serial += seconds;
        dropped += c["writes_dropped"].as_u64().unwrap_or(0);
        boots += c["boots"].as_u64().unwrap_or(0);
        println!(
            "{} cut {:>2} {:<16} +{:>5} s, cut at {:>6.1} s, {:>2} writes dropped, {} boots, {seconds:5.1} s",
            if c["passed"] == true { "PASS" } else { "FAIL" },
            c["cut"],
            c["point"].as_str().unwrap_or("?"),
            c["delay"],
            c["at"].as_f64().unwrap_or(f64::NAN),
            c["writes_dropped"],
            c["boots"],
        );
    }
    let wall = run.report["total"].as_f64().unwrap_or(0.0);
    println!(
        "power-cut: {} cuts, {boots} boots, {dropped} writes dropped, {wall:.1} s wall with {jobs} \
         VMs side by side; one VM at a time would take {serial:.1} s; goal {GOAL} s ({:.2}x the goal)",
        cuts.len(),
        wall / GOAL
    );
    if let Some(reason) = s["reason"].as_str() {
        println!("reason: {reason}");
    }
}
