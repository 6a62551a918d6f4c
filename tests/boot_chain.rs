//! The whole boot chain in a VM, from real parts: the kernel snap made from the Debian kernel
//! package (its initramfs's /init is the snapsmith under test), the busybox example base, the
//! example app and the pc gadget, built into an image by `snapsmith build` and booted under
//! OVMF (`-bios`) and GRUB with TCG or KVM.
//!
//! 1. `snapsmith boot` boots the image through GRUB into the base and leaves the image alone.
//! 2. A try kernel whose initramfs has no /init panics; GRUB, finding `kernel_status=trying`
//!    after the reboot, rolls back to the good kernel in the same QEMU process.

mod support;

use serde_json::Value;
use snapsmith::boot::Grubenv;
use snapsmith::boot::grubcfg::{GRUB_BOOT_MARKER, GRUB_ROLLBACK_MARKER};
use snapsmith::exec::Cmd;
use snapsmith::qemu::{self, Disk, Firmware, Vm, VmError, VmSpec};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{repo, snapsmith};

/// Printed by the example base's health check (examples/core/snapsmith/health).
const HEALTH_MARKER: &str = "example-base: health ok";
/// Generous: one TCG boot through OVMF and GRUB takes about 15 s, longer beside other work.
const TIMEOUT: Duration = Duration::from_secs(240);
const EPOCH: &str = "1767225600";
const TOOLS: &[&str] = &[
    "dpkg-deb",
    "qemu-system-x86_64",
    "qemu-img",
    "grub-mkimage",
    "fsck.vfat",
    "mcopy",
    "mmd",
];

fn ready() -> Option<PathBuf> {
    let deb = support::kernel_deb()?;
    if !support::have_tools(TOOLS) {
        return None;
    }
    if !Path::new("/bin/busybox").is_file() {
        support::skip_or_fail("busybox-static is not installed");
        return None;
    }
    if qemu::ovmf().is_none() {
        support::skip_or_fail("OVMF is not installed (Debian package ovmf)");
        return None;
    }
    Some(deb)
}

/// The example snaps, made the way scripts/demo makes them, in `dir/snaps`.
fn example_snaps(deb: &Path, dir: &Path) -> PathBuf {
    let snaps = dir.join("snaps");
    std::fs::create_dir_all(&snaps).unwrap();
    snapsmith()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["kernel-snap", "--deb"])
        .arg(deb)
        .arg("-o")
        .arg(snaps.join("pc-kernel.snap"))
        .assert()
        .success();
    let base = dir.join("core-tree");
    Cmd::new("cp")
        .arg("-a")
        .arg(repo().join("examples/core"))
        .arg(&base)
        .run()
        .unwrap();
    for d in [
        "bin", "dev", "proc", "sys", "run", "tmp", "writable", "boot/efi",
    ] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", base.join("bin/busybox")).unwrap();
    let gadget = dir.join("pc-tree");
    Cmd::new("cp")
        .arg("-a")
        .arg(repo().join("gadgets/pc"))
        .arg(&gadget)
        .run()
        .unwrap();
    for (tree, name) in [
        (base, "core"),
        (repo().join("examples/hello"), "hello"),
        (gadget, "pc"),
    ] {
        snapsmith()
            .args(["snap", "pack"])
            .arg(&tree)
            .arg("-o")
            .arg(snaps.join(format!("{name}.snap")))
            .assert()
            .success();
    }
    snaps
}

/// `snapsmith build` of the example model (as grade dangerous: these snaps are unasserted):
/// the image and its manifest.
fn build(snaps: &Path, out: &Path) -> (PathBuf, Value) {
    snapsmith()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .arg("build")
        .arg(repo().join("tests/fixtures/models/dev-amd64-dangerous.model"))
        .arg("--assertions")
        .arg(repo().join("models/dev-brand.assert"))
        .arg("--trusted")
        .arg(repo().join("models/dev-root.assert"))
        .arg("--snaps-dir")
        .arg(snaps)
        .arg("-O")
        .arg(out)
        .assert()
        .success();
    let manifest = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap());
    (out.join("pc.img"), manifest.unwrap())
}

/// (offset, size) of a partition from the manifest.
fn partition(manifest: &Value, name: &str) -> (u64, u64) {
    let p = support::fixtures::entry(&manifest["partitions"], "name", name);
    (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap())
}

fn serial_lines(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn example_image_boots_through_grub_into_the_base() {
    let Some(deb) = ready() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let snaps = example_snaps(&deb, dir.path());
    let (image, manifest) = build(&snaps, &dir.path().join("out"));
    let (offset, size) = partition(&manifest, "ubuntu-boot");
    let before = snapsmith::build::sha256_window(&image, offset, size).unwrap();

    let log = dir.path().join("serial.log");
    let out = snapsmith()
        .arg("boot")
        .arg(&image)
        .args(["--timeout", "240", "--log"])
        .arg(&log)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let text = serial_lines(&log);
    // The console was streamed, and the chain went firmware -> GRUB -> kernel snap -> init ->
    // base, with the kernel GRUB chose named on the command line.
    let run = "snapsmith: run kernel=pc-kernel_x1.snap base=core_x1.snap";
    assert!(stdout.contains(run), "{stdout}");
    let order = [
        "BdsDxe: starting",
        "Welcome to GRUB",
        &format!("{GRUB_BOOT_MARKER} kernel=pc-kernel_x1.snap status="),
        "snapsmith.mode=run snapsmith.kernel=pc-kernel_x1.snap",
        "snapsmith: init start",
        "snapsmith: init data=",
        run,
    ];
    let mut at = 0;
    for step in order {
        let found = text[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} missing (or out of order) in {}", log.display()));
        at += found + step.len();
    }
    // QEMU wrote to an overlay: ubuntu-boot (whose grubenv GRUB may rewrite) is unchanged.
    let after = snapsmith::build::sha256_window(&image, offset, size).unwrap();
    assert_eq!(before, after, "the boot modified the image");
}

/// Opens ubuntu-boot's FAT filesystem inside the image.
fn open_boot_fs(
    file: &std::fs::File,
    (offset, size): (u64, u64),
) -> fatfs::FileSystem<snapsmith::window::Window<'_>> {
    let window = snapsmith::window::Window::new(file, offset, size);
    fatfs::FileSystem::new(window, fatfs::FsOptions::new()).unwrap()
}

fn read_grubenv(fs: &fatfs::FileSystem<snapsmith::window::Window<'_>>) -> Grubenv {
    let mut bytes = Vec::new();
    fs.root_dir()
        .open_file("EFI/ubuntu/grubenv")
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    Grubenv::decode(&bytes).unwrap()
}

/// Stages `try_kernel` on ubuntu-boot as the runtime would: its directory with the good
/// kernel's vmlinuz and an initramfs without /init (copied in with mtools), then grubenv
/// `kernel_status=try` rewritten in place through fatfs (same size, same clusters).
fn stage_broken_try_kernel(image: &Path, boot: (u64, u64), try_kernel: &str, work: &Path) {
    let mut archive = snapsmith::kernel::cpio::Archive::new();
    archive
        .add("etc/broken", snapsmith::kernel::cpio::Entry::Dir)
        .unwrap();
    let initrd = work.join("initrd.img");
    snapsmith::kernel::initramfs::write_gzip(&archive, &initrd).unwrap();
    let at = format!("{}@@{}", image.display(), boot.0);
    let dir = format!("::/EFI/ubuntu/{try_kernel}");
    let vmlinuz = work.join("vmlinuz");
    Cmd::new("mcopy")
        .args(["-i", &at, "::/EFI/ubuntu/pc-kernel_x1.snap/vmlinuz"])
        .arg(&vmlinuz)
        .run()
        .unwrap();
    Cmd::new("mmd").args(["-i", &at, &dir]).run().unwrap();
    Cmd::new("mcopy")
        .args(["-i", &at])
        .arg(&vmlinuz)
        .arg(&initrd)
        .arg(&dir)
        .run()
        .unwrap();

    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .unwrap();
    let fs = open_boot_fs(&file, boot);
    let mut env = read_grubenv(&fs);
    env.set("kernel_status", "try").unwrap();
    env.set("snap_try_kernel", try_kernel).unwrap();
    {
        let mut f = fs.root_dir().open_file("EFI/ubuntu/grubenv").unwrap();
        f.write_all(&env.encode().unwrap()).unwrap();
    }
    fs.unmount().unwrap();
}

/// fsck.vfat -n of a partition copied out of the image.
fn fsck_vfat(image: &Path, (offset, size): (u64, u64), work: &Path) {
    let part = work.join("vfat.img");
    let mut src = std::fs::File::open(image).unwrap();
    src.seek(SeekFrom::Start(offset)).unwrap();
    std::io::copy(
        &mut src.take(size),
        &mut std::fs::File::create(&part).unwrap(),
    )
    .unwrap();
    Cmd::new("fsck.vfat").arg("-n").arg(&part).run().unwrap();
}

#[test]
fn grub_rolls_back_a_try_kernel_that_panics() {
    let Some(deb) = ready() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Once idle, the power button (QMP) powers the agent off after unmounting, so the disk
    // can be checked.
    let snaps = example_snaps(&deb, dir.path());
    let (image, manifest) = build(&snaps, &dir.path().join("out"));
    let boot = partition(&manifest, "ubuntu-boot");
    let tried = "pc-kernel_x2.snap";
    stage_broken_try_kernel(&image, boot, tried, dir.path());
    fsck_vfat(&image, boot, dir.path());

    // The image itself is booted (no overlay), so GRUB's save_env can be checked afterwards.
    let mut spec = VmSpec::new(qemu::detect());
    spec.firmware = Some(Firmware::Bios(qemu::ovmf().unwrap()));
    spec.disks.push(Disk::raw(&image));
    spec.qmp = Some(dir.path().join("qmp.sock"));
    let log = dir.path().join("serial.log");
    let mut vm = Vm::start(&spec, &log).unwrap();
    vm.wait_for(
        &format!("{GRUB_BOOT_MARKER} kernel={tried} status=trying"),
        TIMEOUT,
    )
    .unwrap();
    // The try kernel finds no /init and panics; panic=-1 reboots at once.
    match vm.wait_for(HEALTH_MARKER, TIMEOUT) {
        Err(VmError::Panic { line, .. }) => assert!(line.contains("Kernel panic"), "{line}"),
        other => panic!("expected the try kernel to panic, got {other:?}"),
    }
    vm.wait_for(
        &format!("{GRUB_ROLLBACK_MARKER} kernel={tried} running=pc-kernel_x1.snap"),
        TIMEOUT,
    )
    .unwrap();
    vm.wait_for(
        &format!("{GRUB_BOOT_MARKER} kernel=pc-kernel_x1.snap status="),
        TIMEOUT,
    )
    .unwrap();
    let back = vm
        .wait_for("snapsmith: run kernel=pc-kernel_x1.snap", TIMEOUT)
        .unwrap();
    vm.wait_for(HEALTH_MARKER, TIMEOUT).unwrap();
    let line = vm.lines().last().unwrap().1.clone();
    assert!(
        line.contains("kernel=pc-kernel_x1.snap root=squashfs writable=ext4"),
        "{line}"
    );
    // The agent sees the rolled-back try and cleans it up.
    vm.wait_for(
        &format!("snapsmith: rollback kernel={tried} running=pc-kernel_x1.snap"),
        TIMEOUT,
    )
    .unwrap();
    vm.wait_for("snapsmith: idle", TIMEOUT).unwrap();
    vm.qmp("system_powerdown").unwrap();
    vm.wait_exit(TIMEOUT).unwrap();
    let at = |text: &str| {
        vm.lines()
            .iter()
            .find(|(_, l)| l.contains(text))
            .map_or(f64::NAN, |(t, _)| t.as_secs_f64())
    };
    eprintln!(
        "rollback timings (s from QEMU start): try kernel booted {:.1}, panic {:.1}, GRUB \
         rollback {:.1}, base up on the good kernel {:.1}",
        at("status=trying"),
        at("Kernel panic"),
        at(GRUB_ROLLBACK_MARKER),
        back.as_secs_f64()
    );
    drop(vm);

    // GRUB rewrote the block in place: the try is over, the good kernel is still current,
    // and the filesystem is clean.
    let file = std::fs::File::open(&image).unwrap();
    let env = read_grubenv(&open_boot_fs(&file, boot));
    assert_eq!(env.get("kernel_status"), Some(""));
    assert_eq!(env.get("snap_kernel"), Some("pc-kernel_x1.snap"));
    assert_eq!(env.get("snap_try_kernel"), Some(""));
    fsck_vfat(&image, boot, dir.path());
}
