//! grubenv blocks written by snapsmith are read by GRUB's own `grub-editenv`, and the other way
//! round.

mod support;

use snapsmith::boot::Grubenv;
use snapsmith::exec::Cmd;

#[test]
fn grub_editenv_reads_ours_and_we_read_its() {
    if !support::have_tools(&["grub-editenv"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    Cmd::new("grub-editenv")
        .arg(&theirs)
        .arg("create")
        .run()
        .unwrap();
    Cmd::new("grub-editenv")
        .arg(&theirs)
        .args([
            "set",
            "kernel_status=try",
            "snap_kernel=pc-kernel_2.snap",
            "args=a\\b",
        ])
        .run()
        .unwrap();
    let env = Grubenv::decode(&std::fs::read(&theirs).unwrap()).unwrap();
    assert_eq!(env.get("kernel_status"), Some("try"));
    assert_eq!(env.get("snap_kernel"), Some("pc-kernel_2.snap"));
    assert_eq!(env.get("args"), Some("a\\b"));

    let ours = dir.path().join("ours");
    let mut env = Grubenv::new();
    env.set("snapd_recovery_mode", "run").unwrap();
    env.set("note", "two\nlines").unwrap();
    std::fs::write(&ours, env.encode().unwrap()).unwrap();
    let listed = Cmd::new("grub-editenv")
        .arg(&ours)
        .arg("list")
        .run_string()
        .unwrap();
    assert!(listed.contains("snapd_recovery_mode=run\n"), "{listed}");
    assert!(listed.contains("note=two\nlines"), "{listed}");
}
