//! The example device boots: `snapsmith::example::build` (the function behind `snapsmith
//! example`, with the snapsmith under test as the initramfs's init) makes the Debian kernel
//! snap, the busybox base, the app and the gadget, asserts them and builds the grade `signed`
//! example model. The kernel and initramfs are taken from the kernel snap (direct kernel boot);
//! the base is the one the image's modeenv names, found by the init on the built ubuntu-data
//! partition, and its health check reports the writable partition.

mod support;

use snapsmith::example::{self, ExampleOptions, KernelSource};
use snapsmith::qemu::{self, DirectKernel, Disk, Vm, VmSpec};
use snapsmith::runtime::{MARKER_INIT, MARKER_READY};
use snapsmith::seed::Modeenv;
use snapsmith::snap::SnapFile;
use std::path::Path;
use std::time::Duration;
use support::build::*;

const TIMEOUT: Duration = Duration::from_secs(240);
/// Printed by the example base's health check (examples/core/snapsmith/health).
const HEALTH_MARKER: &str = "example-base: health ok";

/// The base file the image's modeenv names, read back with debugfs.
fn modeenv_base(image: &Path, work: &Path) -> String {
    let manifest: serde_json::Value =
        support::fixtures::read_json(&image.with_file_name("manifest.json"));
    let data = support::fixtures::entry(&manifest["partitions"], "role", "system-data");
    let part = work.join("data.img");
    extract(
        image,
        data["offset"].as_u64().unwrap(),
        data["size"].as_u64().unwrap(),
        &part,
    );
    let text = run(
        "debugfs",
        &[
            "-R",
            "cat /system-data/var/lib/snapd/modeenv",
            part.to_str().unwrap(),
        ],
    );
    Modeenv::decode(&text).unwrap().base
}

#[test]
fn built_image_boots_into_its_base() {
    let Some(deb) = support::vm::ready() else {
        return;
    };
    if !support::have_tools(TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let out = dir.join("out");
    let opts = ExampleOptions::new(&out, KernelSource::Deb(deb), &support::vm::init());
    let made = example::build(&opts, &snapsmith::build::Reporter::new(true)).unwrap();
    let snap_core = modeenv_base(&made.image, dir);
    // Asserted at revision 1, the base is core_1.snap (an unasserted one would be core_x1).
    assert_eq!(snap_core, "core_1.snap");

    let k = SnapFile::open(&made.snaps[0]).unwrap();
    let (vmlinuz, initrd) = (dir.join("vmlinuz"), dir.join("initrd.img"));
    std::fs::write(&vmlinuz, k.read_file("vmlinuz").unwrap()).unwrap();
    std::fs::write(&initrd, k.read_file("initrd.img").unwrap()).unwrap();
    let mut spec = VmSpec::new(qemu::detect());
    spec.kernel = Some(DirectKernel {
        kernel: vmlinuz,
        initrd: Some(initrd),
        // The example base's init powers off after its health check with poweroff=idle.
        append: format!(
            "console=ttyS0 quiet panic=-1 snap_core={snap_core} snapsmith.poweroff=idle"
        ),
    });
    spec.disks.push(Disk::raw(&made.image));
    spec.no_reboot = true;
    let mut vm = Vm::start(&spec, &dir.join("serial.log")).unwrap();
    vm.wait_for(MARKER_INIT, TIMEOUT).unwrap();
    vm.wait_for(MARKER_READY, TIMEOUT).unwrap();
    let ready = vm.lines().last().unwrap().1.clone();
    assert!(ready.contains("base=core_1.snap"), "{ready}");
    vm.wait_for(HEALTH_MARKER, TIMEOUT).unwrap();
    let line = vm.lines().last().unwrap().1.clone();
    assert!(line.contains("writable=ext4"), "{line}");
    let (status, _) = vm.wait_exit(TIMEOUT).unwrap();
    assert!(status.success(), "qemu exited with {status}");
}
