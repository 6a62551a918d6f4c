//! Plans for the disk writer tests, built directly as `VolumePlan`s, and helpers to run the
//! canonical tools on the images they produce.
#![allow(dead_code)]

use snapsmith::exec::Cmd;
use snapsmith::plan::*;
use snapsmith::repro::derive_uuid;
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub const MIB: u64 = 1 << 20;
pub const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
pub const BIOS_BOOT: &str = "21686148-6449-6e6f-744e-656564454649";
pub const LINUX: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";

/// Deterministic pseudo-random bytes (xorshift), so content is not trivially compressible.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Host files the plans copy from.
pub struct Inputs {
    pub dir: tempfile::TempDir,
    pub mbr: PathBuf,
    pub bios: PathBuf,
    pub efi: PathBuf,
    pub kernel: PathBuf,
}

impl Inputs {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: Vec<u8>| {
            let path = dir.path().join(name);
            std::fs::File::create(&path)
                .unwrap()
                .write_all(&bytes)
                .unwrap();
            path
        };
        let mut mbr = pattern(440, 1);
        mbr[..2].copy_from_slice(&[0xEB, 0x63]);
        Inputs {
            mbr: write("pc-boot.img", mbr),
            bios: write("pc-core.img", pattern(100_000, 2)),
            efi: write("grubx64.efi", pattern(700_001, 3)),
            kernel: write("vmlinuz", pattern(3_000_000, 4)),
            dir,
        }
    }
}

pub fn gpt_kind(ty: &str, name: &str, n: u32) -> PartitionKind {
    PartitionKind::Gpt {
        type_guid: ty.parse().unwrap(),
        unique_guid: derive_uuid(&[b"test-part", name.as_bytes(), &n.to_le_bytes()]),
        name: name.into(),
    }
}

fn fs_plan(kind: FsKind, label: &str, files: Vec<FileEntry>) -> StructureContent {
    StructureContent::Filesystem(FilesystemPlan {
        kind,
        label: Some(label.into()),
        uuid: derive_uuid(&[b"test-fs", label.as_bytes()]),
        hash_seed: derive_uuid(&[b"test-hash", label.as_bytes()]),
        files,
    })
}

fn file(path: &str, source: FileSource) -> FileEntry {
    FileEntry {
        path: path.into(),
        source,
    }
}

pub fn esp_files(inputs: &Inputs) -> Vec<FileEntry> {
    let mut grubenv = b"# GRUB Environment Block\nsnap_mode=\n".to_vec();
    grubenv.resize(1024, b'#');
    vec![
        file("EFI", FileSource::Directory),
        file("EFI/BOOT", FileSource::Directory),
        file("EFI/BOOT/BOOTX64.EFI", FileSource::File(inputs.efi.clone())),
        file("EFI/ubuntu", FileSource::Directory),
        file("EFI/ubuntu/grubenv", FileSource::Bytes(grubenv)),
        file(
            "EFI/ubuntu/grub.cfg",
            FileSource::Bytes(b"set timeout=0\n".to_vec()),
        ),
        file("systems", FileSource::Directory),
        file("systems/20240101", FileSource::Directory),
        file(
            "systems/20240101/a-rather-long-file-name.vmlinuz",
            FileSource::File(inputs.kernel.clone()),
        ),
    ]
}

pub fn data_files(inputs: &Inputs) -> Vec<FileEntry> {
    vec![
        file("system-data", FileSource::Directory),
        file("system-data/var", FileSource::Directory),
        file(
            "system-data/var/kernel",
            FileSource::File(inputs.kernel.clone()),
        ),
        file(
            "system-data/var/modeenv",
            FileSource::Bytes(b"mode=run\n".to_vec()),
        ),
        file(
            "system-data/current",
            FileSource::Symlink("var/kernel".into()),
        ),
    ]
}

/// name, role, offset, size, GPT type, MBR type, bootable, content.
type Row<'a> = (
    &'a str,
    Option<&'a str>,
    u64,
    u64,
    &'a str,
    u8,
    bool,
    StructureContent,
);

/// A pc-like volume: mbr blob, BIOS boot (raw), ESP seed (vfat), boot (vfat-16), data (ext4),
/// and an offset-write of the BIOS boot partition's LBA at byte 92.
pub fn pc_volume(inputs: &Inputs, schema: Schema, sector_size: u64) -> VolumePlan {
    let part = |n: u32, ty: &str, name: &str, type_byte: u8, bootable: bool| PartitionEntry {
        number: n,
        kind: match schema {
            Schema::Gpt => gpt_kind(ty, name, n),
            Schema::Mbr => PartitionKind::Mbr {
                type_byte,
                bootable,
            },
        },
    };
    let mut structures = vec![StructurePlan {
        index: 0,
        name: "mbr".into(),
        role: Some("mbr".into()),
        offset: 0,
        size: 440,
        partition: None,
        content: StructureContent::Raw(vec![RawImage {
            source: inputs.mbr.clone(),
            offset: 0,
            size: 440,
        }]),
    }];
    let layout: [Row; 4] = [
        (
            "BIOS Boot",
            None,
            MIB,
            MIB,
            BIOS_BOOT,
            0xDA,
            false,
            StructureContent::Raw(vec![RawImage {
                source: inputs.bios.clone(),
                offset: 0,
                size: 100_000,
            }]),
        ),
        (
            "ubuntu-seed",
            Some("system-seed"),
            2 * MIB,
            64 * MIB,
            ESP,
            0x0C,
            false,
            fs_plan(FsKind::Vfat, "ubuntu-seed", esp_files(inputs)),
        ),
        (
            "ubuntu-boot",
            Some("system-boot"),
            66 * MIB,
            32 * MIB,
            ESP,
            0x0C,
            true,
            fs_plan(FsKind::Vfat16, "ubuntu-boot", esp_files(inputs)),
        ),
        (
            "ubuntu-data",
            Some("system-data"),
            98 * MIB,
            32 * MIB,
            LINUX,
            0x83,
            false,
            fs_plan(FsKind::Ext4, "ubuntu-data", data_files(inputs)),
        ),
    ];
    for (i, (name, role, offset, size, ty, tb, boot, content)) in layout.into_iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        structures.push(StructurePlan {
            index: i + 1,
            name: name.into(),
            role: role.map(Into::into),
            offset,
            size,
            partition: Some(part(n, ty, name, tb, boot)),
            content,
        });
    }
    let disk_id = match schema {
        Schema::Gpt => DiskId::Gpt(derive_uuid(&[b"test-disk"])),
        Schema::Mbr => DiskId::Mbr(0x1234_abcd),
    };
    VolumePlan {
        name: "pc".into(),
        schema,
        sector_size: sector_size.try_into().unwrap(),
        // 130 MiB of structures plus room for the backup GPT.
        size: 131 * MIB,
        disk_id,
        structures,
        offset_writes: vec![OffsetWrite {
            at: 92,
            value: u32::try_from(MIB / sector_size).unwrap(),
        }],
    }
}

/// Writes `volume` into `dir` with a fixed build time, checked and staged as a build does.
pub fn write(volume: &VolumePlan, dir: &Path) -> anyhow::Result<PathBuf> {
    write_kept(volume, dir, false)
}

/// [`write`], keeping the partial output of a failure when `keep_failed`.
pub fn write_kept(volume: &VolumePlan, dir: &Path, keep_failed: bool) -> anyhow::Result<PathBuf> {
    let out = snapsmith::build::OutputOptions {
        out_dir: dir,
        keep_failed,
        write: snapsmith::disk::WriteOptions::new(1_700_000_000),
        format: Default::default(),
    };
    let plan = ImagePlan {
        volumes: vec![volume.clone()],
    };
    let checked = snapsmith::disk::check(&plan)?;
    Ok(snapsmith::build::write_staged(checked, &out, |_| Ok(Vec::new()))?.remove(0))
}

/// The structures of `volume` that are partitions, in order.
pub fn planned_partitions(volume: &VolumePlan) -> Vec<&StructurePlan> {
    volume
        .structures
        .iter()
        .filter(|s| s.partition.is_some())
        .collect()
}

#[allow(unused_imports)] // not every test that includes this module reads bytes back
pub use super::fixtures::read_at;
#[allow(unused_imports)]
pub use super::{extract, run};

pub fn fsck_vfat(image: &Path, offset: u64, len: u64) {
    let part = image.with_extension(format!("vfat-{offset}"));
    extract(image, offset, len, &part);
    let tool = snapsmith::exec::require("fsck.vfat").unwrap();
    let out = std::process::Command::new(tool)
        .args(["-n", "-v"])
        .arg(&part)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fsck.vfat at {offset}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for problem in [
        "differ",
        "Fixing",
        "Moving",
        "Renamed",
        "summary wrong",
        "uninitialized",
    ] {
        assert!(!text.contains(problem), "fsck.vfat at {offset}: {text}");
    }
    std::fs::remove_file(part).unwrap();
}

pub fn e2fsck(image: &Path, offset: u64, len: u64) {
    let part = image.with_extension(format!("ext4-{offset}"));
    extract(image, offset, len, &part);
    Cmd::new("e2fsck")
        .args(["-fn"])
        .arg(&part)
        .run()
        .unwrap_or_else(|e| panic!("e2fsck at {offset}: {e:#}"));
    std::fs::remove_file(part).unwrap();
}

pub fn uuid_upper(u: &Uuid) -> String {
    u.to_string().to_uppercase()
}
