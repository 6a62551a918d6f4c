//! `snapsmith validate` on a preinstalled image from `snapsmith build` (Debian kernel snap,
//! busybox base): the first-boot and the kernel and base try scenarios boot on copies and the
//! image is left untouched.
//! When the build puts GRUB on the ESP, every scenario must pass through OVMF and GRUB; an image
//! without a bootloader boots its current kernel directly, the base scenarios pass and the
//! kernel scenarios fail saying they need GRUB. The model is dangerous, so forged-update fails
//! saying it needs a signed image.

mod support;

use std::path::Path;
use support::build::*;

/// The scenarios run on the test's own image (tests/vm_catalogue.rs runs the whole default
/// catalogue on the example device).
const SCENARIOS: [&str; 5] = [
    "first-boot",
    "good-kernel-update",
    "bad-kernel-rollback",
    "bad-base-rollback",
    "forged-update",
];

#[test]
fn validate_runs_base_scenarios_on_a_built_image() {
    let Some(deb) = support::vm::ready() else {
        return;
    };
    if !support::have_tools(&["debugfs", "qemu-img", "sha256sum"]) {
        return;
    }
    let kit = Kit::new();
    let dir = kit.dir.path();
    let kernel = support::vm::kernel_snap(&deb, dir);
    // A busybox base named `core` (the example model's base) with a passing health check.
    let base = support::vm::healthy_core(dir);
    let out = dir.join("out");
    build(&[&kit.gadget, &kernel, &base, &kit.hello], &out)
        .assert()
        .success();
    let image = out.join("pc.img");
    let before = support::sha256(&image);
    let output = support::vm::validate(&image, dir, &SCENARIOS);
    let (text, stderr, report) = (&output.stdout, &output.stderr, &output.report);
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), SCENARIOS.len(), "the scenarios asked for");
    let by_name = |name: &str| {
        scenarios
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in the report"))
    };
    let xml = std::fs::read_to_string(&output.junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit report parses");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, 5, "{xml}");
    // --artifacts keeps the reports and, per scenario that booted, its console and QEMU command.
    let kept = support::fixtures::read_json(&output.artifacts.join("report.json"));
    assert_eq!(kept["scenarios"], report["scenarios"]);
    assert!(output.artifacts.join("report.xml").is_file());
    let serial = std::fs::read_to_string(output.artifacts.join("first-boot/serial.log")).unwrap();
    assert!(serial.contains("snapsmith: run kernel="), "{serial}");
    let qemu = std::fs::read_to_string(output.artifacts.join("first-boot/qemu.txt")).unwrap();
    assert!(qemu.contains("qemu-system-x86_64"), "{qemu}");
    for name in ["first-boot", "bad-base-rollback"] {
        let s = by_name(name);
        assert_eq!(s["passed"], true, "{name}: {text}");
        // Judged from the disk too: every host check ran and passed.
        let checks = s["host_checks"].as_array().unwrap();
        assert_eq!(checks.len(), 6, "{name}: {checks:?}");
        assert!(
            checks.iter().all(|c| c["passed"] == true),
            "{name}: {checks:?}"
        );
        assert!(Path::new(s["serial_log"].as_str().unwrap()).is_file());
        // Every marker came, in order.
        let times: Vec<f64> = s["markers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["at"].as_f64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    }
    assert!(
        text.contains("snapsmith: rollback base=core_x2.snap running=core_x1.snap"),
        "{text}"
    );
    // The model is dangerous: it would accept unasserted updates, so forged-update cannot pass
    // and fails saying why, without a VM.
    let forged = by_name("forged-update")["reason"].as_str().unwrap();
    assert!(
        forged.contains("needs an image of grade signed"),
        "{forged}"
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report["passed"], false);
    let kernel_scenarios = ["good-kernel-update", "bad-kernel-rollback"];
    if report["boot"] == "firmware" {
        // The image has GRUB on its ESP: the kernel try/commit/rollback runs for real.
        for name in kernel_scenarios {
            assert_eq!(by_name(name)["passed"], true, "{name}: {text}");
        }
        assert!(stderr.contains("1 of 5 scenarios failed"), "{stderr}");
    } else {
        // Booted without a bootloader, kernel scenarios fail naming why, and the exit is 1.
        assert_eq!(report["boot"], "direct-kernel");
        for name in kernel_scenarios {
            let reason = by_name(name)["reason"].as_str().unwrap();
            assert!(reason.contains("needs GRUB"), "{reason}");
        }
        assert!(stderr.contains("3 of 5 scenarios failed"), "{stderr}");
    }
    assert_eq!(
        support::sha256(&image),
        before,
        "validate must not modify the image"
    );
}

#[test]
fn validate_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.img");
    let out = support::snapsmith()
        .arg("validate")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.img: no such image file"));
    let image = dir.path().join("x.img");
    std::fs::write(&image, vec![0u8; 4096]).unwrap();
    let out = support::snapsmith()
        .arg("validate")
        .arg(&image)
        .args(["--scenario", "sideways"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no scenario named sideways"), "{err}");

    // A host without QEMU is a host failure (exit 3), found before anything is read or booted.
    let empty = dir.path().join("no-tools");
    std::fs::create_dir(&empty).unwrap();
    let out = support::snapsmith()
        .env("PATH", &empty)
        .arg("validate")
        .arg(&image)
        .args(["--work", dir.path().join("work").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("host failure: not installed: qemu-system-x86_64"),
        "{err}"
    );
}

#[test]
fn validate_lists_its_scenarios() {
    let out = support::snapsmith()
        .args(["validate", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(
        names,
        [
            "first-boot",
            "good-kernel-update",
            "bad-kernel-rollback",
            "rollback-sticks",
            "bad-base-rollback",
            "good-base-update",
            "kernel-unloadable",
            "kernel-hang",
            "hang-before-commit",
            "forged-update",
            "app-daemons",
            "app-confinement",
            "app-update-good",
            "app-update-revert",
            "recover-on-request",
            "recover-by-command",
            "recover-unknown-system",
            "recover-when-data-lost",
            "recover-when-boot-lost",
            "recover-refuses-bad-seed",
            "rogue-disk",
            "grubenv-corrupt",
            "power-cut",
        ]
    );
    // power-cut is listed but runs only by name (tests/vm_powercut.rs).
    let outside: Vec<&str> = text
        .lines()
        .filter(|l| l.ends_with("(not in the default set: run it by name)"))
        .collect();
    assert_eq!(outside.len(), 1, "{text}");
    assert!(outside[0].starts_with("power-cut\t"), "{text}");
    assert!(
        text.lines()
            .all(|l| l.split('\t').nth(1).is_some_and(|d| !d.is_empty()))
    );
    let out = support::snapsmith().arg("validate").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "no image and no --list is a usage error"
    );
}
