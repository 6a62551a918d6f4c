//! Unit tests of the boot state machine: base and kernel try, commit and rollback.

use super::*;

fn env(base: &str, try_base: &str, status: &str, kernels: &[&str]) -> Modeenv {
    Modeenv {
        mode: "run".into(),
        base: base.into(),
        try_base: try_base.into(),
        base_status: status.into(),
        current_kernels: kernels.iter().map(|k| k.to_string()).collect(),
        ..Modeenv::default()
    }
}

fn grub(status: &str, kernel: &str, try_kernel: &str) -> Grubenv {
    let mut g = Grubenv::new();
    g.set(KERNEL_STATUS, status).unwrap();
    g.set(SNAP_KERNEL, kernel).unwrap();
    g.set(SNAP_TRY_KERNEL, try_kernel).unwrap();
    g
}

#[test]
fn kernel_gate() {
    let e = env("core_1.snap", "", "", &["k_1.snap", "k_x1.snap"]);
    assert!(check_kernel(&e, "k_x1.snap").is_ok());
    let err = check_kernel(&e, "k_2.snap").unwrap_err();
    assert_eq!(err.to_string(), "kernel k_2.snap is not in current_kernels");
}

#[test]
fn base_try_trying_rollback() {
    let plain = env("core_1.snap", "", "", &[]);
    assert_eq!(
        choose_base(&plain).unwrap(),
        BaseBoot {
            base: "core_1.snap".into(),
            write: None
        }
    );
    let tried = env("core_1.snap", "core_x1.snap", "try", &[]);
    let boot = choose_base(&tried).unwrap();
    assert_eq!(boot.base, "core_x1.snap");
    let written = boot.write.unwrap();
    assert_eq!(written.base_status, "trying");
    // The try boot never committed: back to the old base, try_base kept for the cleanup.
    let boot = choose_base(&written).unwrap();
    assert_eq!(boot.base, "core_1.snap");
    let written = boot.write.unwrap();
    assert_eq!(
        (written.base_status.as_str(), written.try_base.as_str()),
        ("", "core_x1.snap")
    );
    assert_eq!(choose_base(&written).unwrap().base, "core_1.snap");
    assert_eq!(
        choose_base(&env("", "", "", &[])).unwrap_err(),
        StateError::NoBase
    );
    assert!(choose_base(&env("b", "", "try", &[])).is_err());
    assert!(choose_base(&env("b", "t", "maybe", &[])).is_err());
}

#[test]
fn settle_commits_a_good_try_kernel_grubenv_then_modeenv() {
    let e = env("core_1.snap", "", "", &["k_1.snap", "k_x1.snap"]);
    let g = grub("trying", "k_1.snap", "k_x1.snap");
    let s = settle(&e, Some(&g), "k_x1.snap", "core_1.snap");
    assert_eq!(s.events, vec![Event::CommitKernel("k_x1.snap".into())]);
    assert_eq!(s.grubenv.unwrap(), grub("", "k_x1.snap", ""));
    assert_eq!(s.modeenv.unwrap().current_kernels, vec!["k_x1.snap"]);
    assert_eq!(s.events[0].marker(), "commit kernel=k_x1.snap");
}

#[test]
fn settle_cleans_up_after_grub_rolled_the_kernel_back() {
    let e = env("core_1.snap", "", "", &["k_1.snap", "k_x1.snap"]);
    let g = grub("", "k_1.snap", "k_x1.snap");
    let s = settle(&e, Some(&g), "k_1.snap", "core_1.snap");
    assert_eq!(
        s.events[0].marker(),
        "rollback kernel=k_x1.snap running=k_1.snap"
    );
    assert_eq!(s.grubenv.unwrap(), grub("", "k_1.snap", ""));
    assert_eq!(s.modeenv.unwrap().current_kernels, vec!["k_1.snap"]);
}

#[test]
fn settle_leaves_an_ordinary_boot_alone() {
    let e = env("core_1.snap", "", "", &["k_1.snap"]);
    let g = grub("", "k_1.snap", "");
    assert_eq!(
        settle(&e, Some(&g), "k_1.snap", "core_1.snap"),
        Settle::default()
    );
    // A staged but not yet booted try is not a rollback.
    let g = grub("try", "k_1.snap", "k_x1.snap");
    assert_eq!(
        settle(&e, Some(&g), "k_1.snap", "core_1.snap"),
        Settle::default()
    );
    assert_eq!(
        settle(&e, None, "k_1.snap", "core_1.snap"),
        Settle::default()
    );
}

#[test]
fn settle_commits_and_rolls_back_bases() {
    let e = env("core_1.snap", "core_x1.snap", "trying", &["k_1.snap"]);
    let s = settle(&e, None, "k_1.snap", "core_x1.snap");
    assert_eq!(s.events, vec![Event::CommitBase("core_x1.snap".into())]);
    let m = s.modeenv.unwrap();
    assert_eq!(
        (m.base.as_str(), m.try_base.as_str(), m.base_status.as_str()),
        ("core_x1.snap", "", "")
    );
    let e = env("core_1.snap", "core_x1.snap", "", &["k_1.snap"]);
    let s = settle(&e, None, "k_1.snap", "core_1.snap");
    assert_eq!(
        s.events[0].marker(),
        "rollback base=core_x1.snap running=core_1.snap"
    );
    assert_eq!(s.modeenv.unwrap().try_base, "");
}

#[test]
fn staging() {
    let e = env("core_1.snap", "", "", &["k_1.snap"]);
    let (m, g) = stage_kernel(&e, &grub("", "k_1.snap", ""), "k_x1.snap").unwrap();
    assert_eq!(m.current_kernels, vec!["k_1.snap", "k_x1.snap"]);
    assert_eq!(g, grub("try", "k_1.snap", "k_x1.snap"));
    let m = stage_base(&e, "core_x1.snap");
    assert_eq!(choose_base(&m).unwrap().base, "core_x1.snap");
}

#[test]
fn local_file_names() {
    let have = vec![
        "pc-kernel_1.snap".to_string(),
        "pc-kernel_x2.snap".to_string(),
        "pc-kernel-extra_x9.snap".to_string(),
        "core22_x1.snap".to_string(),
    ];
    assert_eq!(next_local_file("pc-kernel", &have), "pc-kernel_x3.snap");
    assert_eq!(next_local_file("core22", &have), "core22_x2.snap");
    assert_eq!(next_local_file("core24", &have), "core24_x1.snap");
}
