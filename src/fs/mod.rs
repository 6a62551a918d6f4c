//! Filesystems built in place inside an image, at their partition's offset: vfat through the
//! `fatfs` crate, ext4 through `mke2fs -d`. Both take the plan's file list, ids derived from the
//! inputs and the build time, so the same plan gives the same bytes.

pub mod ext4;
mod fat_cache;
mod fat_dots;
pub mod vfat;

use crate::plan::{FileSource, FilesystemPlan, FsKind, StructurePlan};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

/// How filesystems are written: what [`write()`] needs besides the plan and the byte range.
#[derive(Clone, Copy)]
pub struct FsOptions<'a> {
    /// Seconds since the epoch stamped on files and filesystem metadata.
    pub build_time: i64,
    /// Called with the number of content bytes copied, as they are copied.
    pub progress: &'a dyn Fn(u64),
}

impl FsOptions<'static> {
    /// Options with `build_time` and no progress reporting.
    pub fn new(build_time: i64) -> Self {
        FsOptions {
            build_time,
            progress: &ignore_progress,
        }
    }
}

fn ignore_progress(_: u64) {}

/// Checks, before anything is written, that the filesystem suits its structure.
pub fn check(s: &StructurePlan, fs: &FilesystemPlan, sector_size: u64) -> Result<()> {
    let what = || format!("structure {}: {}", s.name, fs.kind);
    check_tree(fs).with_context(what)?;
    match fs.kind {
        FsKind::Ext4 => ext4::check(s.size, fs).with_context(what),
        _ => vfat::geometry(fs.kind, s.size, sector_size)
            .and_then(|geo| vfat::check_fits(&geo, sector_size, fs))
            .and_then(|()| vfat::label_bytes(fs.label.as_deref()))
            .map(|_| ())
            .with_context(what),
    }
}

/// The file list is a tree the writers can create in order and that stays inside the
/// filesystem: relative paths without `.`/`..`/empty components, each listed once (FAT names
/// compare case-insensitively) and after its parent directory.
pub fn check_tree(fs: &FilesystemPlan) -> Result<()> {
    let fold = |p: &str| match fs.kind {
        FsKind::Ext4 => p.to_string(),
        _ => p.to_lowercase(),
    };
    let mut seen: HashMap<String, bool> = HashMap::new();
    for entry in &fs.files {
        let path = entry.path.as_str();
        let bad = path.is_empty()
            || path.contains('\0')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if bad {
            bail!("file path {path:?} is not a plain relative path");
        }
        if let Some((parent, _)) = path.rsplit_once('/')
            && seen.get(&fold(parent)) != Some(&true)
        {
            bail!("{path}: its directory {parent} is not listed before it");
        }
        let is_dir = matches!(entry.source, FileSource::Directory);
        if seen.insert(fold(path), is_dir).is_some() {
            bail!("{path} is listed twice");
        }
    }
    Ok(())
}

/// Builds the filesystem of structure `s` in `file` (whose path is `path`).
pub fn write(
    file: &File,
    path: &Path,
    sector_size: u64,
    s: &StructurePlan,
    fs: &FilesystemPlan,
    opts: &FsOptions,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FileEntry;
    use uuid::Uuid;

    fn tree(kind: FsKind, paths: &[(&str, bool)]) -> FilesystemPlan {
        FilesystemPlan {
            kind,
            label: None,
            uuid: Uuid::nil(),
            hash_seed: Uuid::nil(),
            files: paths
                .iter()
                .map(|(p, dir)| FileEntry {
                    path: (*p).into(),
                    source: if *dir {
                        FileSource::Directory
                    } else {
                        FileSource::Bytes(vec![])
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn trees_stay_inside_and_in_order() {
        let ok = tree(FsKind::Ext4, &[("a", true), ("a/b", false), ("A", false)]);
        assert!(check_tree(&ok).is_ok());
        for (kind, paths, expect) in [
            (
                FsKind::Ext4,
                vec![("../x", false)],
                "not a plain relative path",
            ),
            (
                FsKind::Ext4,
                vec![("/etc", false)],
                "not a plain relative path",
            ),
            (
                FsKind::Ext4,
                vec![("a//b", false)],
                "not a plain relative path",
            ),
            (
                FsKind::Ext4,
                vec![("a/b", false)],
                "a is not listed before it",
            ),
            (
                FsKind::Ext4,
                vec![("a", false), ("a/b", false)],
                "a is not listed before",
            ),
            (
                FsKind::Vfat,
                vec![("EFI", true), ("efi", true)],
                "efi is listed twice",
            ),
        ] {
            let err = check_tree(&tree(kind, &paths)).unwrap_err().to_string();
            assert!(err.contains(expect), "{paths:?}: {err}");
        }
    }
}
