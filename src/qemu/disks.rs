//! Small GPT disks for VM scenarios, written rootlessly through the project's own planner and
//! writer ([`crate::build::update_disk`] + [`crate::disk::write_volume`]): the update disk the
//! agent installs updates from, made by the same library function as `snapsmith update-disk`,
//! and any list of named vfat/ext4 partitions (tests build whole run-mode disks with it).

use crate::build::update_disk::{self as ud, UpdateFile};
use crate::disk::{WriteOptions, write_volume};
use crate::plan::FileSource;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub use crate::build::update_disk::Part;

/// Writes a GPT disk `<dir>/<name>.img` with `parts` laid out from 1 MiB, each aligned to 1 MiB.
pub fn write_gpt(dir: &Path, name: &str, parts: &[Part]) -> Result<PathBuf> {
    let volume = ud::gpt_volume(name, parts)?;
    let target = dir.join(format!("{name}.img"));
    // Scratch disks of a VM run: a fixed build time keeps them reproducible (the library reads
    // no SOURCE_DATE_EPOCH).
    write_volume(&volume, &target, &WriteOptions::new(0))
}

/// Writes the update disk `<dir>/<name>.img` holding the given snap files.
pub fn write_update_disk(dir: &Path, name: &str, snaps: &[PathBuf]) -> Result<PathBuf> {
    write_update_disk_with(dir, name, snaps, &[])
}

/// [`write_update_disk`] with the snaps' `assertions` (streams, paired with the snaps by digest
/// as `snapsmith update-disk` pairs them). A directory among `snaps` (a scenario's forged
/// updates) goes on the disk file by file as it is, assertions unchecked, as an attacker's disk
/// would; a directory among `assertions` is that same one.
pub fn write_update_disk_with(
    dir: &Path,
    name: &str,
    snaps: &[PathBuf],
    assertions: &[PathBuf],
) -> Result<PathBuf> {
    let (dirs, snaps): (Vec<PathBuf>, Vec<PathBuf>) =
        snaps.iter().cloned().partition(|p| p.is_dir());
    let assertions: Vec<PathBuf> = assertions.iter().filter(|p| !p.is_dir()).cloned().collect();
    let mut files = ud::update_files(&snaps, &assertions)?;
    for dir in &dirs {
        files.extend(verbatim(dir)?);
    }
    ud::write_update_disk(&files, &dir.join(format!("{name}.img")))
}

/// The files of `dir`, in name order, for the update partition's root.
fn verbatim(dir: &Path) -> Result<Vec<UpdateFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            files.push(UpdateFile {
                name: path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                source: FileSource::File(path),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}
