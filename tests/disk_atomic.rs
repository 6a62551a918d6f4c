//! The writer's promises about the output path: identical bytes for the same plan, nothing left
//! behind on failure (or the partial file, when asked), refusal before writing of plans that
//! would break the partition table.

mod common;
mod disk_common;

use disk_common::*;
use sha2::{Digest, Sha256};
use snapsmith::disk::{NoProgress, WriteOptions, write_image};
use snapsmith::plan::*;
use std::path::Path;

fn digest(path: &Path) -> Vec<u8> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finalize().to_vec()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn plan(volume: VolumePlan) -> ImagePlan {
    ImagePlan {
        volumes: vec![volume],
    }
}

#[test]
fn same_plan_gives_identical_bytes() {
    if !common::have_tools("same_plan_gives_identical_bytes", &["mke2fs"]) {
        return;
    }
    let inputs = Inputs::new();
    for schema in [Schema::Gpt, Schema::Mbr] {
        let volume = pc_volume(&inputs, schema, 512);
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = write(&volume, a.path()).unwrap();
        // A second later on the wall clock must not matter either.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = write(&volume, b.path()).unwrap();
        if digest(&first) != digest(&second) {
            let keep = std::env::temp_dir().join("snapsmith-repro");
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&first, keep.join("a.img")).unwrap();
            std::fs::copy(&second, keep.join("b.img")).unwrap();
            panic!("{schema:?}: images differ (copies in {})", keep.display());
        }
        // Sparse: far fewer blocks allocated than the 131 MiB image size.
        use std::os::unix::fs::MetadataExt;
        let allocated = std::fs::metadata(&first).unwrap().blocks() * 512;
        assert!(allocated < 40 * MIB, "{allocated} bytes allocated");
    }
}

#[test]
fn failure_mid_write_leaves_nothing() {
    if !common::have_tools("failure_mid_write_leaves_nothing", &["mke2fs"]) {
        return;
    }
    let inputs = Inputs::new();
    let mut volume = pc_volume(&inputs, Schema::Gpt, 512);
    // The ext4 partition comes last; give it more content than it can hold so mke2fs fails
    // after the vfat filesystems have been written.
    let big = inputs.dir.path().join("big");
    std::fs::write(&big, pattern(40 << 20, 9)).unwrap();
    let StructureContent::Filesystem(fs) = &mut volume.structures[4].content else {
        panic!("structure 4 is ubuntu-data");
    };
    fs.files.push(FileEntry {
        path: "big".into(),
        source: FileSource::File(big),
    });
    let out = tempfile::tempdir().unwrap();
    let err = write(&volume, out.path()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("ubuntu-data") && msg.contains("mke2fs"),
        "{msg}"
    );
    assert!(entries(out.path()).is_empty(), "{:?}", entries(out.path()));

    let opts = WriteOptions {
        keep_failed: true,
        build_time: 0,
        progress: &NoProgress,
    };
    let err = write_image(&plan(volume), out.path(), &opts).unwrap_err();
    let kept = entries(out.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].starts_with(".pc.img.") && kept[0].ends_with(".partial"));
    assert!(format!("{err:#}").contains(&kept[0]), "{err:#}");
    assert!(!out.path().join("pc.img").exists());
}

fn refused(volume: VolumePlan, expect: &str) {
    let out = tempfile::tempdir().unwrap();
    let err = write(&volume, out.path()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(expect), "expected {expect:?} in: {msg}");
    assert!(entries(out.path()).is_empty());
}

#[test]
fn plans_that_would_break_the_table_are_refused() {
    let inputs = Inputs::new();
    let base = pc_volume(&inputs, Schema::Gpt, 512);

    let mut v = base.clone();
    v.structures[1].offset = 8192;
    refused(v, "overlaps the GPT partition table areas");

    let mut v = base.clone();
    v.size = 130 * MIB;
    refused(v, "ubuntu-data (102760448..136314880) overlaps the GPT");

    let mut v = base.clone();
    v.structures[0].size = 447;
    refused(v, "at most 446 bytes");

    let mut v = base.clone();
    v.offset_writes[0].at = 450;
    refused(v, "offset-write at 450 would overwrite the partition table");

    let mut v = pc_volume(&inputs, Schema::Mbr, 512);
    v.offset_writes[0].at = 1000;
    write(&v, tempfile::tempdir().unwrap().path()).unwrap();
    v.offset_writes[0].at = 508;
    refused(v, "would overwrite the partition table");
}

#[test]
fn unfit_filesystems_are_refused_before_writing() {
    let inputs = Inputs::new();
    let mut v = pc_volume(&inputs, Schema::Gpt, 512);
    let StructureContent::Filesystem(fs) = &mut v.structures[3].content else {
        panic!("structure 3 is ubuntu-boot");
    };
    fs.kind = FsKind::Vfat32;
    refused(v, "vfat-32 needs at least 33 MiB");

    let mut v = pc_volume(&inputs, Schema::Gpt, 4096);
    let StructureContent::Filesystem(fs) = &mut v.structures[2].content else {
        panic!("structure 2 is ubuntu-seed");
    };
    fs.kind = FsKind::Vfat32;
    refused(v, "vfat-32 needs at least 257 MiB with 4096-byte sectors");

    let mut v = pc_volume(&inputs, Schema::Gpt, 512);
    let StructureContent::Filesystem(fs) = &mut v.structures[2].content else {
        panic!("structure 2 is ubuntu-seed");
    };
    fs.label = Some("much-too-long".into());
    refused(v, "longer than 11 bytes");
}

#[test]
fn missing_raw_source_is_reported() {
    let inputs = Inputs::new();
    let mut v = pc_volume(&inputs, Schema::Gpt, 512);
    let StructureContent::Raw(images) = &mut v.structures[1].content else {
        panic!("structure 1 is BIOS Boot");
    };
    images[0].source = inputs.dir.path().join("missing.img");
    refused(v, "missing.img");
}
