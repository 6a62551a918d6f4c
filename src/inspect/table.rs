//! Partition tables read back: GPT through the `gpt` crate (sector size found from where the
//! header sits), MBR decoded from sector 0 with its sector size inferred from the filesystems.

use super::{PartitionReport, TableKind, TableReport};
use anyhow::{Context, Result, bail};
use gpt::disk::LogicalBlockSize;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

fn read_at(file: &File, offset: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset).ok().map(|()| buf)
}

/// The table and its partitions (filesystems not probed yet), or `None` without a table.
pub fn read(
    path: &Path,
    file: &File,
    size: u64,
) -> Result<Option<(TableReport, Vec<PartitionReport>)>> {
    for (ss, lb) in [
        (512u64, LogicalBlockSize::Lb512),
        (4096, LogicalBlockSize::Lb4096),
    ] {
        if read_at(file, ss, 8).as_deref() == Some(b"EFI PART") {
            return gpt_table(path, ss, lb).map(Some);
        }
    }
    let Some(sector) = read_at(file, 0, 512) else {
        return Ok(None);
    };
    if sector[510..] != [0x55, 0xAA] {
        return Ok(None);
    }
    let entries: Vec<&[u8]> = sector[446..510].chunks_exact(16).collect();
    if entries.iter().any(|e| e[4] == 0xEE) {
        bail!("protective MBR found but no valid GPT header at sector 1");
    }
    if entries.iter().all(|e| e[4] == 0) {
        return Ok(None);
    }
    // A FAT boot sector has 55 AA at its end as well: it is no partition table if an entry
    // runs past the image.
    let ss = mbr_sector_size(file, &entries);
    let mut partitions = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e[4] == 0 {
            continue;
        }
        let start = u64::from(u32::from_le_bytes(e[8..12].try_into()?));
        let count = u64::from(u32::from_le_bytes(e[12..16].try_into()?));
        if (start + count) * ss > size {
            return Ok(None);
        }
        partitions.push(PartitionReport {
            number: u32::try_from(i + 1)?,
            name: None,
            type_id: format!("{:02x}", e[4]),
            uuid: None,
            bootable: e[0] == 0x80,
            offset: start * ss,
            size: count * ss,
            filesystem: None,
        });
    }
    let signature = u32::from_le_bytes(sector[440..444].try_into()?);
    let table = TableReport {
        kind: TableKind::Mbr,
        sector_size: ss,
        disk_id: format!("0x{signature:08x}"),
    };
    Ok(Some((table, partitions)))
}

/// 4096 when some partition has a filesystem at its start only when counted in 4096-byte
/// sectors, else 512.
fn mbr_sector_size(file: &File, entries: &[&[u8]]) -> u64 {
    let has_fs = |at: u64| {
        let fat = read_at(file, at + 510, 2).is_some_and(|b| b == [0x55, 0xAA]);
        let ext = read_at(file, at + 1024 + 0x38, 2).is_some_and(|b| b == [0x53, 0xEF]);
        fat || ext
    };
    for e in entries.iter().filter(|e| e[4] != 0) {
        let start = u64::from(u32::from_le_bytes([e[8], e[9], e[10], e[11]]));
        if start > 0 && !has_fs(start * 512) && has_fs(start * 4096) {
            return 4096;
        }
    }
    512
}

fn gpt_table(
    path: &Path,
    ss: u64,
    lb: LogicalBlockSize,
) -> Result<(TableReport, Vec<PartitionReport>)> {
    let disk = gpt::GptConfig::new()
        .writable(false)
        .only_valid_headers(true)
        .logical_block_size(lb)
        .open(path)
        .context("reading the GPT (primary and backup headers)")?;
    let mut partitions = Vec::new();
    for (number, p) in disk.partitions() {
        if !p.is_used() {
            continue;
        }
        let sectors = p
            .last_lba
            .checked_sub(p.first_lba)
            .and_then(|n| n.checked_add(1))
            .with_context(|| format!("GPT partition {number} ends before it starts"))?;
        partitions.push(PartitionReport {
            number: *number,
            name: Some(p.name.clone()),
            type_id: p.part_type_guid.guid.to_string().to_uppercase(),
            uuid: Some(p.part_guid.to_string().to_uppercase()),
            bootable: false,
            offset: p.first_lba.checked_mul(ss).context("partition offset")?,
            size: sectors.checked_mul(ss).context("partition size")?,
            filesystem: None,
        });
    }
    let table = TableReport {
        kind: TableKind::Gpt,
        sector_size: ss,
        disk_id: disk.guid().to_string().to_uppercase(),
    };
    Ok((table, partitions))
}
