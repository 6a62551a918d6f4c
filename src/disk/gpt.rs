//! GPT for a [`VolumePlan`]: the checks the plan must pass and the table itself, written with
//! the `gpt` crate (protective MBR, primary header and entry array after it, backup entry array
//! and header at the end of the disk).
//!
//! The crate builds 128 entries of 128 bytes (16 KiB: 32 sectors of 512 bytes or 4 of 4096) and
//! computes the CRCs; this module supplies every value from the plan so nothing is random: the
//! disk GUID, and per partition its number, exact first/last LBA, type and unique GUIDs and name.
//! The crate stores used entries in number order from the first slot, so partition numbers must
//! run from 1 without gaps (the gadget layout numbers them that way).

use crate::plan::{DiskId, PartitionKind, VolumePlan};
use crate::window::Window;
use anyhow::{Context, Result, bail};
use gpt::disk::LogicalBlockSize;
use gpt::mbr::ProtectiveMBR;
use gpt::partition::Partition;
use std::collections::BTreeMap;
use std::fs::File;
use uuid::Uuid;

const ENTRIES: u64 = 128;
const ENTRY_SIZE: u64 = 128;
/// Longest partition name: 36 UTF-16 code units (the crate would cut longer ones silently).
const NAME_UNITS: usize = 36;

/// Sector numbers of the GPT areas for a disk of `sectors` sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptGeometry {
    pub sector_size: u64,
    pub entry_sectors: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub backup_entries: u64,
    pub backup_header: u64,
}

impl GptGeometry {
    pub fn new(sector_size: u64, size: u64) -> Result<Self> {
        let sectors = size / sector_size;
        let entry_sectors = (ENTRIES * ENTRY_SIZE).div_ceil(sector_size);
        let first_usable = 2 + entry_sectors;
        // Room for both tables and at least one usable sector.
        if sectors < 2 * entry_sectors + 4 {
            bail!(
                "image of {size} bytes is too small for a GPT with {sector_size}-byte sectors \
                 (at least {} bytes)",
                (2 * entry_sectors + 4) * sector_size
            );
        }
        Ok(GptGeometry {
            sector_size,
            entry_sectors,
            first_usable,
            last_usable: sectors - entry_sectors - 2,
            backup_entries: sectors - entry_sectors - 1,
            backup_header: sectors - 1,
        })
    }

    /// The usable byte range `[start, end)`: structures other than the MBR blob live here.
    pub fn usable_bytes(&self) -> (u64, u64) {
        (
            self.first_usable * self.sector_size,
            (self.last_usable + 1) * self.sector_size,
        )
    }
}

/// The plan's disk GUID.
fn disk_guid(volume: &VolumePlan) -> Result<Uuid> {
    match volume.disk_id {
        DiskId::Gpt(guid) => Ok(guid),
        DiskId::Mbr(_) => bail!("volume {}: a GPT volume needs a GUID disk id", volume.name),
    }
}

/// The partition entries keyed by partition number, checked: GPT kinds only, numbers 1..=N
/// without gaps or repeats (N ≤ 128), names of at most 36 UTF-16 units. Pure.
pub fn entries(volume: &VolumePlan) -> Result<BTreeMap<u32, Partition>> {
    let ss = volume.sector_size.bytes();
    let mut entries = BTreeMap::new();
    for s in &volume.structures {
        let Some(part) = &s.partition else { continue };
        let at = || format!("volume {}: structure {}", volume.name, s.name);
        let PartitionKind::Gpt {
            type_guid,
            unique_guid,
            name,
        } = &part.kind
        else {
            bail!("{}: an MBR partition entry in a GPT volume", at());
        };
        if part.number == 0 || u64::from(part.number) > ENTRIES {
            bail!(
                "{}: partition number {} is not between 1 and {ENTRIES}",
                at(),
                part.number
            );
        }
        if name.encode_utf16().count() > NAME_UNITS {
            bail!(
                "{}: partition name {name:?} is longer than {NAME_UNITS} characters",
                at()
            );
        }
        let last_lba = s
            .offset
            .checked_add(s.size)
            .and_then(|end| (end / ss).checked_sub(1))
            .with_context(|| format!("{}: partition end", at()))?;
        let entry = Partition {
            part_type_guid: (*type_guid).into(),
            part_guid: *unique_guid,
            first_lba: s.offset / ss,
            last_lba,
            flags: 0,
            name: name.clone(),
        };
        if entries.insert(part.number, entry).is_some() {
            bail!(
                "volume {}: partition number {} is used twice",
                volume.name,
                part.number
            );
        }
    }
    // The crate writes used entries in number order from slot 1: a gap would renumber the rest.
    for (slot, number) in (1u32..).zip(entries.keys()) {
        if *number != slot {
            bail!(
                "volume {}: partition numbers must run from 1 without gaps (number {slot} is \
                 missing)",
                volume.name
            );
        }
    }
    Ok(entries)
}

/// Writes the protective MBR, both headers and both entry arrays into `file`, an image of
/// `volume.size` bytes. Only the table areas are written (sector 0's first 512 bytes, the
/// sectors from 1 to first usable, and from the backup entry array to the end).
pub fn write(volume: &VolumePlan, file: &File) -> Result<()> {
    let guid = disk_guid(volume)?;
    let entries = entries(volume)?;
    let geo = GptGeometry::new(volume.sector_size.bytes(), volume.size)
        .with_context(|| format!("volume {}", volume.name))?;
    let lb = LogicalBlockSize::try_from(volume.sector_size.bytes())
        .with_context(|| format!("volume {}: sector size", volume.name))?;
    // The crate finds the backup header from the device's end: the window ends at the image size.
    let mut device = Window::new(file, 0, volume.size);
    // The protective entry covers LBA 1 to the last sector, capped at 2^32-1 sectors.
    let covered = u32::try_from(geo.backup_header).unwrap_or(u32::MAX);
    ProtectiveMBR::with_lb_size(covered)
        .overwrite_lba0(&mut device)
        .context("writing the protective MBR")?;
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(lb)
        .create_from_device(device, Some(guid))
        .context("preparing the GPT headers")?;
    disk.update_partitions(entries)
        .context("setting the GPT entries")?;
    disk.write().context("writing the GPT")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PartitionEntry, Schema, StructureContent, StructurePlan};
    use std::os::unix::fs::FileExt;

    const MIB: u64 = 1 << 20;

    fn volume(sector_size: u64, numbers: &[u32]) -> VolumePlan {
        let structures = numbers
            .iter()
            .zip(1u64..)
            .map(|(n, i)| StructurePlan {
                index: usize::try_from(i).unwrap(),
                name: format!("part{n}"),
                role: None,
                offset: i * MIB,
                size: MIB,
                partition: Some(PartitionEntry {
                    number: *n,
                    kind: PartitionKind::Gpt {
                        type_guid: Uuid::from_u128(0x0FC6_3DAF_8483_4772_8E79_3D69_D847_7DE4),
                        unique_guid: Uuid::from_u128(0x1000 + u128::from(*n)),
                        name: format!("part-{n}"),
                    },
                }),
                content: StructureContent::Empty,
            })
            .collect();
        VolumePlan {
            name: "pc".into(),
            schema: Schema::Gpt,
            sector_size: sector_size.try_into().unwrap(),
            size: 8 * MIB,
            disk_id: DiskId::Gpt(Uuid::from_u128(0xABCD)),
            structures,
            offset_writes: vec![],
        }
    }

    #[test]
    fn geometry_for_both_sector_sizes() {
        let g = GptGeometry::new(512, 8 << 20).unwrap();
        assert_eq!((g.first_usable, g.last_usable), (34, 16384 - 34));
        assert_eq!((g.backup_entries, g.backup_header), (16384 - 33, 16383));
        let g = GptGeometry::new(4096, 8 << 20).unwrap();
        assert_eq!((g.first_usable, g.last_usable), (6, 2048 - 6));
        assert!(GptGeometry::new(512, 16 * 512).is_err());
    }

    #[test]
    fn numbering_gaps_repeats_and_long_names_are_refused() {
        let err = |v: &VolumePlan| format!("{:#}", entries(v).unwrap_err());
        assert!(entries(&volume(512, &[1, 2, 3])).is_ok());
        assert!(err(&volume(512, &[1, 3])).contains("number 2 is missing"));
        assert!(err(&volume(512, &[1, 1])).contains("used twice"));
        assert!(err(&volume(512, &[0])).contains("not between 1 and 128"));
        let mut v = volume(512, &[1]);
        if let Some(PartitionEntry {
            kind: PartitionKind::Gpt { name, .. },
            ..
        }) = &mut v.structures[0].partition
        {
            *name = "x".repeat(37);
        }
        assert!(err(&v).contains("longer than 36"));
    }

    /// The table reads back with the plan's values, and bytes outside the table areas (here a
    /// pattern over the whole usable area) are untouched.
    #[test]
    fn table_reads_back_and_leaves_partitions_alone() {
        for ss in [512u64, 4096] {
            let v = volume(ss, &[1, 2, 3]);
            let geo = GptGeometry::new(ss, v.size).unwrap();
            let (start, end) = geo.usable_bytes();
            let file = tempfile::tempfile().unwrap();
            file.set_len(v.size).unwrap();
            let pattern = vec![0xA5u8; usize::try_from(end - start).unwrap()];
            file.write_all_at(&pattern, start).unwrap();
            write(&v, &file).unwrap();

            let mut after = vec![0u8; pattern.len()];
            file.read_exact_at(&mut after, start).unwrap();
            assert!(after == pattern, "usable area changed ({ss})");
            let mut sector0 = [0u8; 512];
            file.read_exact_at(&mut sector0, 0).unwrap();
            assert_eq!(sector0[450], 0xEE);
            let covered = u32::from_le_bytes(sector0[458..462].try_into().unwrap());
            assert_eq!(u64::from(covered), v.size / ss - 1);

            let disk = gpt::GptConfig::new()
                .only_valid_headers(true)
                .logical_block_size(LogicalBlockSize::try_from(ss).unwrap())
                .open_from_device(Window::new(&file, 0, v.size))
                .unwrap();
            assert_eq!(*disk.guid(), Uuid::from_u128(0xABCD));
            let h = disk.primary_header().unwrap();
            assert_eq!(
                (h.first_usable, h.last_usable),
                (geo.first_usable, geo.last_usable)
            );
            assert_eq!(disk.partitions(), &entries(&v).unwrap());
        }
    }
}
