//! Reads an image back: its partition table, each partition's filesystem with type, label and
//! id, and for vfat the files it holds. The report is plain data (Serialize) printed by
//! `snapsmith inspect`; later stages add what they know how to read (seed, model) as new
//! optional fields of [`ImageReport`].
//!
//! The GPT is read with the `gpt` crate (both headers must be valid), independently of the
//! writer's own GPT code; MBR tables and filesystem superblocks are decoded here.

mod filesystem;
mod render;
mod table;

use anyhow::{Context, Result};
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};

pub use filesystem::{FileReport, FilesystemReport};
pub use render::render;

/// Everything `inspect` found in an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageReport {
    pub path: PathBuf,
    /// Image size in bytes.
    pub size: u64,
    /// The partition table; `None` when the image has neither a GPT nor an MBR.
    pub table: Option<TableReport>,
    pub partitions: Vec<PartitionReport>,
    /// The recovery systems on ubuntu-seed, when the image has a seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<crate::seed::SeedReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Gpt,
    Mbr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableReport {
    pub kind: TableKind,
    /// Logical sector size the table is written for (for MBR, inferred from where the
    /// filesystems start; 512 when nothing tells).
    pub sector_size: u64,
    /// GPT disk GUID (upper case) or MBR disk signature (`0x` and 8 hex digits).
    pub disk_id: String,
}

/// One partition table entry and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionReport {
    pub number: u32,
    /// GPT partition name; `None` on MBR.
    pub name: Option<String>,
    /// GPT type GUID (upper case) or MBR type byte (two lower-case hex digits).
    #[serde(rename = "type")]
    pub type_id: String,
    /// GPT unique partition GUID; `None` on MBR.
    pub uuid: Option<String>,
    /// MBR bootable flag (always false on GPT).
    pub bootable: bool,
    /// Byte offset in the image.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    pub filesystem: Option<FilesystemReport>,
}

/// Reads the image at `path`.
pub fn inspect(path: &Path) -> Result<ImageReport> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata()?.len();
    let found =
        table::read(path, &file, size).with_context(|| format!("reading {}", path.display()))?;
    let mut report = ImageReport {
        path: path.to_owned(),
        size,
        table: None,
        partitions: Vec::new(),
        seed: None,
    };
    if let Some((table, mut partitions)) = found {
        for p in &mut partitions {
            p.filesystem = filesystem::probe(&file, p.offset, p.size).with_context(|| {
                format!(
                    "{}: reading the filesystem of partition {}",
                    path.display(),
                    p.number
                )
            })?;
        }
        report.seed = seed_of(&file, &partitions)
            .with_context(|| format!("{}: reading the seed", path.display()))?;
        report.table = Some(table);
        report.partitions = partitions;
    }
    Ok(report)
}

/// The seed on the vfat partition labelled (or named) `ubuntu-seed`, if any.
fn seed_of(file: &File, partitions: &[PartitionReport]) -> Result<Option<crate::seed::SeedReport>> {
    let seed = partitions.iter().find(|p| {
        p.filesystem.as_ref().is_some_and(|f| {
            f.kind == "vfat"
                && (f.label.as_deref() == Some("ubuntu-seed")
                    || p.name.as_deref() == Some("ubuntu-seed"))
        })
    });
    match seed {
        Some(p) => crate::seed::read_seed(file, p.offset, p.size),
        None => Ok(None),
    }
}
