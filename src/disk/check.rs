//! Every refusal the image writer would make, gathered in one place and made before any byte is
//! written: [`check`] runs for `build --dry-run` and for `build` alike, so a dry run passes
//! exactly what a build would write. Beyond [`ImagePlan::validate`] (sector size, alignment,
//! order, overlap, fit): nothing may touch the partition table areas except the mbr blob in
//! bytes 0..446, offset-writes stay off the table, GPT entries are well formed, raw images exist
//! and fit the room planned for them, and filesystems suit their structure (FAT geometry, label
//! length, content size).

use super::{MBR_BLOB_MAX, gpt, mbr};
use crate::plan::{ImagePlan, RawImage, Schema, StructureContent, StructurePlan, VolumePlan};
use anyhow::{Context, Result, bail};

/// A plan that passed [`check`]: the only kind of plan the writer accepts.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'p>(&'p ImagePlan);

impl<'p> Checked<'p> {
    pub fn plan(&self) -> &'p ImagePlan {
        self.0
    }
}

/// Checks `plan` against every rule of the writer.
pub fn check(plan: &ImagePlan) -> Result<Checked<'_>> {
    plan.validate()?;
    for volume in &plan.volumes {
        check_writable(volume)?;
    }
    Ok(Checked(plan))
}

/// Checks one volume, [`VolumePlan::validate`] included.
pub fn check_volume(volume: &VolumePlan) -> Result<()> {
    volume.validate()?;
    check_writable(volume)
}

/// The writer's rules for a volume that already passed [`VolumePlan::validate`].
fn check_writable(volume: &VolumePlan) -> Result<()> {
    let name = &volume.name;
    let (usable_start, usable_end) = match volume.schema {
        Schema::Gpt => {
            // Numbering, names and kinds of the entries: refused before any byte is written.
            gpt::entries(volume)?;
            gpt::GptGeometry::new(volume.sector_size.bytes(), volume.size)
                .with_context(|| format!("volume {name}"))?
                .usable_bytes()
        }
        Schema::Mbr => (volume.sector_size.bytes(), volume.size),
    };
    for s in &volume.structures {
        check_structure(volume, s, (usable_start, usable_end))?;
    }
    check_offset_writes(volume, usable_start, usable_end)
}

/// A structure stays within the usable bytes (the mbr blob within the boot code area) and its
/// content suits it.
fn check_structure(volume: &VolumePlan, s: &StructurePlan, usable: (u64, u64)) -> Result<()> {
    let name = &volume.name;
    let (usable_start, usable_end) = usable;
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
        return Ok(());
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
        StructureContent::Filesystem(fs) => crate::fs::check(s, fs, volume.sector_size.bytes())
            .with_context(|| format!("volume {name}")),
        StructureContent::Raw(images) => images.iter().try_for_each(|raw| {
            let have = std::fs::metadata(&raw.source)
                .with_context(|| format!("reading {}", raw.source.display()))?
                .len();
            check_raw_len(raw, have).with_context(|| format!("volume {name}: structure {}", s.name))
        }),
        StructureContent::Empty => Ok(()),
    }
}

/// A raw image of `have` bytes is no larger than the room the plan gives it (checked again
/// when it is copied: the file may have grown since).
pub(super) fn check_raw_len(raw: &RawImage, have: u64) -> Result<()> {
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
    let ss = volume.sector_size.bytes();
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
