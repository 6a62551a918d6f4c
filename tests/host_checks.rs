//! Host checks judge a scenario from its disk: on an untouched run-mode disk every check passes,
//! and each kind of check fails on a disk tampered with in the way it exists to catch. The
//! tampering goes through the canonical tools (mtools, debugfs, sfdisk, dd), not snapsmith.

mod support;

use snapsmith::boot::Grubenv;
use snapsmith::exec::Cmd;
use snapsmith::plan::{FileSource, FsKind};
use snapsmith::qemu::diskread::{self, DiskReader};
use snapsmith::qemu::disks::{Part, write_gpt};
use snapsmith::qemu::hostcheck::{self, CheckKind, Expected};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;
const TOOLS: &[&str] = &[
    "mcopy",
    "debugfs",
    "sfdisk",
    "grub-editenv",
    "fsck.vfat",
    "e2fsck",
    "dd",
];
const KERNEL: &str = "pc-kernel_x1.snap";
const BASE: &str = "core_x1.snap";
const SNAPS: &str = "system-data/var/lib/snapd/snaps";
const DATA_FILE: &str = "system-data/home/user/notes.txt";

fn grubenv(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut env = Grubenv::new();
    for (k, v) in pairs {
        env.set(k, v).unwrap();
    }
    env.encode().unwrap()
}

fn seed_env() -> Vec<u8> {
    grubenv(&[
        ("snapd_recovery_mode", "run"),
        ("snapd_recovery_system", "20260101"),
    ])
}

fn boot_env(status: &str) -> Vec<u8> {
    grubenv(&[
        ("kernel_status", status),
        ("snap_kernel", KERNEL),
        ("snap_try_kernel", ""),
    ])
}

/// A run-mode disk as a build leaves it: seed and boot grubenvs, modeenv, snaps, a data file.
fn image(dir: &Path) -> PathBuf {
    let bytes = |b: &[u8]| FileSource::Bytes(b.to_vec());
    let modeenv =
        format!("mode=run\nbase={BASE}\ntry_base=\nbase_status=\ncurrent_kernels={KERNEL}\n");
    let parts = [
        Part::new("ubuntu-seed", FsKind::Vfat, 40 * MIB)
            .file("EFI/ubuntu/grubenv", bytes(&seed_env()))
            .file("systems/20260101/model", bytes(b"model")),
        Part::new("ubuntu-boot", FsKind::Vfat, 40 * MIB)
            .file("EFI/ubuntu/grubenv", bytes(&boot_env(""))),
        Part::new("ubuntu-data", FsKind::Ext4, 16 * MIB)
            .file(
                "system-data/var/lib/snapd/modeenv",
                bytes(modeenv.as_bytes()),
            )
            .file(&format!("{SNAPS}/{KERNEL}"), bytes(b"kernel"))
            .file(&format!("{SNAPS}/{BASE}"), bytes(b"base"))
            .file(DATA_FILE, bytes(b"kept across updates\n")),
    ];
    write_gpt(dir, "pc", &parts).unwrap()
}

fn expected() -> Expected {
    let env = Grubenv::decode(&seed_env()).unwrap();
    Expected {
        kernel: KERNEL.into(),
        base: BASE.into(),
        snaps: [KERNEL, BASE].iter().map(|s| s.to_string()).collect(),
        data_files: BTreeMap::from([(DATA_FILE.into(), b"kept across updates\n".to_vec())]),
        seed_grubenv: env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
        data_digest: None,
        rogue: None,
        after: Default::default(),
    }
}

/// The image, a scenario disk copied from it, and the checks' verdicts on the copy after
/// `tamper` changed it.
fn verdicts(tamper: impl FnOnce(&Path)) -> BTreeMap<String, (bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let disk = dir.path().join("scenario.img");
    std::fs::copy(&image, &disk).unwrap();
    tamper(&disk);
    hostcheck::run(&CheckKind::ALL, &disk, &image, &expected())
        .into_iter()
        .map(|c| (c.check, (c.passed, c.detail)))
        .collect()
}

/// Asserts that exactly `failing` fail (each with `detail` in its message).
fn assert_fails(v: &BTreeMap<String, (bool, String)>, failing: &str, detail: &str) {
    let (passed, why) = &v[failing];
    assert!(!passed, "{failing} passed on a tampered disk: {why}");
    assert!(
        why.contains(detail),
        "{failing}: {why:?} does not mention {detail:?}"
    );
    for (name, (passed, why)) in v {
        if name != failing && name != "fs-clean" {
            assert!(passed, "{name} failed too: {why}");
        }
    }
}

fn partition(disk: &Path, name: &str) -> diskread::Partition {
    DiskReader::open(disk)
        .unwrap()
        .partition(name)
        .unwrap()
        .clone()
}

/// Copies a file into a vfat partition of the disk with mtools (`image@@offset`).
fn mtools_put(disk: &Path, part: &str, bytes: &[u8], to: &str) {
    let p = partition(disk, part);
    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), bytes).unwrap();
    Cmd::new("mcopy")
        .args(["-o", "-D", "o", "-i"])
        .arg(format!("{}@@{}", disk.display(), p.offset))
        .arg(src.path())
        .arg(format!("::/{to}"))
        .env("MTOOLS_SKIP_CHECK", "1")
        .run()
        .unwrap();
}

/// Runs debugfs -w requests on the ext4 partition `part`, written back in place with dd.
fn debugfs_write(disk: &Path, part: &str, requests: &[&str]) {
    let p = partition(disk, part);
    let img = tempfile::NamedTempFile::new().unwrap();
    let dd = |args: Vec<String>| Cmd::new("dd").args(args).run().unwrap();
    dd(vec![
        format!("if={}", disk.display()),
        format!("of={}", img.path().display()),
        "iflag=skip_bytes,count_bytes".into(),
        format!("skip={}", p.offset),
        format!("count={}", p.size),
        "status=none".into(),
    ]);
    for r in requests {
        Cmd::new("debugfs")
            .args(["-w", "-R", r])
            .arg(img.path())
            .run()
            .unwrap();
    }
    dd(vec![
        format!("if={}", img.path().display()),
        format!("of={}", disk.display()),
        "oflag=seek_bytes".into(),
        "conv=notrunc".into(),
        format!("seek={}", p.offset),
        "status=none".into(),
    ]);
}

fn ready() -> bool {
    support::have_tools(TOOLS)
}

#[test]
fn untouched_disk_passes_every_check() {
    if !ready() {
        return;
    }
    let v = verdicts(|_| {});
    assert_eq!(v.len(), CheckKind::ALL.len());
    for (name, (passed, why)) in &v {
        assert!(passed, "{name}: {why}");
    }
}

#[test]
fn boot_state_sees_a_leftover_try() {
    if !ready() {
        return;
    }
    let v = verdicts(|d| mtools_put(d, "ubuntu-boot", &boot_env("try"), "EFI/ubuntu/grubenv"));
    assert_fails(&v, "boot-state", "kernel_status is \"try\"");
}

#[test]
fn data_files_see_changed_bytes() {
    if !ready() {
        return;
    }
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), b"lost in the update\n").unwrap();
    let (rm, write) = (
        format!("rm /{DATA_FILE}"),
        format!("write {} /{DATA_FILE}", other.path().display()),
    );
    let v = verdicts(|d| debugfs_write(d, "ubuntu-data", &[&rm, &write]));
    assert_fails(&v, "data-files", DATA_FILE);
}

#[test]
fn snap_set_sees_an_extra_snap() {
    if !ready() {
        return;
    }
    let other = tempfile::NamedTempFile::new().unwrap();
    let write = format!("write {} /{SNAPS}/rogue_x9.snap", other.path().display());
    let v = verdicts(|d| debugfs_write(d, "ubuntu-data", &[&write]));
    assert_fails(&v, "snap-set", "rogue_x9.snap");
}

#[test]
fn seed_unchanged_sees_a_new_file_and_a_changed_grubenv() {
    if !ready() {
        return;
    }
    let v = verdicts(|d| mtools_put(d, "ubuntu-seed", b"x", "systems/20260101/extra"));
    assert_fails(&v, "seed-unchanged", "extra");
    let recover = grubenv(&[
        ("snapd_recovery_mode", "recover"),
        ("snapd_recovery_system", "20260101"),
    ]);
    let v = verdicts(|d| mtools_put(d, "ubuntu-seed", &recover, "EFI/ubuntu/grubenv"));
    assert_fails(&v, "seed-unchanged", "recover");
}

#[test]
fn table_unchanged_sees_changed_attributes() {
    if !ready() {
        return;
    }
    let v = verdicts(|d| {
        Cmd::new("sfdisk")
            .args(["--part-attrs"])
            .arg(d)
            .args(["1", "RequiredPartition"])
            .run()
            .unwrap();
    });
    assert_fails(&v, "table-unchanged", "differs");
}

#[test]
fn fs_clean_sees_a_corrupt_ext4() {
    if !ready() {
        return;
    }
    let links = format!("set_inode_field /{DATA_FILE} links_count 5");
    let v = verdicts(|d| debugfs_write(d, "ubuntu-data", &[&links]));
    let (passed, why) = &v["fs-clean"];
    assert!(!passed, "fs-clean passed on a corrupt ext4");
    assert!(why.contains("ubuntu-data"), "{why}");
}

#[test]
fn the_harness_writes_data_files_before_boot() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = image(dir.path());
    let reader = DiskReader::open(&disk).unwrap();
    let data = reader.ext4("ubuntu-data").unwrap();
    let files = BTreeMap::from([
        (
            "system-data/home/new/deep/file.txt".to_string(),
            b"one".to_vec(),
        ),
        (DATA_FILE.to_string(), b"replaced".to_vec()),
    ]);
    diskread::ext4_write(&data, &files).unwrap();
    for (path, bytes) in &files {
        assert_eq!(
            diskread::ext4_file(&data, path).unwrap().as_deref(),
            Some(&bytes[..])
        );
    }
    assert_eq!(
        diskread::fsck(&data, true).unwrap(),
        None,
        "e2fsck after the write"
    );
    let traversal = BTreeMap::from([("system-data/../x".to_string(), Vec::new())]);
    assert!(diskread::ext4_write(&data, &traversal).is_err());
}

#[test]
fn the_harness_opens_paths_to_all_before_boot() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = image(dir.path());
    let data = DiskReader::open(&disk)
        .unwrap()
        .ext4("ubuntu-data")
        .unwrap();
    let paths = [DATA_FILE.to_string(), "system-data/probe/deep".to_string()];
    diskread::ext4_open(&data, &paths).unwrap();
    let mode = |path: &str| {
        let out = Cmd::new("debugfs")
            .arg("-R")
            .arg(format!("stat /{path}"))
            .arg(&data)
            .run_string()
            .unwrap();
        let mut words = out.split_whitespace().skip_while(|w| *w != "Mode:");
        words.nth(1).unwrap().to_string()
    };
    assert_eq!(
        mode(DATA_FILE),
        "0666",
        "a file is opened read-write to all"
    );
    assert_eq!(
        mode("system-data/probe/deep"),
        "0777",
        "a missing dir is made"
    );
    assert_eq!(diskread::fsck(&data, true).unwrap(), None, "e2fsck after");
    assert!(diskread::ext4_open(&data, &["system-data/../x".to_string()]).is_err());
}

#[test]
fn data_after_sees_a_changed_missing_or_unexpected_file() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let canary = "system-data/home/user/canary";
    let e = Expected {
        after: hostcheck::After {
            files: BTreeMap::from([(DATA_FILE.to_string(), "kept across updates\n".into())]),
            absent: vec![canary.to_string()],
        },
        ..expected()
    };
    let check = |disk: &Path| hostcheck::run(&[CheckKind::DataAfter], disk, &image, &e);
    let v = check(&image);
    assert!(v[0].passed, "{v:?}");
    let disk = dir.path().join("scenario.img");
    std::fs::copy(&image, &disk).unwrap();
    let changed = dir.path().join("changed");
    std::fs::write(&changed, "changed\n").unwrap();
    let changed = changed.display().to_string();
    debugfs_write(
        &disk,
        "ubuntu-data",
        &[
            &format!("rm /{DATA_FILE}"),
            &format!("write {changed} /{DATA_FILE}"),
        ],
    );
    let v = check(&disk);
    assert!(!v[0].passed && v[0].detail.contains("expected"), "{v:?}");
    debugfs_write(
        &disk,
        "ubuntu-data",
        &[
            &format!("rm /{DATA_FILE}"),
            &format!("write {changed} /{canary}"),
        ],
    );
    let v = check(&disk);
    assert!(v[0].detail.contains("is missing"), "{v:?}");
    assert!(v[0].detail.contains(&format!("{canary} exists")), "{v:?}");
    let none = hostcheck::run(&[CheckKind::DataAfter], &disk, &image, &expected());
    assert!(
        !none[0].passed && none[0].detail.contains("names nothing"),
        "{none:?}"
    );
}

/// The run-mode disk with an app snap `hello` at revision x1, active (`current` link), with
/// the start counters its daemon keeps.
fn app_disk(dir: &Path) -> PathBuf {
    let image = image(dir);
    let var = "/system-data/var/snap/hello";
    let file = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f.display().to_string()
    };
    let (one, two) = (file("one", "1\n"), file("two", "2\n"));
    // A real snap: the checks read its type (only app snaps run apps).
    let snap = support::build::pack(
        dir,
        "hello",
        &[("meta/snap.yaml", b"name: hello\nversion: '1'\ntype: app\n")],
    )
    .display()
    .to_string();
    debugfs_write(
        &image,
        "ubuntu-data",
        &[
            &format!("write {snap} /{SNAPS}/hello_x1.snap"),
            "mkdir /system-data/var/snap",
            &format!("mkdir {var}"),
            &format!("mkdir {var}/x1"),
            &format!("mkdir {var}/common"),
            &format!("symlink {var}/current x1"),
            &format!("write {one} {var}/x1/starts"),
            &format!("write {two} {var}/common/starts"),
        ],
    );
    image
}

/// The app checks' verdicts on a copy of [`app_disk`] after `tamper` changed it.
fn app_verdicts(tamper: impl FnOnce(&Path)) -> BTreeMap<String, (bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let image = app_disk(dir.path());
    let disk = dir.path().join("scenario.img");
    std::fs::copy(&image, &disk).unwrap();
    tamper(&disk);
    let mut expected = expected();
    expected.snaps.insert("hello_x1.snap".into());
    hostcheck::run(&CheckKind::APPS, &disk, &image, &expected)
        .into_iter()
        .map(|c| (c.check, (c.passed, c.detail)))
        .collect()
}

#[test]
fn app_checks_read_the_active_revision_and_counters() {
    if !ready() {
        return;
    }
    let v = app_verdicts(|_| {});
    assert_eq!(v.len(), CheckKind::APPS.len());
    assert_eq!(v["app-active"], (true, "active: hello=x1".to_string()));
    assert_eq!(
        v["app-counters"],
        (true, "hello rev x1: data=1 common=2".to_string())
    );
}

#[test]
fn app_active_sees_a_missing_or_dangling_current() {
    if !ready() {
        return;
    }
    let var = "/system-data/var/snap/hello";
    let v = app_verdicts(|d| debugfs_write(d, "ubuntu-data", &[&format!("rm {var}/current")]));
    let (passed, why) = &v["app-active"];
    assert!(!passed && why.contains("never became active"), "{why}");
    let v = app_verdicts(|d| {
        debugfs_write(
            d,
            "ubuntu-data",
            &[
                &format!("rm {var}/current"),
                &format!("symlink {var}/current x9"),
            ],
        )
    });
    assert!(!v["app-active"].0);
    assert!(
        v["app-active"].1.contains("\"x9\", which is not installed"),
        "{:?}",
        v["app-active"]
    );
}

#[test]
fn app_counters_see_a_lost_or_reset_count() {
    if !ready() {
        return;
    }
    let var = "/system-data/var/snap/hello";
    let zero = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(zero.path(), "0\n").unwrap();
    let v = app_verdicts(|d| {
        debugfs_write(
            d,
            "ubuntu-data",
            &[
                &format!("rm {var}/common/starts"),
                &format!("write {} {var}/common/starts", zero.path().display()),
            ],
        )
    });
    assert_fails(
        &v,
        "app-counters",
        "common/starts holds \"0\", not a start count",
    );
    let v = app_verdicts(|d| debugfs_write(d, "ubuntu-data", &[&format!("rm {var}/x1/starts")]));
    assert!(!v["app-counters"].0);
    assert!(
        v["app-counters"].1.contains("no active app counts"),
        "{:?}",
        v["app-counters"]
    );
}

#[test]
fn data_unchanged_compares_every_byte_of_ubuntu_data() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let disk = dir.path().join("scenario.img");
    std::fs::copy(&image, &disk).unwrap();
    let digest = hostcheck::partition_digest(&DiskReader::open(&disk).unwrap(), "ubuntu-data");
    let e = Expected {
        data_digest: Some(digest.unwrap()),
        ..expected()
    };
    let check = |disk: &Path| hostcheck::run(&[CheckKind::DataUnchanged], disk, &image, &e);
    assert!(check(&disk)[0].passed, "{:?}", check(&disk));
    // One byte in the middle of the partition, where no file lives.
    let p = partition(&disk, "ubuntu-data");
    let file = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"x", p.offset + p.size / 2).unwrap();
    let v = check(&disk);
    assert!(
        !v[0].passed && v[0].detail.contains("bytes changed"),
        "{v:?}"
    );
    let none = hostcheck::run(&[CheckKind::DataUnchanged], &disk, &image, &expected());
    assert!(none[0].detail.contains("no digest"), "{none:?}");
}

#[test]
fn boot_state_sees_a_second_grubenv_copy_left_behind() {
    if !ready() {
        return;
    }
    let v = verdicts(|d| mtools_put(d, "ubuntu-boot", &boot_env("try"), "EFI/ubuntu/grubenv2"));
    assert_fails(&v, "boot-state", "EFI/ubuntu/grubenv2 is");
}

#[test]
fn rogue_unchanged_compares_every_byte_of_the_rogue_disk() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path());
    let rogue =
        snapsmith::qemu::rogue::write_rogue_disk(dir.path(), &DiskReader::open(&image).unwrap())
            .unwrap();
    // Named and labelled like the device's own partitions, with a modeenv and base of its own.
    let table = diskread::sfdisk_json(&rogue.path).unwrap();
    for name in ["ubuntu-seed", "ubuntu-boot", "ubuntu-data"] {
        assert!(table.contains(&format!("\"name\": \"{name}\"")), "{table}");
    }
    let data = DiskReader::open(&rogue.path)
        .unwrap()
        .ext4("ubuntu-data")
        .unwrap();
    let modeenv = diskread::ext4_file(&data, "system-data/var/lib/snapd/modeenv").unwrap();
    assert!(
        String::from_utf8(modeenv.unwrap())
            .unwrap()
            .contains("base=core_666.snap")
    );
    assert_eq!(
        diskread::ext4_file(&data, &format!("{SNAPS}/core_666.snap")).unwrap(),
        Some(b"base".to_vec())
    );
    let e = Expected {
        rogue: Some(rogue.clone()),
        ..expected()
    };
    let check = || hostcheck::run(&[CheckKind::RogueUnchanged], &image, &image, &e);
    assert!(check()[0].passed, "{:?}", check());
    // One byte where no file lives, as a mount's superblock update would change one.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&rogue.path)
        .unwrap();
    let size = file.metadata().unwrap().len();
    std::os::unix::fs::FileExt::write_all_at(&file, b"x", size / 2).unwrap();
    let v = check();
    assert!(
        !v[0].passed && v[0].detail.contains("rogue disk's bytes changed"),
        "{v:?}"
    );
    let none = hostcheck::run(&[CheckKind::RogueUnchanged], &image, &image, &expected());
    assert!(none[0].detail.contains("no rogue disk"), "{none:?}");
}
