//! Filesystems built in place inside an image, at their partition's offset: vfat through the
//! `fatfs` crate, ext4 through `mke2fs -d`. Both take the plan's file list, ids derived from the
//! inputs and the build time, so the same plan gives the same bytes.

pub mod ext4;
mod fat_dots;
pub mod vfat;

use crate::disk::WriteOptions;
use crate::plan::{FileSource, FilesystemPlan, FsKind, StructurePlan};
use anyhow::{Context, Result};
use std::fs::File;
use std::path::Path;

/// The gadget.yaml spelling of a filesystem kind.
pub fn kind_name(kind: FsKind) -> &'static str {
    match kind {
        FsKind::Vfat => "vfat",
        FsKind::Vfat16 => "vfat-16",
        FsKind::Vfat32 => "vfat-32",
        FsKind::Ext4 => "ext4",
    }
}

/// Checks, before anything is written, that the filesystem suits its structure.
pub fn check(s: &StructurePlan, fs: &FilesystemPlan, sector_size: u64) -> Result<()> {
    let what = || format!("structure {}: {}", s.name, kind_name(fs.kind));
    match fs.kind {
        FsKind::Ext4 => ext4::check(s.size, fs).with_context(what),
        _ => vfat::geometry(fs.kind, s.size, sector_size)
            .and_then(|_| vfat::label_bytes(fs.label.as_deref()))
            .map(|_| ())
            .with_context(what),
    }
}

/// Builds the filesystem of structure `s` in `file` (whose path is `path`).
pub fn write(
    file: &File,
    path: &Path,
    sector_size: u64,
    s: &StructurePlan,
    fs: &FilesystemPlan,
    opts: &WriteOptions,
) -> Result<()> {
    match fs.kind {
        FsKind::Ext4 => ext4::write(path, s.offset, s.size, fs, opts),
        _ => vfat::write(file, s.offset, s.size, sector_size, fs, opts),
    }
}

/// Bytes of file content in a filesystem plan (for progress).
pub fn content_bytes(fs: &FilesystemPlan) -> u64 {
    fs.files
        .iter()
        .map(|f| match &f.source {
            FileSource::File(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
            FileSource::Bytes(bytes) => u64::try_from(bytes.len()).unwrap_or(0),
            FileSource::Directory | FileSource::Symlink(_) => 0,
        })
        .fold(0, u64::saturating_add)
}
