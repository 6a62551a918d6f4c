//! A preinstalled image from `snapsmith build` boots: the Debian kernel snap made by
//! `snapsmith kernel-snap`, a busybox base packed with `snap pack`, the example gadget and model.
//! The kernel and initramfs are taken from the kernel snap (direct kernel boot); the base is the
//! one the image's modeenv names, found by the init on the built ubuntu-data partition.

mod build_common;
mod common;
mod vm_support;

use build_common::*;
use snapsmith::qemu::{self, DirectKernel, Disk, Vm, VmSpec};
use snapsmith::runtime::{MARKER_INIT, MARKER_READY};
use snapsmith::seed::Modeenv;
use snapsmith::snap::SnapFile;
use std::path::Path;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(240);

/// The base file the image's modeenv names, read back with debugfs.
fn modeenv_base(image: &Path, work: &Path) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.with_file_name("manifest.json")).unwrap())
            .unwrap();
    let data = manifest["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "system-data")
        .unwrap();
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
    let test = "built_image_boots_into_its_base";
    let Some(deb) = vm_support::ready(test) else {
        return;
    };
    if !common::have_tools(test, TOOLS) {
        return;
    }
    let kit = Kit::new();
    let dir = kit.dir.path();
    let kernel = vm_support::kernel_snap(&deb, dir);
    // The test base as a snap named `core` (the example model's base).
    let base = vm_support::base_snap(
        dir,
        &vm_support::BaseSnap {
            name: "core",
            version: "1",
            health: None,
            init_marker: true,
        },
    );
    let out = dir.join("out");
    build(&[&kit.gadget, &kernel, &base, &kit.hello], &out)
        .assert()
        .success();
    let image = out.join("pc.img");
    let snap_core = modeenv_base(&image, dir);
    assert_eq!(snap_core, "core_x1.snap");

    let k = SnapFile::open(&kernel).unwrap();
    let (vmlinuz, initrd) = (dir.join("vmlinuz"), dir.join("initrd.img"));
    std::fs::write(&vmlinuz, k.read_file("vmlinuz").unwrap()).unwrap();
    std::fs::write(&initrd, k.read_file("initrd.img").unwrap()).unwrap();
    let mut spec = VmSpec::new(qemu::detect());
    spec.kernel = Some(DirectKernel {
        kernel: vmlinuz,
        initrd: Some(initrd),
        append: format!("console=ttyS0 quiet panic=-1 snap_core={snap_core}"),
    });
    spec.disks.push(Disk::raw(&image));
    spec.no_reboot = true;
    let mut vm = Vm::start(&spec, &dir.join("serial.log")).unwrap();
    vm.wait_for(MARKER_INIT, TIMEOUT).unwrap();
    vm.wait_for(MARKER_READY, TIMEOUT).unwrap();
    let ready = vm.lines().last().unwrap().1.clone();
    assert!(ready.contains("base=core_x1.snap"), "{ready}");
    vm.wait_for(vm_support::BASE_MARKER, TIMEOUT).unwrap();
    let line = vm.lines().last().unwrap().1.clone();
    assert!(line.contains("writable=ext4"), "{line}");
    let (status, _) = vm.wait_exit(TIMEOUT).unwrap();
    assert!(status.success(), "qemu exited with {status}");
}
