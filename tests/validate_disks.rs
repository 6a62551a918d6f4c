//! The update disk the validator attaches: a GPT disk whose vfat partition named
//! `snapsmith-update` holds update.yaml and the snap files byte for byte (read back through
//! fatfs and checked by sfdisk and fsck.vfat).

mod common;

use snapsmith::boot::update::{Manifest, Then};
use snapsmith::exec::Cmd;
use snapsmith::qemu::disks;
use std::io::Read;

const MIB: u64 = 1024 * 1024;

#[test]
fn update_disk_holds_manifest_and_snaps() {
    if !common::have_tools(
        "update_disk_holds_manifest_and_snaps",
        &["sfdisk", "fsck.vfat"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Content that is not a multiple of any cluster size and spans many clusters.
    let snap = dir.path().join("thing_2.snap");
    let bytes: Vec<u8> = (0..3_000_123u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&snap, &bytes).unwrap();
    let manifest = Manifest {
        snaps: vec!["thing_2.snap".into()],
        then: Some(Then::Poweroff),
        ..Manifest::default()
    };
    let disk = disks::write_update_disk(dir.path(), "update", &manifest, &[snap]).unwrap();
    let table = Cmd::new("sfdisk")
        .arg("--dump")
        .arg(&disk)
        .run_string()
        .unwrap();
    assert!(table.contains("name=\"snapsmith-update\""), "{table}");
    let file = std::fs::File::open(&disk).unwrap();
    let size = file.metadata().unwrap().len() - 2 * MIB;
    let window = snapsmith::window::Window::new(&file, MIB, size);
    let fs = fatfs::FileSystem::new(window, fatfs::FsOptions::new()).unwrap();
    let read = |name: &str| {
        let mut out = Vec::new();
        fs.root_dir()
            .open_file(name)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    assert_eq!(read("thing_2.snap"), bytes);
    let text = String::from_utf8(read("update.yaml")).unwrap();
    let written = Manifest::parse(&text).unwrap();
    // The disk writer adds the snaps' digests (the guest then need not hash them).
    let digest = snapsmith::snap::digest(&dir.path().join("thing_2.snap")).unwrap();
    assert_eq!(written.digests["thing_2.snap"], digest.sha3_384);
    assert_eq!(written.snaps, manifest.snaps);
    assert_eq!(written.then, manifest.then);
    // fsck.vfat on the partition's bytes.
    let part = dir.path().join("part.img");
    let all = std::fs::read(&disk).unwrap();
    let start = usize::try_from(MIB).unwrap();
    std::fs::write(&part, &all[start..start + usize::try_from(size).unwrap()]).unwrap();
    Cmd::new("fsck.vfat").arg("-n").arg(&part).run().unwrap();
}
