//! The QEMU runner's failure paths with a real QEMU: an exit before the marker, a timeout, and
//! the VM killed on drop. Each failure names the serial log.

mod support;

use snapsmith::qemu::{Accel, DirectKernel, Vm, VmError, VmSpec};
use std::time::Duration;

#[test]
fn qemu_exit_before_marker_is_reported_with_the_log() {
    if !support::have_tools(&["qemu-system-x86_64"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut spec = VmSpec::new(Accel::Tcg);
    spec.kernel = Some(DirectKernel {
        kernel: dir.path().join("missing-vmlinuz"),
        initrd: None,
        append: String::new(),
    });
    let log = dir.path().join("serial.log");
    let mut vm = Vm::start(&spec, &log).unwrap();
    let err = vm.wait_for("never", Duration::from_secs(60)).unwrap_err();
    assert!(matches!(err, VmError::Exited { .. }), "{err}");
    assert!(
        err.to_string().contains(&log.display().to_string()),
        "{err}"
    );
    // QEMU's own complaint lands in the log.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("qemu stderr:") && text.contains("missing-vmlinuz"),
        "{text}"
    );
}

#[test]
fn timeout_names_the_log_and_drop_kills_the_vm() {
    if !support::have_tools(&["qemu-system-x86_64"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut spec = VmSpec::new(Accel::Tcg);
    // Stopped at start: no serial output ever.
    spec.extra.push("-S".into());
    let log = dir.path().join("serial.log");
    let mut vm = Vm::start(&spec, &log).unwrap();
    let err = vm
        .wait_for("never", Duration::from_millis(500))
        .unwrap_err();
    assert!(matches!(err, VmError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains(&log.display().to_string()),
        "{err}"
    );
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", vm.id()));
    assert!(proc_dir.exists());
    drop(vm);
    assert!(!proc_dir.exists(), "qemu still running after drop");
}

#[test]
fn kernel_panic_ends_the_wait_early() {
    let Some(deb) = support::kernel_deb() else {
        return;
    };
    if !support::have_tools(&["qemu-system-x86_64", "dpkg-deb"]) {
        return;
    }
    let tree = snapsmith::kernel::KernelTree::from_deb(&deb).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = VmSpec::new(snapsmith::qemu::detect());
    // No initramfs and no root device: the kernel panics right after its start.
    spec.kernel = Some(DirectKernel {
        kernel: tree.vmlinuz.clone(),
        initrd: None,
        append: "console=ttyS0 quiet panic=-1".into(),
    });
    spec.no_reboot = true;
    let log = dir.path().join("serial.log");
    let mut vm = Vm::start(&spec, &log).unwrap();
    let err = vm
        .wait_for("snapsmith: ready", Duration::from_secs(180))
        .unwrap_err();
    match &err {
        VmError::Panic { line, .. } => assert!(line.contains("Kernel panic"), "{line}"),
        other => panic!("expected a panic, got: {other}"),
    }
    assert!(
        err.to_string().contains(&log.display().to_string()),
        "{err}"
    );
}
