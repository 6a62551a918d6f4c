//! GPT bytes, computed purely from a [`VolumePlan`]: protective MBR, primary header and entry
//! array after it, backup entry array and header at the end of the disk.
//!
//! 128 entries of 128 bytes (16 KiB): 32 sectors of 512 bytes or 4 of 4096. GUIDs are stored in
//! the mixed-endian on-disk form; CRC32 covers the 92-byte header (with its CRC field zeroed)
//! and the whole entry array.

use super::Patch;
use crate::plan::{DiskId, PartitionKind, VolumePlan};
use anyhow::{Context, Result, bail};

const ENTRIES: u64 = 128;
const ENTRY_SIZE: u64 = 128;
const HEADER_SIZE: usize = 92;
/// Longest partition name: 36 UTF-16 code units.
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

/// The protective MBR, both headers and both entry arrays.
pub fn patches(volume: &VolumePlan) -> Result<Vec<Patch>> {
    let DiskId::Gpt(disk_guid) = volume.disk_id else {
        bail!("volume {}: a GPT volume needs a GUID disk id", volume.name);
    };
    let ss = volume.sector_size;
    let geo = GptGeometry::new(ss, volume.size)?;
    let array = entry_array(volume)?;
    let array_crc = crc32fast::hash(&array);
    let header = |mine: u64, other: u64, entries_at: u64| {
        let mut h = vec![0u8; usize::try_from(ss).unwrap_or(512)];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&mine.to_le_bytes());
        h[32..40].copy_from_slice(&other.to_le_bytes());
        h[40..48].copy_from_slice(&geo.first_usable.to_le_bytes());
        h[48..56].copy_from_slice(&geo.last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&disk_guid.to_bytes_le());
        h[72..80].copy_from_slice(&entries_at.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&array_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..HEADER_SIZE]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    Ok(vec![
        Patch::new(0, protective_mbr(ss, volume.size)),
        Patch::new(ss, header(1, geo.backup_header, 2)),
        Patch::new(2 * ss, array.clone()),
        Patch::new(geo.backup_entries * ss, array),
        Patch::new(
            geo.backup_header * ss,
            header(geo.backup_header, 1, geo.backup_entries),
        ),
    ])
}

fn entry_array(volume: &VolumePlan) -> Result<Vec<u8>> {
    let ss = volume.sector_size;
    let mut array = vec![0u8; usize::try_from(ENTRIES * ENTRY_SIZE)?];
    for s in &volume.structures {
        let Some(part) = &s.partition else { continue };
        let PartitionKind::Gpt {
            type_guid,
            unique_guid,
            name,
        } = &part.kind
        else {
            bail!(
                "volume {}: structure {}: an MBR partition entry in a GPT volume",
                volume.name,
                s.name
            );
        };
        if part.number == 0 || u64::from(part.number) > ENTRIES {
            bail!(
                "volume {}: structure {}: partition number {} is not between 1 and 128",
                volume.name,
                s.name,
                part.number
            );
        }
        let units: Vec<u16> = name.encode_utf16().collect();
        if units.len() > NAME_UNITS {
            bail!(
                "volume {}: structure {}: partition name {name:?} is longer than 36 characters",
                volume.name,
                s.name
            );
        }
        let at = usize::try_from(u64::from(part.number - 1) * ENTRY_SIZE)?;
        let e = &mut array[at..at + 128];
        if e[..16].iter().any(|b| *b != 0) {
            bail!(
                "volume {}: partition number {} is used twice",
                volume.name,
                part.number
            );
        }
        let last = s
            .offset
            .checked_add(s.size)
            .and_then(|end| (end / ss).checked_sub(1))
            .context("partition end")?;
        e[0..16].copy_from_slice(&type_guid.to_bytes_le());
        e[16..32].copy_from_slice(&unique_guid.to_bytes_le());
        e[32..40].copy_from_slice(&(s.offset / ss).to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
        for (i, unit) in units.iter().enumerate() {
            e[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }
    }
    Ok(array)
}

/// A protective MBR: one 0xEE entry covering the disk (capped at 2^32-1 sectors).
fn protective_mbr(sector_size: u64, size: u64) -> Vec<u8> {
    let sectors = size / sector_size;
    let covered = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
    let mut mbr = vec![0u8; 512];
    let e = &mut mbr[446..462];
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    e[4] = 0xEE;
    e[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    e[12..16].copy_from_slice(&covered.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    mbr
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn protective_mbr_covers_the_disk() {
        let mbr = protective_mbr(512, 1 << 20);
        assert_eq!(mbr[450], 0xEE);
        assert_eq!(u32::from_le_bytes(mbr[458..462].try_into().unwrap()), 2047);
        assert_eq!(&mbr[510..], &[0x55, 0xAA]);
    }
}
