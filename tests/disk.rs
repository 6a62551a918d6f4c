//! Disk writer tests: images checked with sfdisk, fdisk, fsck.vfat, e2fsck, mtools and debugfs.

mod support;

use snapsmith::plan::*;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use support::disk::*;

const TOOLS: &[&str] = &[
    "sfdisk",
    "fdisk",
    "fsck.vfat",
    "e2fsck",
    "mcopy",
    "mdir",
    "debugfs",
    "mke2fs",
];

use support::fixtures::{sfdisk_table as sfdisk, vfat_file};

/// Every filesystem is clean and its files read back byte-identical.
fn check_contents(image: &Path, volume: &VolumePlan, inputs: &Inputs) {
    let dir = tempfile::tempdir().unwrap();
    for s in &volume.structures {
        let StructureContent::Filesystem(fs) = &s.content else {
            continue;
        };
        match fs.kind {
            FsKind::Ext4 => {
                e2fsck(image, s.offset, s.size);
                let device = format!("{}?offset={}", image.display(), s.offset);
                let out = dir.path().join("kernel");
                let dump = format!("dump /system-data/var/kernel {}", out.display());
                run("debugfs", &["-R", &dump, &device]);
                assert_eq!(
                    std::fs::read(&out).unwrap(),
                    std::fs::read(&inputs.kernel).unwrap()
                );
                let stat = run("debugfs", &["-R", "stat /system-data/current", &device]);
                assert!(stat.contains("Fast link dest: \"var/kernel\""), "{stat}");
                assert!(stat.contains("User:     0   Group:     0"), "{stat}");
            }
            _ => {
                fsck_vfat(image, s.offset, s.size);
                for (inside, host) in [
                    ("::/EFI/BOOT/BOOTX64.EFI", &inputs.efi),
                    (
                        "::/systems/20240101/a-rather-long-file-name.vmlinuz",
                        &inputs.kernel,
                    ),
                ] {
                    assert_eq!(
                        vfat_file(image, s.offset, inside),
                        std::fs::read(host).unwrap()
                    );
                }
                let at = format!("{}@@{}", image.display(), s.offset);
                let listing = run("mdir", &["-i", &at, "::/EFI/ubuntu"]);
                assert!(
                    listing.contains("grubenv") && listing.contains(" 1024 "),
                    "{listing}"
                );
            }
        }
    }
}

fn check_blob_and_offset_write(image: &Path, volume: &VolumePlan, inputs: &Inputs) {
    let head = read_at(image, 0, 512);
    let mut expected = std::fs::read(&inputs.mbr).unwrap();
    let lba = u32::try_from(MIB / volume.sector_size.bytes()).unwrap();
    expected[92..96].copy_from_slice(&lba.to_le_bytes());
    assert_eq!(
        &head[..440],
        &expected[..],
        "mbr blob with the offset-write"
    );
    assert_eq!(&head[510..], &[0x55, 0xAA]);
    let bios = read_at(image, MIB, 100_000);
    assert_eq!(bios, std::fs::read(&inputs.bios).unwrap());
}

#[test]
fn gpt_512_agrees_with_sfdisk() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let inputs = Inputs::new();
    let out = tempfile::tempdir().unwrap();
    let volume = pc_volume(&inputs, Schema::Gpt, 512);
    let image = write(&volume, out.path()).unwrap();
    assert_eq!(image, out.path().join("pc.img"));
    let table = sfdisk(&image);
    assert_eq!(table["label"], "gpt");
    let DiskId::Gpt(disk) = volume.disk_id else {
        unreachable!()
    };
    assert_eq!(table["id"], uuid_upper(&disk));
    assert_eq!(table["sectorsize"], 512);
    assert_eq!(table["firstlba"], 34);
    assert_eq!(table["lastlba"], 131 * MIB / 512 - 34);
    let parts = table["partitions"].as_array().unwrap();
    let planned = planned_partitions(&volume);
    assert_eq!(parts.len(), planned.len());
    for (p, s) in parts.iter().zip(planned) {
        let Some(PartitionEntry {
            kind:
                PartitionKind::Gpt {
                    type_guid,
                    unique_guid,
                    name,
                },
            ..
        }) = &s.partition
        else {
            unreachable!()
        };
        assert_eq!(p["start"], s.offset / 512, "{p}");
        assert_eq!(p["size"], s.size / 512, "{p}");
        assert_eq!(p["type"], uuid_upper(type_guid), "{p}");
        assert_eq!(p["uuid"], uuid_upper(unique_guid), "{p}");
        assert_eq!(p["name"], name.as_str(), "{p}");
    }
    // sfdisk --verify also checks the backup header and entry array.
    let verify = run("sfdisk", &["--verify", image.to_str().unwrap()]);
    assert!(verify.contains("No errors detected"), "{verify}");
    check_blob_and_offset_write(&image, &volume, &inputs);
    check_contents(&image, &volume, &inputs);
}

#[test]
fn mbr_512_agrees_with_sfdisk() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let inputs = Inputs::new();
    let out = tempfile::tempdir().unwrap();
    let volume = pc_volume(&inputs, Schema::Mbr, 512);
    let image = write(&volume, out.path()).unwrap();
    let table = sfdisk(&image);
    assert_eq!(table["label"], "dos");
    assert_eq!(table["id"], "0x1234abcd");
    let parts = table["partitions"].as_array().unwrap();
    let planned = planned_partitions(&volume);
    assert_eq!(parts.len(), 4);
    for (p, s) in parts.iter().zip(planned) {
        let Some(PartitionEntry {
            kind:
                PartitionKind::Mbr {
                    type_byte,
                    bootable,
                },
            ..
        }) = &s.partition
        else {
            unreachable!()
        };
        assert_eq!(p["start"], s.offset / 512, "{p}");
        assert_eq!(p["size"], s.size / 512, "{p}");
        assert_eq!(p["type"], format!("{type_byte:x}"), "{p}");
        assert_eq!(
            p.get("bootable").is_some_and(|b| b == true),
            *bootable,
            "{p}"
        );
    }
    check_blob_and_offset_write(&image, &volume, &inputs);
    check_contents(&image, &volume, &inputs);
}

/// `fdisk -b 4096 -l` rows: (device, start, end, sectors, type text).
fn fdisk_4096(image: &Path) -> (String, Vec<Vec<String>>) {
    let text = run("fdisk", &["-b", "4096", "-l", image.to_str().unwrap()]);
    let name = image.to_str().unwrap();
    let rows = text
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with(&format!("{name}:")))
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    (text, rows)
}

fn check_4096(schema: Schema) {
    let inputs = Inputs::new();
    let out = tempfile::tempdir().unwrap();
    let volume = pc_volume(&inputs, schema, 4096);
    let image = write(&volume, out.path()).unwrap();
    let (text, rows) = fdisk_4096(&image);
    assert!(
        text.contains("Sector size (logical/physical): 4096 bytes"),
        "{text}"
    );
    let planned = planned_partitions(&volume);
    assert_eq!(rows.len(), planned.len(), "{text}");
    for (row, s) in rows.iter().zip(&planned) {
        // MBR rows carry a boot column ("*" or nothing) before Start.
        let cols: Vec<&String> = row.iter().filter(|c| *c != "*").collect();
        let start = s.offset / 4096;
        let sectors = s.size / 4096;
        assert_eq!(cols[1], &start.to_string(), "{text}");
        assert_eq!(cols[2], &(start + sectors - 1).to_string(), "{text}");
        assert_eq!(cols[3], &sectors.to_string(), "{text}");
    }
    match schema {
        Schema::Gpt => {
            assert!(text.contains("Disklabel type: gpt"), "{text}");
            let DiskId::Gpt(disk) = volume.disk_id else {
                unreachable!()
            };
            assert!(text.contains(&uuid_upper(&disk)), "{text}");
            assert!(
                text.contains("EFI System") && text.contains("BIOS boot"),
                "{text}"
            );
            assert!(
                !text.contains("corrupt") && !text.contains("mismatch"),
                "{text}"
            );
        }
        Schema::Mbr => {
            assert!(text.contains("Disklabel type: dos"), "{text}");
            assert!(text.contains("Disk identifier: 0x1234abcd"), "{text}");
            let boot: Vec<_> = rows.iter().map(|r| r[1] == "*").collect();
            assert_eq!(boot, [false, false, true, false], "{text}");
        }
    }
    check_blob_and_offset_write(&image, &volume, &inputs);
    check_contents(&image, &volume, &inputs);
}

#[test]
fn gpt_4096_agrees_with_fdisk() {
    if support::have_tools(TOOLS) {
        check_4096(Schema::Gpt);
    }
}

#[test]
fn mbr_4096_agrees_with_fdisk() {
    if support::have_tools(TOOLS) {
        check_4096(Schema::Mbr);
    }
}

/// Progress hears of the volume, each step, and every content byte copied (structures are
/// written side by side, so from several threads).
#[derive(Default)]
struct Recorder {
    volumes: Mutex<Vec<(String, u64)>>,
    steps: Mutex<Vec<String>>,
    bytes: AtomicU64,
    took: Mutex<Vec<String>>,
}

impl snapsmith::disk::Progress for Recorder {
    fn volume(&self, name: &str, bytes: u64) {
        self.volumes.lock().unwrap().push((name.into(), bytes));
    }
    fn step(&self, what: &str) {
        self.steps.lock().unwrap().push(what.into());
    }
    fn advance(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn took(&self, part: &str, _seconds: f64) {
        self.took.lock().unwrap().push(part.into());
    }
}

#[test]
fn progress_reports_steps_and_bytes() {
    if !support::have_tools(&["mke2fs", "debugfs"]) {
        return;
    }
    let inputs = Inputs::new();
    let volume = pc_volume(&inputs, Schema::Gpt, 512);
    let recorder = Recorder::default();
    let opts = snapsmith::disk::WriteOptions {
        build_time: 0,
        progress: &recorder,
    };
    let out = tempfile::tempdir().unwrap();
    let plan = ImagePlan {
        volumes: vec![volume],
    };
    snapsmith::disk::write_image(snapsmith::disk::check(&plan).unwrap(), out.path(), &opts)
        .unwrap();
    // 440 (mbr) + 100000 (BIOS boot) + twice the ESP files + the ext4 files.
    let esp = 700_001 + 1024 + 14 + 3_000_000;
    let total = 440 + 100_000 + 2 * esp + 3_000_000 + 9;
    assert_eq!(
        *recorder.volumes.lock().unwrap(),
        [("pc".to_string(), total)]
    );
    assert_eq!(recorder.bytes.load(Ordering::Relaxed), total);
    // The table first; the structures in any order, as they ran side by side.
    let mut steps = recorder.steps.lock().unwrap().clone();
    assert_eq!(steps.remove(0), "partition table");
    steps.sort();
    assert_eq!(
        steps,
        [
            "BIOS Boot (raw)",
            "mbr (raw)",
            "ubuntu-boot (vfat-16)",
            "ubuntu-data (ext4)",
            "ubuntu-seed (vfat)",
        ]
    );
    // Each structure's time is reported, in plan order.
    let took = recorder.took.lock().unwrap().clone();
    assert!(took.len() >= steps.len(), "{took:?}");
    assert_eq!(took[0], "pc.img mbr");
}

/// A 446-byte mbr blob fills the boot code area up to the table and the table survives it;
/// several raw images land at their offsets inside a structure.
#[test]
fn full_size_mbr_blob_and_several_raw_images() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let inputs = Inputs::new();
    let blob = inputs.dir.path().join("blob446");
    std::fs::write(&blob, pattern(446, 11)).unwrap();
    let second = inputs.dir.path().join("second");
    std::fs::write(&second, pattern(5000, 12)).unwrap();
    let mut volume = pc_volume(&inputs, Schema::Mbr, 512);
    volume.offset_writes.clear();
    volume.structures[0].size = 446;
    volume.structures[0].content = StructureContent::Raw(vec![RawImage {
        source: blob,
        offset: 0,
        size: 446,
    }]);
    let StructureContent::Raw(images) = &mut volume.structures[1].content else {
        panic!("structure 1 is BIOS Boot");
    };
    images.push(RawImage {
        source: second,
        offset: 200_704,
        size: 8192,
    });
    let out = tempfile::tempdir().unwrap();
    let image = write(&volume, out.path()).unwrap();
    assert_eq!(read_at(&image, 0, 446), pattern(446, 11));
    let table = sfdisk(&image);
    assert_eq!(table["partitions"].as_array().unwrap().len(), 4, "{table}");
    assert_eq!(
        read_at(&image, MIB, 100_000),
        std::fs::read(&inputs.bios).unwrap()
    );
    assert_eq!(read_at(&image, MIB + 100_000, 100_704), vec![0; 100_704]);
    assert_eq!(read_at(&image, MIB + 200_704, 5000), pattern(5000, 12));
    assert_eq!(read_at(&image, MIB + 205_704, 3192), vec![0; 3192]);
}
