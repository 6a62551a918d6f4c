//! `snapsmith inspect` reads back what the writer wrote: table, partitions, filesystems, files.

mod support;

use serde_json::Value;
use snapsmith::plan::*;
use support::disk::*;

fn inspect_json(image: &std::path::Path) -> Value {
    support::fixtures::cli_json(&["inspect", "--json"], image)
}

fn check(schema: Schema, sector_size: u64) {
    let inputs = Inputs::new();
    let dir = tempfile::tempdir().unwrap();
    let volume = pc_volume(&inputs, schema, sector_size);
    let image = write(&volume, dir.path()).unwrap();
    let report = inspect_json(&image);
    let table = &report["table"];
    assert_eq!(table["sector_size"], sector_size, "{report:#}");
    match volume.disk_id {
        DiskId::Gpt(id) => {
            assert_eq!(table["kind"], "gpt");
            assert_eq!(table["disk_id"], uuid_upper(&id));
        }
        DiskId::Mbr(sig) => {
            assert_eq!(table["kind"], "mbr");
            assert_eq!(table["disk_id"], format!("0x{sig:08x}"));
        }
    }
    let parts = report["partitions"].as_array().unwrap();
    let planned = planned_partitions(&volume);
    assert_eq!(parts.len(), planned.len());
    for (p, s) in parts.iter().zip(planned) {
        let entry = s.partition.as_ref().unwrap();
        assert_eq!(p["number"], entry.number);
        assert_eq!(p["offset"], s.offset);
        assert_eq!(p["size"], s.size);
        match &entry.kind {
            PartitionKind::Gpt {
                type_guid,
                name,
                unique_guid,
            } => {
                assert_eq!(p["name"], name.as_str());
                assert_eq!(p["type"], uuid_upper(type_guid));
                assert_eq!(p["uuid"], uuid_upper(unique_guid));
            }
            PartitionKind::Mbr {
                type_byte,
                bootable,
            } => {
                assert_eq!(p["type"], format!("{type_byte:02x}"));
                assert_eq!(p["bootable"], *bootable);
            }
        }
        let fs = &p["filesystem"];
        match &s.content {
            StructureContent::Filesystem(plan) => {
                assert_eq!(fs["label"], plan.label.as_deref().unwrap(), "{p:#}");
                if plan.kind == FsKind::Ext4 {
                    assert_eq!(fs["type"], "ext4");
                    assert_eq!(fs["uuid"], plan.uuid.to_string());
                    continue;
                }
                assert_eq!(fs["type"], "vfat");
                let files = fs["files"].as_array().unwrap();
                let planned: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
                let mut listed: Vec<&str> =
                    files.iter().map(|f| f["path"].as_str().unwrap()).collect();
                let mut sorted = planned.clone();
                sorted.sort();
                listed.sort();
                assert_eq!(listed, sorted);
                let efi = files
                    .iter()
                    .find(|f| f["path"] == "EFI/BOOT/BOOTX64.EFI")
                    .unwrap();
                assert_eq!(efi["size"], 700_001);
                assert_eq!(efi["directory"], false);
            }
            _ => assert!(fs.is_null(), "{p:#}"),
        }
    }
}

#[test]
fn inspect_reads_back_gpt_512() {
    if support::have_tools(&["mke2fs", "debugfs"]) {
        check(Schema::Gpt, 512);
    }
}

#[test]
fn inspect_reads_back_mbr_4096() {
    if support::have_tools(&["mke2fs", "debugfs"]) {
        check(Schema::Mbr, 4096);
    }
}

#[test]
fn inspect_reads_back_gpt_4096_as_text() {
    if !support::have_tools(&["mke2fs", "debugfs"]) {
        return;
    }
    let inputs = Inputs::new();
    let dir = tempfile::tempdir().unwrap();
    let image = write(&pc_volume(&inputs, Schema::Gpt, 4096), dir.path()).unwrap();
    let out = support::snapsmith()
        .arg("inspect")
        .arg(&image)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("GPT, 4096-byte sectors"), "{text}");
    assert!(
        text.contains("vfat (FAT16) label \"ubuntu-seed\""),
        "{text}"
    );
    assert!(text.contains("ext4 label \"ubuntu-data\""), "{text}");
    assert!(text.contains("EFI/ubuntu/grubenv (1024 bytes)"), "{text}");
}

#[test]
fn inspect_errors_and_plain_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.img");
    let out = support::snapsmith()
        .arg("inspect")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: opening ") && err.contains("missing.img"),
        "{err}"
    );

    let plain = dir.path().join("zeros.img");
    std::fs::File::create(&plain).unwrap().set_len(MIB).unwrap();
    let report = inspect_json(&plain);
    assert!(report["table"].is_null());
    assert_eq!(report["partitions"].as_array().unwrap().len(), 0);

    // A damaged backup GPT header is reported, not silently ignored.
    let inputs = Inputs::new();
    let image = write(&pc_volume(&inputs, Schema::Gpt, 512), dir.path()).unwrap();
    let len = std::fs::metadata(&image).unwrap().len();
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap();
    f.write_all_at(b"XXXX", len - 512 + 16).unwrap();
    let out = support::snapsmith()
        .arg("inspect")
        .arg(&image)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GPT"));
}
