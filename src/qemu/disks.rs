//! Small GPT disks for VM scenarios, written rootlessly through the project's own planner and
//! writer ([`crate::plan`] + [`crate::disk::write_volume`]): the `snapsmith-update` disk the
//! agent installs updates from, and any list of named vfat/ext4 partitions (tests build whole
//! run-mode disks with it).

use crate::boot::update::{self, Manifest};
use crate::disk::{WriteOptions, write_volume};
use crate::plan::{
    DiskId, FileEntry, FileSource, FilesystemPlan, FsKind, PartitionEntry, PartitionKind, Schema,
    StructureContent, StructurePlan, VolumePlan,
};
use crate::repro::derive_uuid;
use crate::units::MIB;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// GPT type of an EFI system partition.
const ESP_TYPE: Uuid = uuid::uuid!("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
/// GPT type of a Linux filesystem partition.
const LINUX_TYPE: Uuid = uuid::uuid!("0FC63DAF-8483-4772-8E79-3D69C72E3D72");
/// GPT type of a basic data partition.
const DATA_TYPE: Uuid = uuid::uuid!("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");

/// One partition of a scenario disk.
#[derive(Debug, Clone)]
pub struct Part {
    /// GPT partition name (also the filesystem label when it fits).
    pub name: String,
    pub kind: FsKind,
    pub size: u64,
    /// Files, parents before children.
    pub files: Vec<FileEntry>,
    pub esp: bool,
}

impl Part {
    pub fn new(name: &str, kind: FsKind, size: u64) -> Part {
        Part {
            name: name.to_string(),
            kind,
            size,
            files: Vec::new(),
            esp: false,
        }
    }

    /// Adds a file (and any missing parent directories) from bytes or a host file.
    pub fn file(mut self, path: &str, source: FileSource) -> Part {
        let mut prefix = String::new();
        for dir in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, d)| d)
        {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(dir);
            if !self.files.iter().any(|f| f.path == prefix) {
                self.files.push(FileEntry {
                    path: prefix.clone(),
                    source: FileSource::Directory,
                });
            }
        }
        self.files.push(FileEntry {
            path: path.to_string(),
            source,
        });
        self
    }
}

/// Writes a GPT disk `<dir>/<name>.img` with `parts` laid out from 1 MiB, each aligned to 1 MiB.
pub fn write_gpt(dir: &Path, name: &str, parts: &[Part]) -> Result<PathBuf> {
    let mut offset = MIB;
    let mut structures = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let number = u32::try_from(i + 1)?;
        let label = (part.name.len() <= 11 || part.kind == FsKind::Ext4).then(|| part.name.clone());
        let type_guid = match (part.esp, part.kind) {
            (true, _) => ESP_TYPE,
            (false, FsKind::Ext4) => LINUX_TYPE,
            (false, _) => DATA_TYPE,
        };
        structures.push(StructurePlan {
            index: i,
            name: part.name.clone(),
            role: None,
            offset,
            size: part.size,
            partition: Some(PartitionEntry {
                number,
                kind: PartitionKind::Gpt {
                    type_guid,
                    unique_guid: derive_uuid(&[name.as_bytes(), part.name.as_bytes(), b"part"]),
                    name: part.name.clone(),
                },
            }),
            content: StructureContent::Filesystem(FilesystemPlan {
                kind: part.kind,
                label,
                uuid: derive_uuid(&[name.as_bytes(), part.name.as_bytes(), b"fs"]),
                hash_seed: derive_uuid(&[name.as_bytes(), part.name.as_bytes(), b"hash"]),
                files: part.files.clone(),
            }),
        });
        offset = offset
            .checked_add(part.size.div_ceil(MIB) * MIB)
            .context("disk size overflows")?;
    }
    let volume = VolumePlan {
        name: name.to_string(),
        schema: Schema::Gpt,
        sector_size: crate::units::SectorSize::B512,
        // Room for the backup GPT at the end.
        size: offset + MIB,
        disk_id: DiskId::Gpt(derive_uuid(&[name.as_bytes(), b"disk"])),
        structures,
        offset_writes: Vec::new(),
    };
    let target = dir.join(format!("{name}.img"));
    // Scratch disks of a VM run: a fixed build time keeps them reproducible (the library reads
    // no SOURCE_DATE_EPOCH).
    write_volume(&volume, &target, &WriteOptions::new(0))
}

/// Writes the update disk `<dir>/<name>.img`: one vfat partition named `snapsmith-update` with
/// `update.yaml` and the given snap files (stored under their file names). Their digests are
/// computed here and put into update.yaml, so the guest need not hash them.
pub fn write_update_disk(
    dir: &Path,
    name: &str,
    manifest: &Manifest,
    snaps: &[PathBuf],
) -> Result<PathBuf> {
    write_update_disk_with(dir, name, manifest, snaps, &[])
}

/// [`write_update_disk`], with `extra` files (the snaps' assertions) beside the snaps, stored
/// under their file names too.
pub fn write_update_disk_with(
    dir: &Path,
    name: &str,
    manifest: &Manifest,
    snaps: &[PathBuf],
    extra: &[PathBuf],
) -> Result<PathBuf> {
    let mut manifest = manifest.clone();
    for snap in snaps {
        if let Some(file) = snap.file_name() {
            let digest = crate::snap::digest(snap)?;
            manifest
                .digests
                .insert(file.to_string_lossy().into_owned(), digest.sha3_384);
        }
    }
    let mut content = 0u64;
    let mut part = Part::new(update::PARTITION, FsKind::Vfat, 0).file(
        update::MANIFEST,
        FileSource::Bytes(manifest.encode().into_bytes()),
    );
    for snap in snaps.iter().chain(extra) {
        let file_name = snap
            .file_name()
            .with_context(|| format!("{} has no file name", snap.display()))?
            .to_string_lossy()
            .into_owned();
        content += std::fs::metadata(snap)
            .with_context(|| format!("reading {}", snap.display()))?
            .len();
        part = part.file(&file_name, FileSource::File(snap.clone()));
    }
    // FAT32 with 512-byte clusters needs 33 MiB; leave a fifth spare for FAT metadata.
    part.size = (content + content / 5 + 8 * MIB).div_ceil(MIB).max(40) * MIB;
    write_gpt(dir, name, &[part])
}
