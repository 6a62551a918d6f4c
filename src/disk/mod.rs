//! Executes an [`ImagePlan`]: one sparse `<volume>.img` per volume with its partition table,
//! raw content, filesystems written in place and offset-writes, without root or loop devices.
//!
//! Each image is written to a temporary file beside the target and renamed on success; on any
//! error or on SIGINT/SIGTERM the temporary file is removed (or kept when asked, for debugging).
//! Order within a volume: table first, then structures (the mbr blob lands on top of the table
//! sector but only in bytes 0..446), then offset-writes, which have the last word.

pub mod gpt;
pub mod image;
pub mod mbr;

use crate::interrupt;
use crate::plan::{ImagePlan, RawImage, Schema, StructureContent, StructurePlan, VolumePlan};
use crate::window;
use anyhow::{Context, Result, bail};
use image::PendingImage;
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
pub trait Progress {
    /// A volume starts; `bytes` is the content to copy (raw images and files).
    fn volume(&self, _name: &str, _bytes: u64) {}
    /// A step inside the current volume ("partition table", "ubuntu-seed (vfat)", ...).
    fn step(&self, _what: &str) {}
    /// `bytes` more content bytes were copied.
    fn advance(&self, _bytes: u64) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// How to write images.
#[derive(Clone, Copy)]
pub struct WriteOptions<'a> {
    /// Keep the partial image (path reported in the error) instead of removing it.
    pub keep_failed: bool,
    /// Seconds since the epoch stamped on files and filesystems (`SOURCE_DATE_EPOCH`).
    pub build_time: i64,
    pub progress: &'a dyn Progress,
}

impl<'a> WriteOptions<'a> {
    /// Options with the build time from `SOURCE_DATE_EPOCH` (or now) and no progress output.
    pub fn from_env() -> Result<WriteOptions<'static>> {
        Ok(WriteOptions {
            keep_failed: false,
            build_time: crate::repro::build_time()?,
            progress: &NoProgress,
        })
    }
}

/// Writes every volume of `plan` as `<out_dir>/<volume>.img`; returns the paths in plan order.
pub fn write_image(plan: &ImagePlan, out_dir: &Path, opts: &WriteOptions) -> Result<Vec<PathBuf>> {
    plan.validate()?;
    for volume in &plan.volumes {
        check_volume(volume)?;
    }
    let _guard = interrupt::InterruptGuard::install();
    let mut written = Vec::new();
    for volume in &plan.volumes {
        let target = out_dir.join(format!("{}.img", volume.name));
        match write_volume(volume, &target, opts) {
            Ok(path) => written.push(path),
            Err(err) => {
                // A build is all its volumes: do not leave the first ones looking complete.
                if !opts.keep_failed {
                    for path in &written {
                        let _ = std::fs::remove_file(path);
                    }
                }
                return Err(err);
            }
        }
    }
    Ok(written)
}

/// Writes one volume to `target` atomically.
pub fn write_volume(volume: &VolumePlan, target: &Path, opts: &WriteOptions) -> Result<PathBuf> {
    check_volume(volume)?;
    let _guard = interrupt::InterruptGuard::install();
    let pending = PendingImage::create(target, volume.size)?;
    match fill_volume(volume, &pending, opts) {
        Ok(()) => pending.commit(),
        Err(err) if opts.keep_failed => match pending.keep() {
            Ok(kept) => Err(err.context(format!(
                "writing {} failed; partial image kept at {}",
                target.display(),
                kept.display()
            ))),
            Err(keep_err) => Err(err.context(format!("{keep_err:#}"))),
        },
        Err(err) => Err(err.context(format!("writing {}", target.display()))),
    }
}

fn fill_volume(volume: &VolumePlan, image: &PendingImage, opts: &WriteOptions) -> Result<()> {
    let progress = opts.progress;
    progress.volume(&volume.name, content_bytes(volume));
    progress.step("partition table");
    match volume.schema {
        Schema::Gpt => gpt::write(volume, image.file())?,
        Schema::Mbr => apply(image, &mbr::patches(volume)?, volume.size)?,
    }
    for s in &volume.structures {
        interrupt::check()?;
        write_structure(volume, s, image, opts)
            .with_context(|| format!("volume {}: structure {}", volume.name, s.name))?;
    }
    for w in &volume.offset_writes {
        window::write_at(image.file(), w.at, &w.value.to_le_bytes(), volume.size)
            .with_context(|| format!("volume {}: offset-write at {}", volume.name, w.at))?;
    }
    Ok(())
}

fn apply(image: &PendingImage, patches: &[Patch], limit: u64) -> Result<()> {
    for p in patches {
        window::write_at(image.file(), p.offset, &p.bytes, limit)?;
    }
    Ok(())
}

fn write_structure(
    volume: &VolumePlan,
    s: &StructurePlan,
    image: &PendingImage,
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
                if have > raw.size {
                    bail!(
                        "image {} is {have} bytes, {} more than the {} bytes planned",
                        raw.source.display(),
                        have - raw.size,
                        raw.size
                    );
                }
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
            opts.progress
                .step(&format!("{} ({})", s.name, crate::fs::kind_name(fs.kind)));
            let fs_opts = crate::fs::FsOptions {
                build_time: opts.build_time,
                progress: &|n| opts.progress.advance(n),
            };
            crate::fs::write(
                image.file(),
                image.path(),
                volume.sector_size,
                s,
                fs,
                &fs_opts,
            )
        }
    }
}

/// Content bytes of a volume, for progress: raw images and regular files (sizes on disk).
fn content_bytes(volume: &VolumePlan) -> u64 {
    let mut total = 0u64;
    for s in &volume.structures {
        match &s.content {
            StructureContent::Empty => {}
            StructureContent::Raw(images) => {
                for raw in images {
                    let len = std::fs::metadata(&raw.source).map_or(0, |m| m.len());
                    total = total.saturating_add(len);
                }
            }
            StructureContent::Filesystem(fs) => {
                total = total.saturating_add(crate::fs::content_bytes(fs));
            }
        }
    }
    total
}

/// What the writer needs beyond [`VolumePlan::validate`]: nothing may touch the partition table
/// areas except the mbr blob in bytes 0..446, and filesystems must suit their structure.
pub fn check_volume(volume: &VolumePlan) -> Result<()> {
    volume.validate()?;
    let name = &volume.name;
    let ss = volume.sector_size;
    let (usable_start, usable_end) = match volume.schema {
        Schema::Gpt => {
            // Numbering, names and kinds of the entries: refused before any byte is written.
            gpt::entries(volume)?;
            gpt::GptGeometry::new(ss, volume.size)
                .with_context(|| format!("volume {name}"))?
                .usable_bytes()
        }
        Schema::Mbr => (ss, volume.size),
    };
    for s in &volume.structures {
        let end = s.offset + s.size;
        if s.role.as_deref() == Some("mbr") {
            if s.offset != 0 || s.size > MBR_BLOB_MAX {
                bail!(
                    "volume {name}: structure {}: the mbr structure must be at offset 0 and at \
                     most {MBR_BLOB_MAX} bytes (it is {} bytes at {})",
                    s.name,
                    s.size,
                    s.offset
                );
            }
            continue;
        }
        if s.offset < usable_start || end > usable_end {
            bail!(
                "volume {name}: structure {} ({}..{end}) overlaps the {} partition table areas \
                 (usable bytes are {usable_start}..{usable_end})",
                s.name,
                s.offset,
                match volume.schema {
                    Schema::Gpt => "GPT",
                    Schema::Mbr => "MBR",
                },
            );
        }
        match &s.content {
            StructureContent::Filesystem(fs) => {
                crate::fs::check(s, fs, ss).with_context(|| format!("volume {name}"))?;
            }
            StructureContent::Raw(images) => {
                for raw in images {
                    check_raw(raw)
                        .with_context(|| format!("volume {name}: structure {}", s.name))?;
                }
            }
            StructureContent::Empty => {}
        }
    }
    check_offset_writes(volume, usable_start, usable_end)
}

/// A raw image exists and is no larger than the room the plan gives it.
fn check_raw(raw: &RawImage) -> Result<()> {
    let have = std::fs::metadata(&raw.source)
        .with_context(|| format!("reading {}", raw.source.display()))?
        .len();
    if have > raw.size {
        bail!(
            "image {} is {have} bytes, {} more than the {} bytes planned",
            raw.source.display(),
            have - raw.size,
            raw.size
        );
    }
    Ok(())
}

/// Offset-writes may land anywhere but on the partition table.
fn check_offset_writes(volume: &VolumePlan, usable_start: u64, usable_end: u64) -> Result<()> {
    let name = &volume.name;
    let ss = volume.sector_size;
    for w in &volume.offset_writes {
        let (at, end) = (w.at, w.at + 4);
        let in_table = |(start, stop): (u64, u64)| at < stop && end > start;
        let clobbers = match volume.schema {
            Schema::Mbr => in_table(mbr::TABLE_BYTES),
            Schema::Gpt => {
                in_table(mbr::TABLE_BYTES)
                    || in_table((ss, usable_start))
                    || in_table((usable_end, volume.size))
            }
        };
        if clobbers {
            bail!("volume {name}: offset-write at {at} would overwrite the partition table");
        }
    }
    Ok(())
}
