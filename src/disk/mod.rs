//! Executes a checked [`crate::plan::ImagePlan`]: one sparse `<volume>.img` per volume with its
//! partition table, raw content, filesystems written in place and offset-writes, without root or
//! loop devices.
//!
//! The writer refuses nothing while writing that [`check`] could have refused before, and it
//! writes where it is told: the build's staging directory (its `Staging`) owns
//! atomicity, cleanup and interruption. Order within a volume: table first, then structures (the
//! mbr blob lands on top of the table sector but only in bytes 0..446), then offset-writes,
//! which have the last word. Structures do not overlap ([`check`] refuses it), so they are
//! written concurrently, on up to one thread per core: a FAT filesystem filled in this process
//! and an ext4 one made by mke2fs keep both cores busy, and the bytes do not depend on the
//! order.

mod check;
pub mod gpt;
pub mod image;
pub mod mapped;
pub mod mbr;

pub use check::{Checked, check, check_volume};

use crate::interrupt;
use crate::plan::{Schema, StructureContent, StructurePlan, VolumePlan};
use crate::window;
use anyhow::{Context, Result};
use image::ImageFile;
use std::path::{Path, PathBuf};

/// Largest mbr blob: the boot code area before the partition table.
pub const MBR_BLOB_MAX: u64 = 446;

/// Bytes to write at an absolute offset of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl Patch {
    pub fn new(offset: u64, bytes: Vec<u8>) -> Self {
        Patch { offset, bytes }
    }
}

/// Receives progress while images are written; the CLI draws bars or prints stage lines.
/// Structures are written concurrently, so their steps and bytes may arrive interleaved.
pub trait Progress: Sync {
    /// A volume starts; `bytes` is the content to copy (raw images and files).
    fn volume(&self, _name: &str, _bytes: u64) {}
    /// A step inside the current volume ("partition table", "ubuntu-seed (vfat)", ...).
    fn step(&self, _what: &str) {}
    /// `bytes` more content bytes were copied.
    fn advance(&self, _bytes: u64) {}
    /// A timed part of the work begins (`pc.img table`, `pc.img structures`, ...) and the
    /// previous one ends.
    fn timed(&self, _part: &str) {}
    /// A part that ran beside others (`pc.img ubuntu-seed`) took `seconds`.
    fn took(&self, _part: &str, _seconds: f64) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// How to write images.
#[derive(Clone, Copy)]
pub struct WriteOptions<'a> {
    /// Seconds since the epoch stamped on files and filesystems.
    pub build_time: i64,
    pub progress: &'a dyn Progress,
}

impl WriteOptions<'static> {
    /// Options with `build_time` and no progress output.
    pub fn new(build_time: i64) -> Self {
        WriteOptions {
            build_time,
            progress: &NoProgress,
        }
    }
}

/// Writes every volume of a checked plan as `<dir>/<volume>.img`; returns the paths in plan
/// order. On failure the files written so far stay in `dir` for its owner to remove.
pub fn write_image(plan: Checked, dir: &Path, opts: &WriteOptions) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for volume in &plan.plan().volumes {
        let target = dir.join(format!("{}.img", volume.name));
        write_checked(volume, &target, opts)?;
        written.push(target);
    }
    Ok(written)
}

/// Checks one volume and writes it to `target` (for scratch disks outside a build; a failure
/// leaves the partial file at `target`).
pub fn write_volume(volume: &VolumePlan, target: &Path, opts: &WriteOptions) -> Result<PathBuf> {
    check_volume(volume)?;
    write_checked(volume, target, opts)?;
    Ok(target.to_path_buf())
}

fn write_checked(volume: &VolumePlan, target: &Path, opts: &WriteOptions) -> Result<()> {
    let image = ImageFile::create(target, volume.size)?;
    fill_volume(volume, &image, opts)
        .and_then(|()| image.finish())
        .with_context(|| format!("writing {}", target.display()))
}

fn fill_volume(volume: &VolumePlan, image: &ImageFile, opts: &WriteOptions) -> Result<()> {
    let progress = opts.progress;
    progress.volume(&volume.name, content_bytes(volume));
    progress.timed(&format!("{}.img table", volume.name));
    progress.step("partition table");
    match volume.schema {
        Schema::Gpt => gpt::write(volume, image.file())?,
        Schema::Mbr => apply(image, &mbr::patches(volume)?, volume.size)?,
    }
    progress.timed(&format!("{}.img structures", volume.name));
    let written = crate::parallel::map(&volume.structures, structure_bytes, |s| {
        let start = std::time::Instant::now();
        interrupt::check()?;
        write_structure(volume, s, image, opts)
            .with_context(|| format!("volume {}: structure {}", volume.name, s.name))?;
        Ok::<_, anyhow::Error>(start.elapsed().as_secs_f64())
    });
    for (s, seconds) in volume.structures.iter().zip(written) {
        progress.took(&format!("{}.img {}", volume.name, s.name), seconds?);
    }
    progress.timed(&format!("{}.img offset-writes and flush", volume.name));
    for w in &volume.offset_writes {
        window::write_at(image.file(), w.at, &w.value.to_le_bytes(), volume.size)
            .with_context(|| format!("volume {}: offset-write at {}", volume.name, w.at))?;
    }
    Ok(())
}

fn apply(image: &ImageFile, patches: &[Patch], limit: u64) -> Result<()> {
    for p in patches {
        window::write_at(image.file(), p.offset, &p.bytes, limit)?;
    }
    Ok(())
}

fn write_structure(
    volume: &VolumePlan,
    s: &StructurePlan,
    image: &ImageFile,
    opts: &WriteOptions,
) -> Result<()> {
    match &s.content {
        StructureContent::Empty => Ok(()),
        StructureContent::Raw(images) => {
            opts.progress.step(&format!("{} (raw)", s.name));
            for raw in images {
                let mut file = std::fs::File::open(&raw.source)
                    .with_context(|| format!("opening {}", raw.source.display()))?;
                let have = file.metadata()?.len();
                check::check_raw_len(raw, have)?;
                // The plan may reserve more than the file holds: the rest stays zero.
                window::copy_into(
                    &mut file,
                    image.file(),
                    s.offset + raw.offset,
                    have,
                    &mut |n| opts.progress.advance(n),
                )
                .with_context(|| format!("copying {}", raw.source.display()))?;
            }
            Ok(())
        }
        StructureContent::Filesystem(fs) => {
            opts.progress.step(&format!("{} ({})", s.name, fs.kind));
            let fs_opts = crate::fs::FsOptions {
                build_time: opts.build_time,
                progress: &|n| opts.progress.advance(n),
            };
            crate::fs::write(
                image.file(),
                image.path(),
                volume.sector_size.bytes(),
                s,
                fs,
                &fs_opts,
            )
        }
    }
}

/// Content bytes of a volume, for progress: raw images and regular files (sizes on disk).
fn content_bytes(volume: &VolumePlan) -> u64 {
    volume
        .structures
        .iter()
        .map(structure_bytes)
        .fold(0, u64::saturating_add)
}

/// Content bytes of a structure: its raw images or its filesystem's regular files.
fn structure_bytes(s: &StructurePlan) -> u64 {
    match &s.content {
        StructureContent::Empty => 0,
        StructureContent::Raw(images) => images
            .iter()
            .map(|raw| std::fs::metadata(&raw.source).map_or(0, |m| m.len()))
            .fold(0, u64::saturating_add),
        StructureContent::Filesystem(fs) => crate::fs::content_bytes(fs),
    }
}
