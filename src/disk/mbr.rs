//! MBR (DOS) partition table bytes, computed purely from a [`VolumePlan`]: four primary entries
//! with type bytes, the bootable flag, the disk signature at byte 440 and the 0x55AA marker.
//!
//! LBAs are in the volume's logical sectors (512 or 4096 bytes) and must fit in 32 bits. CHS
//! fields use the customary 255 heads and 63 sectors per track, saturating at cylinder 1023.

use super::Patch;
use crate::plan::{DiskId, PartitionKind, StructurePlan, VolumePlan};
use anyhow::{Result, bail};

/// Byte range of the partition table and boot signature in sector 0.
pub const TABLE_BYTES: (u64, u64) = (446, 512);

/// Sector 0 with the partition table; bytes 0..440 stay zero for the mbr blob.
pub fn patches(volume: &VolumePlan) -> Result<Vec<Patch>> {
    let DiskId::Mbr(signature) = volume.disk_id else {
        bail!(
            "volume {}: an MBR volume needs a 32-bit disk signature",
            volume.name
        );
    };
    let mut sector = vec![0u8; 512];
    sector[440..444].copy_from_slice(&signature.to_le_bytes());
    for s in &volume.structures {
        if s.partition.is_some() {
            write_entry(&mut sector, volume, s)?;
        }
    }
    sector[510] = 0x55;
    sector[511] = 0xAA;
    Ok(vec![Patch::new(0, sector)])
}

/// Fills the table entry of structure `s` in `sector`.
fn write_entry(sector: &mut [u8], volume: &VolumePlan, s: &StructurePlan) -> Result<()> {
    let what = || format!("volume {}: structure {}", volume.name, s.name);
    let Some(part) = &s.partition else {
        return Ok(());
    };
    let PartitionKind::Mbr {
        type_byte,
        bootable,
    } = part.kind
    else {
        bail!("{}: a GPT partition entry in an MBR volume", what());
    };
    if !(1..=4).contains(&part.number) {
        bail!(
            "{}: partition number {} is not between 1 and 4 (only primary MBR partitions are \
             supported)",
            what(),
            part.number
        );
    }
    if type_byte == 0 {
        bail!("{}: MBR type 00 marks an unused entry", what());
    }
    let ss = volume.sector_size.bytes();
    let (Ok(start), Ok(count)) = (u32::try_from(s.offset / ss), u32::try_from(s.size / ss)) else {
        bail!("{}: beyond the 2^32 sectors an MBR can address", what());
    };
    let index = usize::try_from(part.number - 1)?;
    let e = &mut sector[446 + 16 * index..462 + 16 * index];
    if e[4] != 0 {
        bail!("{}: partition number {} is used twice", what(), part.number);
    }
    e[0] = if bootable { 0x80 } else { 0x00 };
    e[1..4].copy_from_slice(&chs(start));
    e[4] = type_byte;
    e[5..8].copy_from_slice(&chs(start.saturating_add(count.saturating_sub(1))));
    e[8..12].copy_from_slice(&start.to_le_bytes());
    e[12..16].copy_from_slice(&count.to_le_bytes());
    Ok(())
}

/// CHS encoding of an LBA (head, sector | cylinder high bits, cylinder low bits).
fn chs(lba: u32) -> [u8; 3] {
    const HEADS: u32 = 255;
    const SECTORS: u32 = 63;
    let cylinder = lba / (HEADS * SECTORS);
    if cylinder > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let head = (lba / SECTORS) % HEADS;
    let sector = lba % SECTORS + 1;
    let [c_lo, c_hi, ..] = cylinder.to_le_bytes();
    let [h, ..] = head.to_le_bytes();
    let [s, ..] = sector.to_le_bytes();
    [h, s | (c_hi << 6), c_lo]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_values() {
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(2048), [32, 33, 0]);
        assert_eq!(chs(u32::MAX), [0xFE, 0xFF, 0xFF]);
    }
}
