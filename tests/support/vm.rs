//! What the VM tests and the boot benchmark boot: the Debian kernel with snapsmith's initramfs
//! (init = the snapsmith binary under test), and a GPT disk whose ext4 data partition holds a
//! busybox-based test base snap whose /sbin/init prints [`BASE_MARKER`] and powers off.
//!
//! The kernel snap and the busybox root are made by the library's example-device builders
//! (`snapsmith::example::snaps`), so the tests boot what `snapsmith example` makes.
#![allow(dead_code)]

use snapsmith::example::snaps::{BUSYBOX, busybox_root};
use snapsmith::exec::Cmd;
use snapsmith::qemu::{Accel, DirectKernel, Disk, VmSpec};
use snapsmith::snap::{self, PackOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Printed by the test base's init once it runs as the switched-to root.
pub const BASE_MARKER: &str = "SNAPSMITH-TEST-BASE-OK";
/// Where snaps live on the data partition.
const SNAPS: &str = "system-data/var/lib/snapd/snaps";
/// Host tools these helpers run.
pub const TOOLS: &[&str] = &[
    "dpkg-deb",
    "mksquashfs",
    "mkfs.ext4",
    "sfdisk",
    "qemu-system-x86_64",
];

/// The runtime under test: it becomes the initramfs's `/init`.
pub fn init() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_snapsmith-init"))
}

/// True when every prerequisite is there (else skipped, or failed under CI).
pub fn ready() -> Option<PathBuf> {
    let deb = super::kernel_deb()?;
    if !super::have_tools(TOOLS) {
        return None;
    }
    if !Path::new(BUSYBOX).is_file() {
        super::skip_or_fail("busybox-static is not installed");
        return None;
    }
    Some(deb)
}

/// Builds `dir/pc-kernel.snap` from the Debian package, as `snapsmith example` does.
pub fn kernel_snap(deb: &Path, dir: &Path) -> PathBuf {
    let snap = dir.join("pc-kernel.snap");
    snapsmith::example::snaps::kernel_snap(deb, &init(), 0, &snap)
        .expect("building the kernel snap");
    snap
}

/// Builds the kernel snap and takes its `vmlinuz` and `initrd.img` out of it into `dir`:
/// (vmlinuz, initrd).
pub fn kernel_and_initrd(deb: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let snap = snapsmith::snap::SnapFile::open(kernel_snap(deb, dir)).unwrap();
    assert_eq!(snap.compression(), "gzip");
    let mut out = Vec::new();
    for name in ["vmlinuz", "initrd.img"] {
        let path = dir.join(name);
        std::fs::write(&path, snap.read_file(name).unwrap()).unwrap();
        out.push(path);
    }
    (out.remove(0), out.remove(0))
}

/// The test base: busybox, empty mount points, and an init printing [`BASE_MARKER`] with the
/// root mount it sees.
pub fn test_base(dir: &Path) -> PathBuf {
    let root = dir.join("base-root");
    std::fs::create_dir_all(root.join("sbin")).unwrap();
    busybox_root(&root, Path::new(BUSYBOX)).unwrap();
    let init = format!(
        "#!/bin/busybox sh\n\
         root=$(/bin/busybox awk '$2 == \"/\" {{print $1, $3}}' /proc/mounts | /bin/busybox tail -n 1)\n\
         writable=$(/bin/busybox awk '$2 == \"/writable\" {{print $3}}' /proc/mounts)\n\
         echo \"{BASE_MARKER} pid=$$ root=$root writable=$writable\"\n\
         /bin/busybox sync\n\
         /bin/busybox poweroff -f\n"
    );
    std::fs::write(root.join("sbin/init"), init).unwrap();
    std::fs::set_permissions(
        root.join("sbin/init"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let snap = dir.join("base.snap");
    Cmd::new("mksquashfs")
        .arg(&root)
        .arg(&snap)
        .args([
            "-noappend",
            "-comp",
            "gzip",
            "-all-root",
            "-quiet",
            "-no-progress",
        ])
        .run()
        .unwrap();
    snap
}

/// A busybox base snap for the run-mode tests, packed by the library's `snap pack`.
pub struct BaseSnap<'a> {
    /// `name` in meta/snap.yaml; the file is `<name>_<version>.snap`.
    pub name: &'a str,
    pub version: &'a str,
    /// Exit code of the base's `/snapsmith/health` check; `None` ships no check.
    pub health: Option<i32>,
    /// Adds an `/sbin/init` printing [`BASE_MARKER`] and powering off, for boots that run the
    /// base's own init instead of staying in the agent.
    pub init_marker: bool,
}

/// The example model's base: a busybox `core` at version 1 whose health check passes.
pub fn healthy_core(dir: &Path) -> PathBuf {
    let core = BaseSnap {
        name: "core",
        version: "1",
        health: Some(0),
        init_marker: false,
    };
    base_snap(dir, &core)
}

/// Builds `base` in `dir` and returns the snap's path.
pub fn base_snap(dir: &Path, base: &BaseSnap) -> PathBuf {
    let root = dir.join(format!("{}-{}-tree", base.name, base.version));
    for sub in ["sbin", "snapsmith", "meta"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    busybox_root(&root, Path::new(BUSYBOX)).unwrap();
    let yaml = format!(
        "name: {}\nversion: '{}'\ntype: base\n",
        base.name, base.version
    );
    std::fs::write(root.join("meta/snap.yaml"), yaml).unwrap();
    if let Some(code) = base.health {
        let script = format!("#!/bin/busybox sh\nexit {code}\n");
        write_executable(&root.join("snapsmith/health"), &script);
    }
    if base.init_marker {
        let init = format!(
            "#!/bin/busybox sh\n\
             writable=$(/bin/busybox awk '$2 == \"/writable\" {{print $3}}' /proc/mounts)\n\
             echo \"{BASE_MARKER} writable=$writable\"\n\
             /bin/busybox sync\n\
             /bin/busybox poweroff -f\n"
        );
        write_executable(&root.join("sbin/init"), &init);
    }
    let out = dir.join(format!("{}_{}.snap", base.name, base.version));
    snap::pack_dir(&root, &out, &PackOptions::default()).unwrap();
    out
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A raw GPT disk with one partition named `partname` holding an ext4 data filesystem that
/// carries `base` as `system-data/var/lib/snapd/snaps/base_1.snap`.
pub fn disk(dir: &Path, partname: &str, base: &Path) -> PathBuf {
    let data_root = dir.join(format!("data-{partname}"));
    std::fs::create_dir_all(data_root.join(SNAPS)).unwrap();
    std::fs::copy(base, data_root.join(SNAPS).join("base_1.snap")).unwrap();
    let data = dir.join(format!("data-{partname}.img"));
    Cmd::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "ubuntu-data", "-d"])
        .arg(&data_root)
        .arg(&data)
        .arg("24M")
        .run()
        .unwrap();
    let disk = dir.join(format!("disk-{partname}.img"));
    let file = std::fs::File::create(&disk).unwrap();
    file.set_len(26 * 1024 * 1024).unwrap();
    drop(file);
    let table = format!("label: gpt\nstart=2048, size=49152, name=\"{partname}\"\n");
    Cmd::new("sfdisk")
        .arg("-q")
        .arg(&disk)
        .stdin_bytes(table)
        .run()
        .unwrap();
    let mut out = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    out.seek(SeekFrom::Start(1024 * 1024)).unwrap();
    std::io::copy(&mut std::fs::File::open(&data).unwrap(), &mut out).unwrap();
    disk
}

/// A direct kernel boot of `vmlinuz` + `initrd` with `disk`, exiting instead of rebooting.
pub fn spec(
    accel: Accel,
    vmlinuz: &Path,
    initrd: &Path,
    disk: &Path,
    extra_append: &str,
) -> VmSpec {
    let mut spec = VmSpec::new(accel);
    spec.kernel = Some(DirectKernel {
        kernel: vmlinuz.to_path_buf(),
        initrd: Some(initrd.to_path_buf()),
        append: format!("console=ttyS0 quiet panic=-1 snap_core=base_1.snap {extra_append}"),
    });
    spec.disks.push(Disk::raw(disk));
    spec.no_reboot = true;
    spec
}

/// The example device built for `snapsmith validate` in a new scratch directory: (the
/// directory, its `pc.img`); `None` (the test skips) without the kernel package or tools.
pub fn example_image() -> Option<(tempfile::TempDir, PathBuf)> {
    let deb = ready()?;
    if !super::have_tools(&["debugfs", "grub-mkimage", "grub-editenv", "mcopy"]) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("example");
    super::build::example(&deb, &out).assert().success();
    Some((dir, out.join("pc.img")))
}

/// What one `snapsmith validate` run left: its exit status, stdout, and the JSON report.
pub struct Validation {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub report: serde_json::Value,
    /// Where the JUnit report was written.
    pub junit: PathBuf,
    /// The `--artifacts` directory.
    pub artifacts: PathBuf,
}

/// Runs `snapsmith validate IMAGE` with its reports, artifacts and work directory under `dir`
/// and the given scenarios (none: the default catalogue); prints its output for the test log.
pub fn validate(image: &Path, dir: &Path, scenarios: &[&str]) -> Validation {
    let args: Vec<&str> = scenarios.iter().flat_map(|s| ["--scenario", s]).collect();
    validate_with(image, dir, &args)
}

/// [`validate`] with further arguments (`--scenario`, `--cut`...).
pub fn validate_with(image: &Path, dir: &Path, args: &[&str]) -> Validation {
    let (report, junit) = (dir.join("report.json"), dir.join("report.xml"));
    let artifacts = dir.join("artifacts");
    let out = super::snapsmith()
        .arg("validate")
        .arg(image)
        .arg("--report")
        .arg(&report)
        .arg("--junit")
        .arg(&junit)
        .arg("--work")
        .arg(dir.join("work"))
        .arg("--artifacts")
        .arg(&artifacts)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{stdout}{stderr}");
    Validation {
        status: out.status,
        stdout,
        stderr,
        report: super::fixtures::read_json(&report),
        junit,
        artifacts,
    }
}
