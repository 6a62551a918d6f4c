//! Filesystems written in place: neighbouring bytes untouched, labels and ids where blkid and
//! fatfs look for them, FAT type chosen as asked.

mod support;

use snapsmith::fs::FsOptions;
use snapsmith::plan::*;
use snapsmith::repro::derive_uuid;
use std::os::unix::fs::FileExt;
use std::path::Path;
use support::disk::*;

const OFFSET: u64 = 3 * MIB;
const SIZE: u64 = 40 * MIB;
const IMAGE: u64 = 48 * MIB;
const FILL: u8 = 0xA5;

fn opts() -> FsOptions<'static> {
    FsOptions::new(1_700_000_000)
}

/// An image whose every byte outside the partition is FILL.
fn patterned(dir: &Path) -> (std::path::PathBuf, std::fs::File) {
    let path = dir.join("disk.img");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(IMAGE).unwrap();
    let fill = vec![FILL; usize::try_from(MIB).unwrap()];
    for mib in 0..IMAGE / MIB {
        let at = mib * MIB;
        if !(OFFSET..OFFSET + SIZE).contains(&at) {
            file.write_all_at(&fill, at).unwrap();
        }
    }
    (path, file)
}

fn assert_neighbours_untouched(path: &Path) {
    for (start, end) in [(0, OFFSET), (OFFSET + SIZE, IMAGE)] {
        let bytes = read_at(path, start, usize::try_from(end - start).unwrap());
        let bad = bytes.iter().position(|b| *b != FILL);
        assert_eq!(
            bad,
            None,
            "byte {} changed",
            start + bad.unwrap_or(0) as u64
        );
    }
}

fn plan(kind: FsKind, label: &str, files: Vec<FileEntry>) -> FilesystemPlan {
    FilesystemPlan {
        kind,
        label: Some(label.into()),
        uuid: "a1b2c3d4-0000-5000-8000-000000000001".parse().unwrap(),
        hash_seed: derive_uuid(&[b"seed"]),
        files,
    }
}

fn blkid(path: &Path, offset: u64) -> String {
    run(
        "blkid",
        &[
            "-p",
            "-o",
            "export",
            "-O",
            &offset.to_string(),
            path.to_str().unwrap(),
        ],
    )
}

#[test]
fn ext4_stays_inside_its_partition() {
    if !support::have_tools(&["mke2fs", "e2fsck", "debugfs", "dumpe2fs", "blkid"]) {
        return;
    }
    let inputs = Inputs::new();
    let dir = tempfile::tempdir().unwrap();
    let (path, _file) = patterned(dir.path());
    let fs = plan(FsKind::Ext4, "ubuntu-data", data_files(&inputs));
    snapsmith::fs::ext4::write(&path, OFFSET, SIZE, &fs, &opts()).unwrap();
    assert_neighbours_untouched(&path);
    e2fsck(&path, OFFSET, SIZE);
    let ids = blkid(&path, OFFSET);
    assert!(ids.contains("TYPE=ext4"), "{ids}");
    assert!(ids.contains("LABEL=ubuntu-data"), "{ids}");
    assert!(ids.contains(&format!("UUID={}", fs.uuid)), "{ids}");
    let device = format!("{}?offset={OFFSET}", path.display());
    let sb = run("dumpe2fs", &["-h", &device]);
    assert!(
        sb.contains(&format!("Directory Hash Seed:      {}", fs.hash_seed)),
        "{sb}"
    );
    assert!(sb.contains("Block count:              10240"), "{sb}");
    assert!(
        !sb.contains("metadata_csum_seed") && !sb.contains("orphan_file"),
        "{sb}"
    );
    let stat = run("debugfs", &["-R", "stat /system-data/var/modeenv", &device]);
    assert!(stat.contains("ctime: 0x6553f100:00000000"), "{stat}");
    assert!(stat.contains("mtime: 0x6553f100:00000000"), "{stat}");
}

#[test]
fn vfat_stays_inside_its_partition_with_label_in_both_places() {
    if !support::have_tools(&["fsck.vfat", "blkid"]) {
        return;
    }
    let inputs = Inputs::new();
    for (kind, fat32) in [
        (FsKind::Vfat32, true),
        (FsKind::Vfat16, false),
        (FsKind::Vfat, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = patterned(dir.path());
        let fs = plan(kind, "ubuntu-seed", esp_files(&inputs));
        snapsmith::fs::vfat::write(&file, OFFSET, SIZE, 512, &fs, &opts()).unwrap();
        assert_neighbours_untouched(&path);
        fsck_vfat(&path, OFFSET, SIZE);
        let ids = blkid(&path, OFFSET);
        assert!(ids.contains("LABEL=ubuntu-seed"), "{ids}");
        assert!(ids.contains("UUID=A1B2-C3D4"), "{ids}");
        let version = if fat32 {
            "VERSION=FAT32"
        } else {
            "VERSION=FAT16"
        };
        assert!(ids.contains(version), "{kind:?}: {ids}");

        // The boot sector records where the partition starts, in sectors.
        let boot = read_at(&path, OFFSET, 512);
        assert_eq!(
            u32::from_le_bytes(boot[0x1C..0x20].try_into().unwrap()),
            6144
        );
        let window = snapsmith::window::Window::new(&file, OFFSET, SIZE);
        let fat = fatfs::FileSystem::new(window, fatfs::FsOptions::new()).unwrap();
        assert_eq!(fat.volume_label(), "ubuntu-seed");
        assert_eq!(
            fat.read_volume_label_from_root_dir().unwrap().as_deref(),
            Some("ubuntu-seed")
        );
        assert_eq!(fat.volume_id(), 0xa1b2_c3d4);
        let entry = fat
            .root_dir()
            .open_dir("EFI/ubuntu")
            .unwrap()
            .iter()
            .map(Result::unwrap)
            .find(|e| e.file_name() == "grubenv")
            .unwrap();
        assert_eq!(entry.len(), 1024);
        let m = entry.modified();
        assert_eq!((m.date.year, m.date.month, m.date.day), (2023, 11, 14));
        assert_eq!((m.time.hour, m.time.min, m.time.sec), (22, 13, 20));
    }
}

#[test]
fn vfat_with_4096_byte_sectors() {
    if !support::have_tools(&["fsck.vfat", "mcopy"]) {
        return;
    }
    let inputs = Inputs::new();
    let dir = tempfile::tempdir().unwrap();
    let (path, file) = patterned(dir.path());
    let fs = plan(FsKind::Vfat, "ubuntu-boot", esp_files(&inputs));
    snapsmith::fs::vfat::write(&file, OFFSET, SIZE, 4096, &fs, &opts()).unwrap();
    assert_neighbours_untouched(&path);
    fsck_vfat(&path, OFFSET, SIZE);
    let boot = read_at(&path, OFFSET, 512);
    assert_eq!(u16::from_le_bytes([boot[11], boot[12]]), 4096);
    assert_eq!(
        support::fixtures::vfat_file(&path, OFFSET, "/EFI/BOOT/BOOTX64.EFI"),
        std::fs::read(&inputs.efi).unwrap()
    );
}

/// Set in the child process of [`ext4_written_without_root_is_root_owned`].
const UNPRIVILEGED: &str = "SNAPSMITH_TEST_UNPRIVILEGED_DIR";

/// Written by an unprivileged user, the ext4 files still belong to root and fsck is clean. As
/// root, the test re-runs itself as `nobody` through setpriv.
#[test]
fn ext4_written_without_root_is_root_owned() {
    let name = "ext4_written_without_root_is_root_owned";
    if !support::have_tools(&["mke2fs", "debugfs", "e2fsck", "setpriv"]) {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let dir = match std::env::var_os(UNPRIVILEGED) {
        Some(dir) => std::path::PathBuf::from(dir),
        None if root => {
            use std::os::unix::fs::PermissionsExt;
            let work = tempfile::tempdir().unwrap();
            std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
            // A copy of this test binary, so `nobody` can run it wherever the build tree is.
            let exe = work.path().join("test-binary");
            std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            let status = std::process::Command::new(snapsmith::exec::require("setpriv").unwrap())
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&exe)
                .args(["--exact", name, "--nocapture"])
                .env(UNPRIVILEGED, work.path())
                .status()
                .unwrap();
            assert!(status.success(), "unprivileged run: {status}");
            return;
        }
        None => tempfile::tempdir().unwrap().keep(),
    };
    assert_ne!(
        unsafe { libc::geteuid() },
        0,
        "this part must run unprivileged"
    );
    let inputs = Inputs::new();
    let path = dir.join("disk.img");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(IMAGE)
        .unwrap();
    let fs = plan(FsKind::Ext4, "ubuntu-data", data_files(&inputs));
    snapsmith::fs::ext4::write(&path, OFFSET, SIZE, &fs, &opts()).unwrap();
    e2fsck(&path, OFFSET, SIZE);
    let device = format!("{}?offset={OFFSET}", path.display());
    for file in [
        "/system-data",
        "/system-data/var/kernel",
        "/system-data/current",
        "/",
    ] {
        let stat = run("debugfs", &["-R", &format!("stat {file}"), &device]);
        assert!(
            stat.contains("User:     0   Group:     0"),
            "{file}: {stat}"
        );
    }
}
