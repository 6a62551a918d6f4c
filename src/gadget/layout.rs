//! Layout: absolute offsets, partition numbers, volume sizes and offset-write values, for a
//! sector size of 512 or 4096 bytes.
//!
//! Offsets follow snapd's `setVolumeStructureOffset`: in YAML order, a structure without an
//! explicit offset starts where the previous one ended, pushed to at least 1 MiB unless it is
//! the MBR blob; explicit offsets below 1 MiB are legal. Then, as snapd does, structures are
//! sorted by offset and none may start before the end of the one before it (so explicit
//! offsets may be listed out of order). No alignment rounding is done; instead partitions that do not fall
//! on sector boundaries, and structures that overlap the partition table areas, are errors (the
//! latter is a warning in snapd and produced broken images in ubuntu-image).

use super::schema::{At, Bootloader, GadgetError, Role, Structure};
use super::{Gadget, Volume};
use crate::plan::{OffsetWrite, Schema};
use crate::units::MIB;

/// Size of the GPT partition entry array: 128 entries of 128 bytes.
const GPT_ENTRIES_BYTES: u64 = 128 * 128;
/// Bytes at the start of an MBR disk holding the partition table (boot code is before 446).
const MBR_TABLE_END: u64 = 512;

/// Bytes the primary GPT occupies at the start of the disk (protective MBR, header, entries).
pub fn gpt_primary_end(sector_size: u64) -> u64 {
    (2 + GPT_ENTRIES_BYTES / sector_size) * sector_size
}

/// Bytes the backup GPT occupies at the end of the disk (entries, header).
pub fn gpt_backup_size(sector_size: u64) -> u64 {
    (1 + GPT_ENTRIES_BYTES / sector_size) * sector_size
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub volumes: Vec<VolumeLayout>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumeLayout {
    pub name: String,
    pub schema: Schema,
    pub bootloader: Option<Bootloader>,
    pub sector_size: u64,
    /// End of the last structure.
    pub size: u64,
    /// Structures sorted by offset.
    pub structures: Vec<PlacedStructure>,
    pub offset_writes: Vec<OffsetWrite>,
}

/// A structure with its computed place on the disk.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedStructure {
    pub structure: Structure,
    pub offset: u64,
    /// 1-based partition number; `None` for bare structures and the MBR blob.
    pub partition: Option<u32>,
}

impl PlacedStructure {
    pub fn end(&self) -> u64 {
        // layout() checked that this does not overflow.
        self.offset.saturating_add(self.structure.size)
    }
}

impl VolumeLayout {
    /// The smallest image that holds this volume: its size rounded up to a sector, plus the
    /// backup GPT at the end for GPT volumes.
    pub fn min_image_size(&self) -> u64 {
        let aligned = crate::units::align_up(self.size, self.sector_size).unwrap_or(u64::MAX);
        match self.schema {
            Schema::Gpt => aligned.saturating_add(gpt_backup_size(self.sector_size)),
            Schema::Mbr => aligned,
        }
    }

    pub fn structure_with_role(&self, role: Role) -> Option<&PlacedStructure> {
        self.structures
            .iter()
            .find(|p| p.structure.role == Some(role))
    }
}

/// Lays out every volume of `gadget` for `sector_size` (512 or 4096).
pub fn layout(gadget: &Gadget, sector_size: u64) -> Result<Layout, GadgetError> {
    if sector_size != 512 && sector_size != 4096 {
        return Err(GadgetError {
            volume: None,
            structure: None,
            field: "sector-size".into(),
            message: format!("{sector_size} is not 512 or 4096"),
        });
    }
    let volumes = gadget
        .volumes
        .iter()
        .map(|v| volume_layout(v, sector_size))
        .collect::<Result<_, _>>()?;
    Ok(Layout { volumes })
}

fn at<'a>(volume: &'a Volume, shown: &'a str) -> At<'a> {
    At {
        volume: &volume.name,
        structure: Some(shown),
    }
}

/// Places the structures of one volume and checks them against the partition table.
pub fn volume_layout(volume: &Volume, sector_size: u64) -> Result<VolumeLayout, GadgetError> {
    let mut placed = place(volume)?;
    let mut number = 0u32;
    for p in &mut placed {
        let shown = p.structure.display_name();
        table_rules(volume, &at(volume, &shown), p, sector_size)?;
        if p.structure.is_partition() {
            number += 1;
            p.partition = Some(number);
        }
    }
    if volume.schema == Schema::Mbr && number > 4 {
        return Err(volume.at().err(
            "structure",
            format!("{number} partitions, but the mbr schema holds at most 4"),
        ));
    }
    let size = placed.iter().map(PlacedStructure::end).max().unwrap_or(0);
    let offset_writes = offset_writes(volume, &placed, sector_size)?;
    Ok(VolumeLayout {
        name: volume.name.clone(),
        schema: volume.schema,
        bootloader: volume.bootloader,
        sector_size,
        size,
        structures: placed,
        offset_writes,
    })
}

/// Offsets as snapd computes them: in YAML order a structure without an explicit offset starts
/// where the previous one (in YAML order) ended, pushed to at least 1 MiB unless it is the MBR
/// blob; then the structures are sorted by offset (a stable sort, so structures listed out of
/// offset order with explicit offsets are legal) and none may start before the end of the one
/// before it.
fn place(volume: &Volume) -> Result<Vec<PlacedStructure>, GadgetError> {
    let mut placed: Vec<PlacedStructure> = Vec::new();
    let mut cursor = 0u64;
    for s in &volume.structures {
        let offset = match s.offset {
            Some(explicit) => explicit,
            None if s.role == Some(Role::Mbr) => cursor,
            None => cursor.max(MIB),
        };
        cursor = offset
            .checked_add(s.size)
            .ok_or_else(|| at(volume, &s.display_name()).err("size", "offset + size overflows"))?;
        placed.push(PlacedStructure {
            structure: s.clone(),
            offset,
            partition: None,
        });
    }
    placed.sort_by_key(|p| p.offset);
    for pair in placed.windows(2) {
        let (prev, p) = (&pair[0], &pair[1]);
        if p.offset < prev.end() {
            let shown = p.structure.display_name();
            return Err(at(volume, &shown).err(
                "offset",
                format!(
                    "structure at {} overlaps structure {} ({}..{})",
                    p.offset,
                    prev.structure.display_name(),
                    prev.offset,
                    prev.end()
                ),
            ));
        }
    }
    Ok(placed)
}

fn table_rules(
    volume: &Volume,
    at: &At,
    p: &PlacedStructure,
    sector_size: u64,
) -> Result<(), GadgetError> {
    let s = &p.structure;
    if s.role == Some(Role::Mbr) {
        if p.offset != 0 {
            return Err(at.err(
                "offset",
                format!("the mbr structure is at {}, not 0", p.offset),
            ));
        }
        return Ok(());
    }
    let reserved = match volume.schema {
        Schema::Gpt => gpt_primary_end(sector_size),
        Schema::Mbr => MBR_TABLE_END,
    };
    if p.offset < reserved {
        let what = match volume.schema {
            Schema::Gpt => "the GPT header and partition entries",
            Schema::Mbr => "the MBR partition table",
        };
        return Err(at.err(
            "offset",
            format!(
                "structure at {} overlaps {what} (the first {reserved} bytes with {sector_size}-byte sectors)",
                p.offset
            ),
        ));
    }
    if s.is_partition() {
        if !p.offset.is_multiple_of(sector_size) {
            return Err(at.err(
                "offset",
                format!(
                    "{} is not a multiple of the {sector_size}-byte sector size",
                    p.offset
                ),
            ));
        }
        if !s.size.is_multiple_of(sector_size) {
            return Err(at.err(
                "size",
                format!(
                    "{} is not a multiple of the {sector_size}-byte sector size",
                    s.size
                ),
            ));
        }
    }
    Ok(())
}

fn offset_writes(
    volume: &Volume,
    placed: &[PlacedStructure],
    sector_size: u64,
) -> Result<Vec<OffsetWrite>, GadgetError> {
    let mut out = Vec::new();
    for p in placed {
        let Some(spec) = &p.structure.offset_write else {
            continue;
        };
        let shown = p.structure.display_name();
        let at = at(volume, &shown);
        let base = match &spec.relative_to {
            None => 0,
            Some(name) => {
                let target = placed
                    .iter()
                    .find(|q| q.structure.name.as_deref() == Some(name))
                    .ok_or_else(|| {
                        at.err("offset-write", format!("no structure named {name:?}"))
                    })?;
                if target.offset != 0 {
                    return Err(at.err(
                        "offset-write",
                        format!("{name:?} must be the first structure, at offset 0"),
                    ));
                }
                target.offset
            }
        };
        let write_at = base.saturating_add(spec.offset);
        if !p.offset.is_multiple_of(sector_size) {
            return Err(at.err(
                "offset-write",
                format!(
                    "the structure's offset {} is not a whole {sector_size}-byte sector",
                    p.offset
                ),
            ));
        }
        let value = u32::try_from(p.offset / sector_size)
            .map_err(|_| at.err("offset-write", "the start sector does not fit in 32 bits"))?;
        let table_end = match volume.schema {
            Schema::Gpt => gpt_primary_end(sector_size),
            Schema::Mbr => MBR_TABLE_END,
        };
        if write_at.saturating_add(4) > 446 && write_at < table_end {
            return Err(at.err(
                "offset-write",
                format!("writing 4 bytes at {write_at} would clobber the partition table (446..{table_end})"),
            ));
        }
        out.push(OffsetWrite {
            at: write_at,
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_areas() {
        // Protective MBR + header + 32 sectors of entries; backup: entries + header.
        assert_eq!(gpt_primary_end(512), 34 * 512);
        assert_eq!(gpt_backup_size(512), 33 * 512);
        assert_eq!(gpt_primary_end(4096), 6 * 4096);
        assert_eq!(gpt_backup_size(4096), 5 * 4096);
    }

    #[test]
    fn implicit_offsets_are_pushed_to_one_mib_explicit_ones_are_kept() {
        let yaml = |a_size: u64| {
            format!(
                "volumes:\n  vol:\n    bootloader: grub\n    structure:\n      - {{name: mbr, type: mbr, size: 440}}\n      - {{name: spl, type: bare, offset: 33792, size: 1000}}\n      - {{name: a, type: bare, size: {a_size}}}\n      - {{name: b, type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4, size: 1M}}\n"
            )
        };
        let parse = |text: &str| Gadget::parse(text, super::super::Ruleset::Unknown).unwrap();
        let v = layout(&parse(&yaml(512)), 512).unwrap().volumes.remove(0);
        let offsets: Vec<_> = v.structures.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, [0, 33792, MIB, MIB + 512]);
        assert_eq!(v.size, 2 * MIB + 512);
        // With a 10-byte `a`, b starts off a sector boundary: refused, not rounded.
        let err = layout(&parse(&yaml(10)), 512).unwrap_err().to_string();
        assert!(
            err.contains("structure b: offset: 1048586 is not a multiple"),
            "{err}"
        );
        // With 4096-byte sectors, b at MIB + 512 is off too.
        assert!(layout(&parse(&yaml(512)), 4096).is_err());
    }

    #[test]
    fn structures_are_sorted_by_offset_before_the_overlap_check() {
        let yaml = |c_size: &str| {
            format!(
                "volumes:\n  vol:\n    bootloader: grub\n    structure:\n      - {{name: b, type: bare, offset: 10M, size: 4M}}\n      - {{name: a, type: bare, offset: 2M, size: 4M}}\n      - {{name: c, type: bare, size: {c_size}}}\n"
            )
        };
        let parse = |text: &str| Gadget::parse(text, super::super::Ruleset::Unknown).unwrap();
        // c follows a (its YAML predecessor) and fits the gap before b.
        let v = layout(&parse(&yaml("4M")), 512).unwrap().volumes.remove(0);
        let placed: Vec<_> = v
            .structures
            .iter()
            .map(|p| (p.structure.display_name(), p.offset))
            .collect();
        assert_eq!(
            placed,
            [
                ("a".into(), 2 * MIB),
                ("c".into(), 6 * MIB),
                ("b".into(), 10 * MIB)
            ]
        );
        let err = layout(&parse(&yaml("5M")), 512).unwrap_err().to_string();
        assert!(
            err.contains("structure b: offset: structure at 10485760 overlaps structure c"),
            "{err}"
        );
    }
}
