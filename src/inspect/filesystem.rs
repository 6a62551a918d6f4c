//! Filesystems recognised inside a partition: ext2/3/4 from the superblock (label, UUID), vfat
//! through fatfs (FAT type, label, volume id and the file list).

use crate::window::Window;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fs::File;
use std::os::unix::fs::FileExt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilesystemReport {
    /// `vfat`, `ext4` or `ext2/3`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `FAT12`, `FAT16` or `FAT32` for vfat.
    pub variant: Option<String>,
    /// The label (for vfat, the root directory's volume label entry, else the boot sector's).
    pub label: Option<String>,
    /// ext4 UUID, or the FAT volume id as blkid prints it (`A1B2-C3D4`).
    pub uuid: Option<String>,
    /// Every file and directory (vfat only), sorted by path.
    pub files: Option<Vec<FileReport>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// Path from the filesystem root, `/`-separated, without a leading `/`.
    pub path: String,
    pub directory: bool,
    /// Size in bytes (0 for directories).
    pub size: u64,
}

fn read_at(file: &File, offset: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset).ok().map(|()| buf)
}

/// What filesystem, if any, starts at `offset`.
pub fn probe(file: &File, offset: u64, size: u64) -> Result<Option<FilesystemReport>> {
    if let Some(sb) = read_at(file, offset + 1024, 1024)
        && sb[0x38..0x3A] == [0x53, 0xEF]
    {
        return Ok(Some(ext(&sb)));
    }
    let Some(boot) = read_at(file, offset, 512) else {
        return Ok(None);
    };
    let fat_name = boot[0x36..0x39] == *b"FAT" || boot[0x52..0x57] == *b"FAT32";
    if boot[510..] == [0x55, 0xAA] && fat_name {
        return vfat(file, offset, size).map(Some);
    }
    Ok(None)
}

fn ext(sb: &[u8]) -> FilesystemReport {
    const INCOMPAT_EXTENTS: u32 = 0x40;
    let incompat = u32::from_le_bytes([sb[0x60], sb[0x61], sb[0x62], sb[0x63]]);
    let label_bytes = &sb[0x78..0x88];
    let end = label_bytes.iter().position(|b| *b == 0).unwrap_or(16);
    let label = String::from_utf8_lossy(&label_bytes[..end]).into_owned();
    let uuid = uuid::Uuid::from_slice(&sb[0x68..0x78])
        .map(|u| u.to_string())
        .ok();
    FilesystemReport {
        kind: if incompat & INCOMPAT_EXTENTS != 0 {
            "ext4"
        } else {
            "ext2/3"
        }
        .into(),
        variant: None,
        label: (!label.is_empty()).then_some(label),
        uuid,
        files: None,
    }
}

fn vfat(file: &File, offset: u64, size: u64) -> Result<FilesystemReport> {
    let fs = fatfs::FileSystem::new(Window::new(file, offset, size), fatfs::FsOptions::new())
        .context("opening the FAT filesystem")?;
    let label = match fs.read_volume_label_from_root_dir()? {
        Some(label) => label,
        None => fs.volume_label(),
    };
    let variant = match fs.fat_type() {
        fatfs::FatType::Fat12 => "FAT12",
        fatfs::FatType::Fat16 => "FAT16",
        fatfs::FatType::Fat32 => "FAT32",
    };
    let id = fs.volume_id();
    let mut files = Vec::new();
    list(&fs.root_dir(), "", &mut files, 0)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(FilesystemReport {
        kind: "vfat".into(),
        variant: Some(variant.into()),
        label: (!label.is_empty() && label != "NO NAME").then_some(label),
        uuid: Some(format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF)),
        files: Some(files),
    })
}

fn list(
    dir: &fatfs::Dir<Window>,
    prefix: &str,
    out: &mut Vec<FileReport>,
    depth: usize,
) -> Result<()> {
    // FAT directories cannot be cyclic when healthy; the cap guards against damaged ones.
    if depth > 64 {
        anyhow::bail!("directory {prefix} is nested more than 64 levels deep");
    }
    for entry in dir.iter() {
        let entry = entry.with_context(|| format!("listing /{prefix}"))?;
        let name = entry.file_name();
        if name == "." || name == ".." {
            continue;
        }
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let directory = entry.is_dir();
        out.push(FileReport {
            path: path.clone(),
            directory,
            size: if directory { 0 } else { entry.len() },
        });
        if directory {
            list(&entry.to_dir(), &path, out, depth + 1)?;
        }
    }
    Ok(())
}
