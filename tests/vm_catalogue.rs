//! `snapsmith validate`'s default catalogue on the example device (`snapsmith example`), under
//! QEMU through OVMF and GRUB: every built-in scenario passes, each judged from the disk too
//! (its host checks ran and passed), the JSON and JUnit reports parse, the hangs were ended the
//! way the scenarios say (the guest's watchdog for a hung try base, a harness reset for a kernel
//! that never starts an init of snapsmith's, a harness reset to leave recover mode), recover
//! mode left ubuntu-data byte for byte, and the image is left untouched.

mod support;

use serde_json::Value;

/// The names `validate --list` prints for the default set (power-cut has its own test,
/// tests/vm_powercut.rs).
fn catalogue() -> Vec<String> {
    let out = support::snapsmith()
        .args(["validate", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with("(not in the default set: run it by name)"))
        .filter_map(|l| l.split('\t').next())
        .map(str::to_string)
        .collect()
}

fn events(s: &Value) -> Vec<&str> {
    s["qmp_events"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["event"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn the_default_catalogue_passes_on_the_example_device() {
    let Some((dir, image)) = support::vm::example_image() else {
        return;
    };
    let before = support::sha256(&image);
    let run = support::vm::validate(&image, dir.path(), &[]);
    let (text, report) = (&run.stdout, &run.report);
    assert_eq!(report["boot"], "firmware", "the example boots through GRUB");
    let scenarios = report["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, catalogue(), "the whole default catalogue ran");
    assert!(names.len() >= 8, "{names:?}");
    for s in scenarios {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["passed"], true, "{name}: {:?}", s["reason"]);
        let checks = s["host_checks"].as_array().unwrap();
        assert!(!checks.is_empty(), "{name} ran no host check");
        assert!(
            checks.iter().all(|c| c["passed"] == true),
            "{name}: {checks:?}"
        );
    }
    let by_name = |n: &str| scenarios.iter().find(|s| s["name"] == n).unwrap();
    let hung_base = by_name("hang-before-commit");
    assert!(events(hung_base).contains(&"WATCHDOG"), "{hung_base}");
    assert!(hung_base["resets"].as_array().is_none_or(|r| r.is_empty()));
    let hung_kernel = by_name("kernel-hang");
    assert_eq!(hung_kernel["resets"].as_array().map(Vec::len), Some(1));
    assert!(!events(hung_kernel).contains(&"WATCHDOG"), "{hung_kernel}");
    // The reboots after a rollback and after a commit were the harness's, one each.
    for name in ["rollback-sticks", "good-base-update"] {
        assert_eq!(
            by_name(name)["resets"].as_array().map(Vec::len),
            Some(1),
            "{name}"
        );
    }
    // Recover mode: ubuntu-data was checked byte for byte with the VM paused in recover mode
    // (on request) and after it (data lost); leaving recover mode took one harness reset.
    let checked = |s: &Value| {
        s["host_checks"].as_array().unwrap().iter().any(|c| {
            c["check"]
                .as_str()
                .is_some_and(|n| n.starts_with("data-unchanged"))
        })
    };
    let on_request = by_name("recover-on-request");
    assert!(checked(on_request), "{on_request}");
    assert_eq!(on_request["resets"].as_array().map(Vec::len), Some(1));
    // Asked for by root on the device: the device rebooted itself, with no harness reset.
    let by_command = by_name("recover-by-command");
    assert!(
        by_command["resets"].as_array().is_none_or(|r| r.is_empty()),
        "{by_command}"
    );
    let data_lost = by_name("recover-when-data-lost");
    assert!(checked(data_lost), "{data_lost}");
    assert!(data_lost["resets"].as_array().is_none_or(|r| r.is_empty()));
    // The rogue disk was read back byte for byte after the device booted from its own disk.
    let rogue = by_name("rogue-disk");
    assert!(
        rogue["host_checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "rogue-unchanged" && c["passed"] == true),
        "{rogue}"
    );
    // Every scenario ends with the power button, and QEMU saw it pressed; except the refused
    // seed, where the device stays stopped at its refusal and the harness stops the VM.
    for s in scenarios {
        let powered_off = events(s).contains(&"POWERDOWN");
        assert_eq!(
            powered_off,
            s["name"] != "recover-refuses-bad-seed",
            "{}",
            s["name"]
        );
    }
    let xml = std::fs::read_to_string(&run.junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit report parses");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, names.len(), "{xml}");
    assert!(run.status.success(), "{text}");
    assert_eq!(
        support::sha256(&image),
        before,
        "validate must not modify the image"
    );
}
