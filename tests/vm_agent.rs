//! VM tests of the run-mode init and the agent with direct kernel boot (the Debian kernel with
//! snapsmith's initramfs; QEMU reboots into the same kernel): the base try/commit and
//! try/rollback paths driven by a `snapsmith-update` disk (an unasserted base on a dangerous
//! model, verified against the seed's trust root), the current_kernels gate, and the kernel commit the agent does after a GRUB try boot.
//! Disks are written with the project's own planner and writer.

mod support;

use snapsmith::boot::grubenv::Grubenv;
use snapsmith::boot::modeenv::Modeenv;
use snapsmith::plan::{FileSource, FsKind};
use snapsmith::qemu::disks::{self, Part};
use snapsmith::qemu::{self, DirectKernel, Disk, Vm, VmSpec};
use snapsmith::runtime::MARKER_ERROR;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(240);
const MIB: u64 = 1024 * 1024;
/// The agent tests' base: `testbase`, with a health check exiting with `health`.
fn testbase(version: &str, health: i32) -> support::vm::BaseSnap<'_> {
    support::vm::BaseSnap {
        name: "testbase",
        version,
        health: Some(health),
        init_marker: false,
    }
}

const SNAPS: &str = "system-data/var/lib/snapd/snaps";

fn grubenv(status: &str, kernel: &str, try_kernel: &str) -> Vec<u8> {
    let mut g = Grubenv::new();
    g.set("kernel_status", status).unwrap();
    g.set("snap_kernel", kernel).unwrap();
    g.set("snap_try_kernel", try_kernel).unwrap();
    g.encode().unwrap()
}

/// ubuntu-seed with the recovery system `dev`'s trust root, which the device verifies updates
/// against: a dangerous model (base `testbase`) signed by a brand key, and model-etc with the
/// self-signed root and the brand's account and key (as `build` writes them).
fn seed_part() -> Part {
    use snapsmith::assertion::{PrivateKey, certify_key, encode_stream, sign};
    let root = PrivateKey::from_seed([1; 32]);
    let brand = PrivateKey::from_seed([2; 32]);
    let epoch = time::OffsetDateTime::UNIX_EPOCH;
    let mut etc = certify_key(&root.public(), "root", "root", &root, "root", epoch, None).unwrap();
    etc.extend(certify_key(&brand.public(), "brand", "dev", &root, "root", epoch, None).unwrap());
    let headers = serde_json::json!({
        "series": "16", "brand-id": "dev", "model": "agent-test", "architecture": "amd64",
        "base": "testbase", "grade": "dangerous", "timestamp": "2026-01-01T00:00:00+00:00",
        "snaps": [
            {"name": "pc", "type": "gadget"},
            {"name": "pc-kernel", "type": "kernel"},
            {"name": "testbase", "type": "base"},
        ],
    });
    let model = sign("model", headers.as_object().unwrap(), &[], &brand, "dev").unwrap();
    Part::new("ubuntu-seed", FsKind::Vfat, 40 * MIB)
        .file("systems/dev/model", FileSource::Bytes(model.encode()))
        .file(
            "systems/dev/assertions/model-etc",
            FileSource::Bytes(encode_stream(&etc)),
        )
}

/// A run-mode disk: ubuntu-boot (vfat, grubenv), ubuntu-data (ext4, modeenv, base) and
/// ubuntu-seed (the trust root).
fn run_disk(dir: &Path, modeenv: &Modeenv, grub: Vec<u8>, base: &Path) -> PathBuf {
    let boot = Part::new("ubuntu-boot", FsKind::Vfat, 40 * MIB)
        .file("EFI/ubuntu/grubenv", FileSource::Bytes(grub));
    let data = Part::new("ubuntu-data", FsKind::Ext4, 48 * MIB)
        .file(
            "system-data/var/lib/snapd/modeenv",
            FileSource::Bytes(modeenv.encode().into_bytes()),
        )
        .file(
            &format!("{SNAPS}/{}", modeenv.base),
            FileSource::File(base.to_path_buf()),
        );
    disks::write_gpt(dir, "run", &[boot, data, seed_part()]).unwrap()
}

fn modeenv(base: &str, kernels: &[&str]) -> Modeenv {
    Modeenv {
        mode: "run".into(),
        recovery_system: "dev".into(),
        base: base.into(),
        current_kernels: kernels.iter().map(|k| k.to_string()).collect(),
        ..Modeenv::default()
    }
}

struct Setup {
    dir: tempfile::TempDir,
    vmlinuz: PathBuf,
    initrd: PathBuf,
}

fn setup() -> Option<Setup> {
    let deb = support::vm::ready()?;
    let dir = tempfile::tempdir().unwrap();
    let (vmlinuz, initrd) = support::vm::kernel_and_initrd(&deb, dir.path());
    Some(Setup {
        dir,
        vmlinuz,
        initrd,
    })
}

impl Setup {
    fn spec(&self, kernel: &str, disks: &[&Path], no_reboot: bool) -> VmSpec {
        let mut spec = VmSpec::new(qemu::detect());
        spec.kernel = Some(DirectKernel {
            kernel: self.vmlinuz.clone(),
            initrd: Some(self.initrd.clone()),
            append: format!(
                "console=ttyS0 quiet panic=-1 snapsmith.mode=run snapsmith.kernel={kernel} \
                 snapsmith.poweroff=idle"
            ),
        });
        spec.disks = disks.iter().map(|d| Disk::raw(*d)).collect();
        spec.no_reboot = no_reboot;
        spec
    }
}

/// Waits for each marker in order; the error marker is awaited like any other.
fn expect(vm: &mut Vm, markers: &[&str]) {
    for marker in markers {
        vm.wait_for(marker, TIMEOUT)
            .unwrap_or_else(|e| panic!("waiting for {marker:?}: {e}"));
    }
}

fn update_disk(dir: &Path, snap: &Path) -> PathBuf {
    disks::write_update_disk(dir, "update", &[snap.to_path_buf()]).unwrap()
}

#[test]
fn good_base_update_is_tried_and_committed() {
    let Some(s) = setup() else {
        return;
    };
    let dir = s.dir.path();
    let old = support::vm::base_snap(dir, &testbase("1", 0));
    let new = support::vm::base_snap(dir, &testbase("2", 0));
    let disk = run_disk(
        dir,
        &modeenv("testbase_1.snap", &["pc-kernel_1.snap"]),
        grubenv("", "pc-kernel_1.snap", ""),
        &old,
    );
    let update = update_disk(dir, &new);
    let spec = s.spec("pc-kernel_1.snap", &[&disk, &update], false);
    let mut vm = Vm::start(&spec, &dir.join("serial.log")).unwrap();
    expect(
        &mut vm,
        &[
            "snapsmith: run kernel=pc-kernel_1.snap base=testbase_1.snap",
            "snapsmith: update unasserted testbase_2.snap: accepted because the model's grade is dangerous",
            "snapsmith: update staged base=testbase_x1.snap",
            "snapsmith: run kernel=pc-kernel_1.snap base=testbase_x1.snap",
            "snapsmith: commit base=testbase_x1.snap",
            "snapsmith: idle",
        ],
    );
    let (status, _) = vm.wait_exit(TIMEOUT).unwrap();
    assert!(status.success(), "{status}");
    // The update was applied once: the second boot staged nothing.
    let staged = vm
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("update staged"))
        .count();
    assert_eq!(staged, 1);
}

#[test]
fn failing_base_health_rolls_back() {
    let Some(s) = setup() else {
        return;
    };
    let dir = s.dir.path();
    let old = support::vm::base_snap(dir, &testbase("1", 0));
    let bad = support::vm::base_snap(dir, &testbase("2", 1));
    let disk = run_disk(
        dir,
        &modeenv("testbase_1.snap", &["pc-kernel_1.snap"]),
        grubenv("", "pc-kernel_1.snap", ""),
        &old,
    );
    let update = update_disk(dir, &bad);
    let spec = s.spec("pc-kernel_1.snap", &[&disk, &update], false);
    let mut vm = Vm::start(&spec, &dir.join("serial.log")).unwrap();
    expect(
        &mut vm,
        &[
            "snapsmith: update staged base=testbase_x1.snap",
            "snapsmith: run kernel=pc-kernel_1.snap base=testbase_x1.snap",
            "snapsmith: error health check failed",
            "snapsmith: run kernel=pc-kernel_1.snap base=testbase_1.snap",
            "snapsmith: rollback base=testbase_x1.snap running=testbase_1.snap",
            "snapsmith: idle",
        ],
    );
    let (status, _) = vm.wait_exit(TIMEOUT).unwrap();
    assert!(status.success(), "{status}");
    assert!(!vm.lines().iter().any(|(_, l)| l.contains("commit base")));
}

#[test]
fn kernel_gate_and_kernel_commit() {
    let Some(s) = setup() else {
        return;
    };
    let dir = s.dir.path();
    let base = support::vm::base_snap(dir, &testbase("1", 0));
    let env = modeenv(
        "testbase_1.snap",
        &["pc-kernel_1.snap", "pc-kernel_x1.snap"],
    );
    let disk = run_disk(
        dir,
        &env,
        grubenv("trying", "pc-kernel_1.snap", "pc-kernel_x1.snap"),
        &base,
    );
    // A kernel modeenv does not list may not run.
    let spec = s.spec("pc-kernel_9.snap", &[&disk], true);
    let mut vm = Vm::start(&spec, &dir.join("gate.log")).unwrap();
    expect(&mut vm, &[MARKER_ERROR]);
    let line = vm.lines().last().unwrap().1.clone();
    assert!(
        line.contains("kernel pc-kernel_9.snap is not in current_kernels"),
        "{line}"
    );
    vm.wait_exit(TIMEOUT).unwrap();
    // GRUB booted the try kernel (kernel_status=trying): the agent commits it.
    let spec = s.spec("pc-kernel_x1.snap", &[&disk], true);
    let mut vm = Vm::start(&spec, &dir.join("commit.log")).unwrap();
    expect(
        &mut vm,
        &[
            "snapsmith: run kernel=pc-kernel_x1.snap base=testbase_1.snap",
            "snapsmith: commit kernel=pc-kernel_x1.snap",
            "snapsmith: idle",
        ],
    );
    let (status, _) = vm.wait_exit(TIMEOUT).unwrap();
    assert!(status.success(), "{status}");
    drop(vm);
    // The grubenv was rewritten in place: still 1024 bytes, committed.
    let g = read_boot_file(&disk, "EFI/ubuntu/grubenv");
    assert_eq!(g.len(), 1024);
    let g = Grubenv::decode(&g).unwrap();
    assert_eq!(g.get("snap_kernel"), Some("pc-kernel_x1.snap"));
    assert_eq!(g.get("snap_try_kernel"), Some(""));
    assert_eq!(g.get("kernel_status"), Some(""));
}

/// Reads a file from the first partition (ubuntu-boot, at 1 MiB) through fatfs.
fn read_boot_file(disk: &Path, path: &str) -> Vec<u8> {
    use std::io::Read;
    let file = std::fs::File::open(disk).unwrap();
    let window = snapsmith::window::Window::new(&file, MIB, 40 * MIB);
    let fs = fatfs::FileSystem::new(window, fatfs::FsOptions::new()).unwrap();
    let mut out = Vec::new();
    fs.root_dir()
        .open_file(path)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}
