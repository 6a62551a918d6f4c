//! Repairs the `.` and `..` entries of directories made by fatfs 0.3, which writes a long-name
//! entry in front of each of them. fsck.fat (and strict readers) expect `.` in slot 0 and `..`
//! in slot 1 of a directory's first cluster, so after the tree is written this walks every
//! directory and rewrites those first four slots as `.`, `..` and two deleted entries.
//!
//! This reads the on-disk structures directly (boot sector, FAT, directory clusters); it is
//! only run on filesystems snapsmith has just formatted. Directories are assumed
//! to start with `.` and `..`, which fatfs always writes.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::os::unix::fs::FileExt;

const ENTRY: usize = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_DIR: u8 = 0x10;
const DELETED: u8 = 0xE5;

struct Layout<'f> {
    file: &'f File,
    base: u64,
    sector: u64,
    cluster: u64,
    fat_start: u64,
    data_start: u64,
    fat32: bool,
}

impl Layout<'_> {
    fn read(&self, at: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, self.base + at)
            .context("reading FAT structures")?;
        Ok(buf)
    }

    fn cluster_offset(&self, n: u32) -> u64 {
        self.data_start + (u64::from(n) - 2) * self.cluster
    }

    fn next(&self, n: u32) -> Result<Option<u32>> {
        let (width, end) = if self.fat32 {
            (4, 0x0FFF_FFF8)
        } else {
            (2, 0xFFF8)
        };
        let bytes = self.read(
            self.fat_start + u64::from(n) * width,
            usize::try_from(width)?,
        )?;
        let value = if self.fat32 {
            u32::from_le_bytes(bytes[..4].try_into()?) & 0x0FFF_FFFF
        } else {
            u16::from_le_bytes(bytes[..2].try_into()?).into()
        };
        Ok((2..end).contains(&value).then_some(value))
    }
}

fn le16(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]).into()
}

/// Fixes every directory of the FAT filesystem at `offset` of `file`.
pub fn repair(file: &File, offset: u64) -> Result<()> {
    let head = {
        let mut b = vec![0u8; 512];
        file.read_exact_at(&mut b, offset)?;
        b
    };
    let sector = le16(&head, 11);
    let fat_sectors = match le16(&head, 22) {
        0 => u64::from(u32::from_le_bytes(head[36..40].try_into()?)),
        n => n,
    };
    let fat32 = le16(&head, 22) == 0;
    let reserved = le16(&head, 14);
    let root_sectors = (le16(&head, 17) * 32).div_ceil(sector);
    let fat_start = reserved * sector;
    let root_start = fat_start + u64::from(head[16]) * fat_sectors * sector;
    let layout = Layout {
        file,
        base: offset,
        sector,
        cluster: u64::from(head[13]) * sector,
        fat_start,
        data_start: root_start + root_sectors * sector,
        fat32,
    };
    let root_dirs = if fat32 {
        let root = u32::from_le_bytes(head[44..48].try_into()?);
        subdirs_of_chain(&layout, root)?
    } else {
        let len = usize::try_from(root_sectors * layout.sector)?;
        subdirs(&layout.read(root_start, len)?)
    };
    let mut stack: Vec<(u32, bool)> = root_dirs.into_iter().map(|d| (d, true)).collect();
    let mut seen = 0usize;
    while let Some((dir, in_root)) = stack.pop() {
        seen += 1;
        if seen > 1_000_000 {
            bail!("FAT directory tree does not end");
        }
        fix_dots(&layout, dir, in_root)?;
        stack.extend(
            subdirs_of_chain(&layout, dir)?
                .into_iter()
                .map(|d| (d, false)),
        );
    }
    Ok(())
}

/// First clusters of the subdirectories listed in a directory's cluster chain.
fn subdirs_of_chain(layout: &Layout, first: u32) -> Result<Vec<u32>> {
    let mut found = Vec::new();
    let mut cluster = Some(first);
    while let Some(n) = cluster {
        let bytes = layout.read(layout.cluster_offset(n), usize::try_from(layout.cluster)?)?;
        found.extend(subdirs(&bytes));
        cluster = layout.next(n)?;
    }
    Ok(found)
}

fn subdirs(bytes: &[u8]) -> Vec<u32> {
    let mut found = Vec::new();
    for e in bytes.chunks_exact(ENTRY) {
        match e[0] {
            0 => break,
            DELETED | b'.' => continue,
            _ => {}
        }
        if e[11] == ATTR_LFN || e[11] & ATTR_DIR == 0 {
            continue;
        }
        let hi = u32::from(u16::from_le_bytes([e[20], e[21]]));
        let lo = u32::from(u16::from_le_bytes([e[26], e[27]]));
        found.push(hi << 16 | lo);
    }
    found
}

/// Rewrites `[lfn, ".", lfn, ".."]` at the start of a directory as `[".", "..", del, del]`;
/// `..` of a directory in the root names cluster 0, as the FAT specification asks (fatfs puts
/// the FAT32 root cluster there).
fn fix_dots(layout: &Layout, dir: u32, in_root: bool) -> Result<()> {
    let at = layout.cluster_offset(dir);
    let slots = layout.read(at, 4 * ENTRY)?;
    let is = |i: usize, name: &[u8; 11]| slots[i * ENTRY..i * ENTRY + 11] == name[..];
    if slots[11] != ATTR_LFN || !is(1, b".          ") || !is(3, b"..         ") {
        return Ok(());
    }
    let mut fixed = Vec::with_capacity(4 * ENTRY);
    fixed.extend_from_slice(&slots[ENTRY..2 * ENTRY]);
    fixed.extend_from_slice(&slots[3 * ENTRY..4 * ENTRY]);
    if in_root {
        for at in [ENTRY + 20, ENTRY + 21, ENTRY + 26, ENTRY + 27] {
            fixed[at] = 0;
        }
    }
    for lfn in [0, 2] {
        let mut deleted = slots[lfn * ENTRY..(lfn + 1) * ENTRY].to_vec();
        deleted[0] = DELETED;
        fixed.extend_from_slice(&deleted);
    }
    layout
        .file
        .write_all_at(&fixed, layout.base + at)
        .context("rewriting . and .. entries")
}
