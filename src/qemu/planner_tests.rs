//! The planner's unit tests: scenarios turned into boots, disks and checks.

use super::*;
use crate::boot::Modeenv;

fn info(has_bootloader: bool) -> ImageInfo {
    ImageInfo {
        path: "pc.img".into(),
        data_offset: 0,
        modeenv: Modeenv {
            base: "core_x1.snap".into(),
            current_kernels: vec!["pc-kernel_x1.snap".into()],
            ..Modeenv::default()
        },
        installed: vec!["core_x1.snap".into(), "pc-kernel_x1.snap".into()],
        has_bootloader,
        seed: None,
        seed_grubenv: BTreeMap::new(),
        daemon_app: None,
    }
}

#[test]
fn forged_updates_need_a_signed_image_and_asserted_names_follow_the_revision() {
    let forged = [Scenario::load("forged-update").unwrap()];
    let mut dangerous = info(true);
    dangerous.modeenv.grade = "dangerous".into();
    let plan = plan(&forged, &dangerous).unwrap();
    let reason = plan.boots[0].refused.as_deref().unwrap();
    assert!(reason.contains("grade signed"), "{reason}");
    let mut signed = info(true);
    signed.modeenv.grade = "signed".into();
    signed.modeenv.current_kernels = vec!["pc-kernel_7.snap".into()];
    let plan = super::plan(&forged, &signed).unwrap();
    assert_eq!(plan.boots[0].refused, None);
    assert_eq!(plan.derive, [UpdateKind::Forged]);
    assert!(!plan.boots[0].expect.snaps.contains("pc-kernel_8.snap"));
    let vars = placeholders(&signed, 1).unwrap();
    assert_eq!(vars["new_kernel"], "pc-kernel_8.snap");
}

#[test]
fn markers_are_expanded_and_updates_derived_once() {
    let scenarios: Vec<Scenario> = ["bad-kernel-rollback", "good-kernel-update", "first-boot"]
        .iter()
        .map(|n| Scenario::load(n).unwrap())
        .collect();
    let mut twice = scenarios.clone();
    twice.extend(scenarios);
    let plan = plan(&twice, &info(true)).unwrap();
    assert_eq!(plan.boot, BootPath::Firmware);
    assert_eq!(plan.direct_append, None);
    assert_eq!(plan.derive, [UpdateKind::GoodKernel, UpdateKind::BadKernel]);
    assert_eq!(plan.boots.len(), 6);
    let first = &plan.boots[2];
    assert_eq!(
        first.expected[0].marker,
        "snapsmith: run kernel=pc-kernel_x1.snap base=core_x1.snap"
    );
    let disk = first.update_disk.as_ref().unwrap();
    assert_eq!(disk.update, UpdateKind::None);
    assert!(plan.boots.iter().all(|b| b.refused.is_none()));
    assert!(
        plan.boots[1]
            .expected
            .iter()
            .any(|e| e.marker.contains("pc-kernel_x2.snap")),
        "{:?}",
        plan.boots[1].expected
    );
}

#[test]
fn host_checks_expect_the_revisions_the_scenario_names() {
    let good = Scenario::load("good-kernel-update").unwrap();
    let bad = Scenario::load("bad-base-rollback").unwrap();
    let plan = plan(&[good, bad], &info(true)).unwrap();
    let (good, bad) = (&plan.boots[0].expect, &plan.boots[1].expect);
    assert_eq!(
        (good.kernel.as_str(), good.base.as_str()),
        ("pc-kernel_x2.snap", "core_x1.snap")
    );
    assert!(good.snaps.contains("pc-kernel_x2.snap") && good.snaps.contains("pc-kernel_x1.snap"));
    assert_eq!(
        (bad.kernel.as_str(), bad.base.as_str()),
        ("pc-kernel_x1.snap", "core_x1.snap")
    );
    assert!(bad.snaps.contains("core_x2.snap"));
    assert_eq!(
        plan.boots[1].data,
        BTreeMap::from([(
            "system-data/home/validate.txt".to_string(),
            b"before-update".to_vec()
        )])
    );
    assert_eq!(plan.boots[1].host_checks, CheckKind::ALL);
}

#[test]
fn opened_paths_and_expectations_after_are_on_ubuntu_data() {
    let s = Scenario::load("app-confinement").unwrap();
    let plan = plan(&[s], &info(true)).unwrap();
    let boot = &plan.boots[0];
    assert!(boot.open.contains(&"system-data/probe-target".to_string()));
    let after = &boot.expect.after;
    assert_eq!(after.files["system-data/var/snap/hello/1/starts"], "42\n");
    assert!(
        after
            .absent
            .contains(&"system-data/probe-target/canary-neighbour".to_string())
    );
    assert!(boot.host_checks.contains(&CheckKind::DataAfter));
}

#[test]
fn power_cut_plans_a_boot_per_cut_with_its_point_update_and_good_revisions() {
    let s = Scenario::load("power-cut").unwrap();
    let plan = plan(&[s], &info(true)).unwrap();
    assert_eq!(plan.boots.len(), 12);
    let dirs: std::collections::BTreeSet<String> =
        plan.boots.iter().map(PlannedBoot::dir_name).collect();
    assert_eq!(dirs.len(), 12, "{dirs:?}");
    let cut = |i: usize| plan.boots[i].cut.as_ref().unwrap();
    assert_eq!(
        (cut(1).point.as_str(), cut(1).phase),
        ("try-kernel", Phase::TryBoot)
    );
    assert_eq!(
        cut(1).after,
        "snapsmith: update staged kernel=pc-kernel_x2.snap"
    );
    let kernels: Vec<&str> = cut(1).good.iter().map(|g| g.kernel.as_str()).collect();
    assert_eq!(kernels, ["pc-kernel_x1.snap", "pc-kernel_x2.snap"]);
    assert_eq!(
        plan.boots[4].update_disk.as_ref().unwrap().update,
        UpdateKind::BadKernel
    );
    assert_eq!(plan.boots[0].expect, cut(0).good[0]);
    assert_eq!(
        plan.derive,
        [
            UpdateKind::GoodKernel,
            UpdateKind::BadKernel,
            UpdateKind::GoodBase,
            UpdateKind::BadBase
        ]
    );
}

#[test]
fn without_a_bootloader_grub_scenarios_are_refused() {
    let s = Scenario::load("bad-kernel-rollback").unwrap();
    let plan = plan(&[s], &info(false)).unwrap();
    assert_eq!(plan.boot, BootPath::DirectKernel);
    assert!(
        plan.direct_append
            .unwrap()
            .ends_with("snapsmith.kernel=pc-kernel_x1.snap")
    );
    assert!(
        plan.boots[0]
            .refused
            .as_ref()
            .unwrap()
            .starts_with("needs GRUB")
    );
}

#[test]
fn a_running_boot_with_nothing_to_do_has_no_update_disk() {
    let s = crate::qemu::boot::first_boot("snapsmith: run ", std::time::Duration::from_secs(9));
    let plan = plan(&[s], &info(true)).unwrap();
    assert_eq!(plan.boots[0].update_disk, None);
    assert!(plan.derive.is_empty());
    assert_eq!(plan.boots[0].expected[0].timeout, 9.0);
}

#[test]
fn app_updates_are_named_after_the_image_s_daemon_app() {
    let mut signed = info(true);
    signed.modeenv.grade = "signed".into();
    signed.installed.push("hello_1.snap".into());
    signed.daemon_app = Some("hello_1.snap".into());
    let vars = placeholders(&signed, 1).unwrap();
    let get = |k: &str| vars[k].as_str();
    assert_eq!(
        [get("app"), get("app_name"), get("app_rev"), get("new_app")],
        ["hello_1.snap", "hello", "1", "hello_2.snap"]
    );
    assert_eq!([get("sick_app_rev"), get("crash_app_rev")], ["3", "4"]);
    let mut dangerous = signed.clone();
    dangerous.modeenv.grade = "dangerous".into();
    let vars = placeholders(&dangerous, 1).unwrap();
    // Unasserted updates are numbered by the device one after the other.
    assert_eq!(
        [
            &vars["new_app_rev"],
            &vars["sick_app_rev"],
            &vars["crash_app_rev"]
        ],
        ["x1", "x1", "x2"]
    );
    let none = placeholders(&info(true), 1).unwrap();
    assert!(!none.contains_key("new_app"));
}
