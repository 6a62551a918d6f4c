//! VM boots of the Debian kernel with snapsmith's initramfs (direct kernel boot): the init
//! finds the data partition by GPT name, loop-mounts the test base and switches into it; a disk
//! without that partition gives the error marker and a reboot instead of a hang.

mod support;

use snapsmith::qemu::{self, Vm};
use snapsmith::runtime::{MARKER_ERROR, MARKER_INIT, MARKER_READY};
use std::time::Duration;
use support::vm::BASE_MARKER;

/// Generous: a TCG boot takes about 6 s alone, longer beside other work on 2 cores.
const TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn init_switches_root_into_the_base() {
    let Some(deb) = support::vm::ready() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (vmlinuz, initrd) = support::vm::kernel_and_initrd(&deb, dir.path());
    let base = support::vm::test_base(dir.path());
    // Mixed case: the partition name match ignores case.
    let disk = support::vm::disk(dir.path(), "Ubuntu-Data", &base);
    let spec = support::vm::spec(qemu::detect(), &vmlinuz, &initrd, &disk, "");
    let mut vm = Vm::start(&spec, &dir.path().join("serial.log")).unwrap();
    vm.wait_for(MARKER_INIT, TIMEOUT).unwrap();
    vm.wait_for(MARKER_READY, TIMEOUT).unwrap();
    let ready = vm.lines().last().unwrap().1.clone();
    assert!(
        ready.contains("base=base_1.snap loop=/dev/loop0"),
        "{ready}"
    );
    // The initramfs (init, libraries, modules) was freed before the switch.
    assert!(!ready.contains("freed=0 "), "{ready}");
    vm.wait_for(BASE_MARKER, TIMEOUT).unwrap();
    let line = &vm.lines().last().unwrap().1;
    // The base runs as PID 1 with the loop-mounted squashfs as its root.
    assert!(
        line.contains("pid=1 root=/dev/loop0 squashfs writable=ext4"),
        "{line}"
    );
    let (status, _) = vm.wait_exit(TIMEOUT).unwrap();
    assert!(status.success(), "qemu exited with {status}");
}

#[test]
fn missing_partition_gives_error_marker_and_reboot() {
    let Some(deb) = support::vm::ready() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (vmlinuz, initrd) = support::vm::kernel_and_initrd(&deb, dir.path());
    let base = support::vm::test_base(dir.path());
    let disk = support::vm::disk(dir.path(), "something-else", &base);
    let spec = support::vm::spec(
        qemu::detect(),
        &vmlinuz,
        &initrd,
        &disk,
        "snapsmith.timeout=2",
    );
    let mut vm = Vm::start(&spec, &dir.path().join("serial.log")).unwrap();
    vm.wait_for(MARKER_INIT, TIMEOUT).unwrap();
    vm.wait_for(MARKER_ERROR, TIMEOUT).unwrap();
    let line = vm.lines().last().unwrap().1.clone();
    assert!(line.contains("no partition named ubuntu-data"), "{line}");
    assert!(
        line.contains("(disks: vda)"),
        "the error lists the disks seen: {line}"
    );
    // The init reboots; with -no-reboot QEMU exits instead of hanging.
    vm.wait_exit(TIMEOUT).unwrap();
    let errors = vm
        .lines()
        .iter()
        .filter(|(_, l)| l.contains(MARKER_ERROR))
        .count();
    assert_eq!(errors, 1, "exactly one error marker");
    assert!(!vm.lines().iter().any(|(_, l)| l.contains(MARKER_READY)));
}
