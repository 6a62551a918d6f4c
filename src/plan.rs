//! `ImagePlan`: everything `build` will write, as pure data with absolute offsets.
//!
//! The gadget layout, the seed and the boot state meet here. Producers (`gadget`, `seed`) fill a
//! plan; the executor (`disk`, `fs`) writes exactly what it says and nothing else. The plan is
//! serializable so `--dry-run --json` shows it, and [`ImagePlan::validate`] checks it before any
//! byte is written.

pub use crate::units::SectorSize;
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;
use uuid::Uuid;

/// One disk image per gadget volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePlan {
    pub volumes: Vec<VolumePlan>,
}

/// Partition table flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    Gpt,
    Mbr,
}

/// The identity of a disk: a GPT disk GUID or an MBR disk signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskId {
    Gpt(Uuid),
    Mbr(u32),
}

/// One image file: `<name>.img`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumePlan {
    /// Volume name from gadget.yaml; the image is `<name>.img`.
    pub name: String,
    pub schema: Schema,
    /// Logical sector size.
    pub sector_size: SectorSize,
    /// Total image size in bytes, table overhead included (a multiple of `sector_size`).
    pub size: u64,
    pub disk_id: DiskId,
    /// Structures sorted by offset.
    pub structures: Vec<StructurePlan>,
    /// `offset-write` values: a little-endian u32 written at an absolute byte offset.
    pub offset_writes: Vec<OffsetWrite>,
}

/// One gadget structure placed on the disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructurePlan {
    /// Index of the structure in gadget.yaml (0-based, YAML order).
    pub index: usize,
    pub name: String,
    pub role: Option<String>,
    /// Absolute byte offset in the image.
    pub offset: u64,
    pub size: u64,
    /// The partition table entry; `None` for bare structures and the MBR blob.
    pub partition: Option<PartitionEntry>,
    pub content: StructureContent,
}

/// A partition table entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionEntry {
    /// 1-based partition number.
    pub number: u32,
    pub kind: PartitionKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionKind {
    Gpt {
        type_guid: Uuid,
        unique_guid: Uuid,
        name: String,
    },
    Mbr {
        type_byte: u8,
        bootable: bool,
    },
}

/// What goes inside a structure's byte range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StructureContent {
    /// Left as zeros (sparse).
    Empty,
    /// Raw images copied at offsets relative to the structure's start.
    Raw(Vec<RawImage>),
    /// A filesystem built in place.
    Filesystem(FilesystemPlan),
}

/// A raw image placed inside a structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawImage {
    pub source: PathBuf,
    /// Offset relative to the structure's start.
    pub offset: u64,
    /// Bytes to copy from `source` (the file's length unless the gadget says more).
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsKind {
    /// FAT16 or FAT32, whichever the size demands.
    Vfat,
    Vfat16,
    Vfat32,
    Ext4,
}

impl FsKind {
    /// The gadget.yaml spelling: `vfat`, `vfat-16`, `vfat-32`, `ext4`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FsKind::Vfat => "vfat",
            FsKind::Vfat16 => "vfat-16",
            FsKind::Vfat32 => "vfat-32",
            FsKind::Ext4 => "ext4",
        }
    }
}

impl std::fmt::Display for FsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A filesystem to create in a structure, with its complete file tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesystemPlan {
    pub kind: FsKind,
    pub label: Option<String>,
    /// Filesystem identity derived from the inputs: the FAT volume id is its first 4 bytes,
    /// ext4 uses it as the UUID.
    pub uuid: Uuid,
    /// ext4 directory hash seed, derived from the inputs.
    pub hash_seed: Uuid,
    /// Files in the filesystem; parents are listed before children.
    pub files: Vec<FileEntry>,
}

/// One entry of a filesystem tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the filesystem, relative, `/`-separated, no `.` or `..` components.
    pub path: String,
    pub source: FileSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileSource {
    Directory,
    /// Copied from a host file.
    File(PathBuf),
    /// Generated by snapsmith (grubenv, modeenv, model, ...).
    Bytes(#[serde(serialize_with = "byte_count")] Vec<u8>),
    /// A symbolic link with this target (ext4 only; vfat has no symlinks).
    Symlink(String),
}

fn byte_count<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("<{} generated bytes>", bytes.len()))
}

/// `offset-write`: the structure's start LBA as a little-endian u32 at an absolute offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetWrite {
    pub at: u64,
    pub value: u32,
}

impl ImagePlan {
    /// Checks what a writer relies on: sector sizes, alignment, order, overlap and fit.
    pub fn validate(&self) -> Result<()> {
        for volume in &self.volumes {
            volume.validate()?;
        }
        Ok(())
    }
}

impl VolumePlan {
    /// Checks sector alignment, order, overlap and fit of the structures and offset-writes.
    pub fn validate(&self) -> Result<()> {
        let name = &self.name;
        if !self.size.is_multiple_of(self.sector_size.bytes()) {
            bail!(
                "volume {name}: image size {} is not a multiple of the sector size",
                self.size
            );
        }
        let mut end = 0u64;
        for s in &self.structures {
            end = self.validate_structure(s, end)?;
        }
        for w in &self.offset_writes {
            if w.at.checked_add(4).is_none_or(|e| e > self.size) {
                bail!(
                    "volume {name}: offset-write at {} is outside the image",
                    w.at
                );
            }
        }
        Ok(())
    }

    /// Checks one structure that must start at or after `end` (where the previous one ends);
    /// returns where it ends.
    fn validate_structure(&self, s: &StructurePlan, end: u64) -> Result<u64> {
        let name = &self.name;
        let sector = self.sector_size.bytes();
        let Some(s_end) = s.offset.checked_add(s.size) else {
            bail!(
                "volume {name}: structure {}: offset + size overflows",
                s.name
            );
        };
        if s.offset < end {
            bail!(
                "volume {name}: structure {} at {} overlaps the previous structure ending at {end}",
                s.name,
                s.offset
            );
        }
        if s_end > self.size {
            bail!(
                "volume {name}: structure {} ends at {s_end}, beyond the image size {}",
                s.name,
                self.size
            );
        }
        if s.partition.is_some()
            && (!s.offset.is_multiple_of(sector) || !s.size.is_multiple_of(sector))
        {
            bail!(
                "volume {name}: partition {} is not aligned to {sector}-byte sectors",
                s.name
            );
        }
        if let StructureContent::Raw(images) = &s.content
            && let Some(image) = images
                .iter()
                .find(|i| i.offset.checked_add(i.size).is_none_or(|e| e > s.size))
        {
            bail!(
                "volume {name}: structure {}: image {} does not fit",
                s.name,
                image.source.display()
            );
        }
        Ok(s_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(structures: Vec<StructurePlan>) -> VolumePlan {
        VolumePlan {
            name: "pc".into(),
            schema: Schema::Gpt,
            sector_size: SectorSize::B512,
            size: 8 << 20,
            disk_id: DiskId::Gpt(Uuid::nil()),
            structures,
            offset_writes: vec![],
        }
    }

    fn structure(name: &str, offset: u64, size: u64) -> StructurePlan {
        StructurePlan {
            index: 0,
            name: name.into(),
            role: None,
            offset,
            size,
            partition: None,
            content: StructureContent::Empty,
        }
    }

    #[test]
    fn overlap_and_fit_are_refused() {
        assert!(
            volume(vec![
                structure("a", 1 << 20, 1 << 20),
                structure("b", 2 << 20, 1 << 20)
            ])
            .validate()
            .is_ok()
        );
        let err = volume(vec![
            structure("a", 1 << 20, 2 << 20),
            structure("b", 2 << 20, 1 << 20),
        ])
        .validate();
        assert!(err.unwrap_err().to_string().contains("overlaps"));
        let err = volume(vec![structure("a", 7 << 20, 2 << 20)]).validate();
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("beyond the image size")
        );
    }
}
