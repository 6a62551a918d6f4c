//! A qcow2 (version 3) writer of its own, so that the same raw image gives the same qcow2
//! bytes on any host (`qemu-img convert`'s output differs between its versions). Layout, in
//! 64 KiB clusters: the header; the data clusters, in the order of the raw image, each stored
//! once and only when it holds a byte that is not zero; then the L2 tables, the L1 table, the
//! refcount blocks (16-bit refcounts, every cluster used once) and the refcount table. Zero
//! clusters are left unallocated, which reads as zeros (no backing file). One pass over the raw
//! image's data extents (`SEEK_DATA`); holes are not read. Format:
//! <https://gitlab.com/qemu-project/qemu/-/blob/master/docs/interop/qcow2.txt>.

use crate::disk::mapped;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

const CLUSTER_BITS: u32 = 16;
const CLUSTER: u64 = 1 << CLUSTER_BITS;
/// 8-byte entries in one cluster (an L2 table, or a cluster of the L1 or refcount table).
const ENTRIES: u64 = CLUSTER / 8;
/// 16-bit refcounts in one refcount block.
const REFCOUNTS: u64 = CLUSTER / 2;
/// Set on L1 and L2 entries whose cluster has refcount 1.
const COPIED: u64 = 1 << 63;
const HEADER_LENGTH: u32 = 104;

/// Writes `raw` as the qcow2 image `out`.
pub fn write(raw: &Path, out: &Path) -> Result<()> {
    let input = File::open(raw).with_context(|| format!("opening {}", raw.display()))?;
    let size = input.metadata()?.len();
    let mut w = BufWriter::with_capacity(usize::try_from(CLUSTER)? * 16, File::create(out)?);
    w.write_all(&[0u8; CLUSTER as usize])?;
    let mut next = 1u64;
    let data = write_data(&input, size, &mut w, &mut next)?;
    // QEMU sees whole 512-byte sectors: a raw file of another length reads as if padded with
    // zeros to the next one (images are always whole sectors).
    let virtual_size = size.div_ceil(512) * 512;
    let l1_size = virtual_size.div_ceil(CLUSTER).div_ceil(ENTRIES);
    let l1_offset = write_tables(&data, l1_size, &mut w, &mut next)?;
    let (table_offset, table_clusters) = write_refcounts(&mut w, next)?;
    let mut file = w.into_inner()?;
    let end = file.stream_position()?;
    file.set_len(end.div_ceil(CLUSTER) * CLUSTER)?;
    let header = Header {
        size: virtual_size,
        l1_size,
        l1_offset,
        table_offset,
        table_clusters,
    };
    file.write_all_at(&header.encode(), 0)?;
    file.sync_all()?;
    Ok(())
}

/// Appends every cluster of `input` that holds a byte that is not zero, from host cluster
/// `next` on; returns (virtual cluster, host cluster) pairs in virtual order.
fn write_data(
    input: &File,
    size: u64,
    w: &mut impl Write,
    next: &mut u64,
) -> Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; usize::try_from(CLUSTER)?];
    let mut at = 0;
    while let Some((data, hole)) = mapped::next_data(input, at, size)? {
        let mut cluster = data / CLUSTER;
        while cluster * CLUSTER < hole {
            crate::interrupt::check()?;
            let start = cluster * CLUSTER;
            let n = usize::try_from((size - start).min(CLUSTER))?;
            buf.fill(0);
            input.read_exact_at(&mut buf[..n], start)?;
            if buf.iter().any(|b| *b != 0) {
                w.write_all(&buf)?;
                out.push((cluster, *next));
                *next += 1;
            }
            cluster += 1;
        }
        at = cluster * CLUSTER;
    }
    Ok(out)
}

/// Appends an L2 table for each L1 entry that maps anything, then the L1 table; returns the
/// L1 table's offset.
fn write_tables(
    data: &[(u64, u64)],
    l1_size: u64,
    w: &mut impl Write,
    next: &mut u64,
) -> Result<u64> {
    let mut l1 = vec![0u64; usize::try_from(l1_size)?];
    let mut i = 0;
    while i < data.len() {
        let table = data[i].0 / ENTRIES;
        let mut l2 = vec![0u64; usize::try_from(ENTRIES)?];
        while i < data.len() && data[i].0 / ENTRIES == table {
            let (v, host) = data[i];
            l2[usize::try_from(v % ENTRIES)?] = (host * CLUSTER) | COPIED;
            i += 1;
        }
        write_entries(w, &l2)?;
        l1[usize::try_from(table)?] = (*next * CLUSTER) | COPIED;
        *next += 1;
    }
    let offset = *next * CLUSTER;
    write_entries(w, &l1)?;
    *next += (l1_size * 8).div_ceil(CLUSTER).max(1);
    Ok(offset)
}

/// Appends the refcount blocks and table for the `used` clusters before them and for
/// themselves (each cluster used once); returns the table's offset and size in clusters.
fn write_refcounts(w: &mut impl Write, used: u64) -> Result<(u64, u64)> {
    let (mut blocks, mut table_clusters) = (0, 0);
    loop {
        let total = used + blocks + table_clusters;
        let b = total.div_ceil(REFCOUNTS);
        let t = b.div_ceil(ENTRIES);
        if (b, t) == (blocks, table_clusters) {
            break;
        }
        (blocks, table_clusters) = (b, t);
    }
    let total = used + blocks + table_clusters;
    let mut refcounts = vec![0u8; usize::try_from(blocks * CLUSTER)?];
    for c in 0..usize::try_from(total)? {
        refcounts[2 * c..2 * c + 2].copy_from_slice(&1u16.to_be_bytes());
    }
    w.write_all(&refcounts)?;
    let table: Vec<u64> = (0..blocks).map(|b| (used + b) * CLUSTER).collect();
    write_entries(w, &table)?;
    Ok(((used + blocks) * CLUSTER, table_clusters))
}

/// Big-endian entries, padded with zeros to whole clusters.
fn write_entries(w: &mut impl Write, entries: &[u64]) -> Result<()> {
    let mut bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_be_bytes()).collect();
    let len = u64::try_from(bytes.len())?.div_ceil(CLUSTER).max(1) * CLUSTER;
    bytes.resize(usize::try_from(len)?, 0);
    Ok(w.write_all(&bytes)?)
}

struct Header {
    size: u64,
    l1_size: u64,
    l1_offset: u64,
    table_offset: u64,
    table_clusters: u64,
}

impl Header {
    /// The version 3 header (no backing file, no encryption, no snapshots, no extensions:
    /// the end-of-extensions marker is the zeros that follow it).
    fn encode(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(HEADER_LENGTH as usize + 8);
        h.extend_from_slice(b"QFI\xfb");
        h.extend_from_slice(&3u32.to_be_bytes());
        h.extend_from_slice(&0u64.to_be_bytes()); // backing file offset
        h.extend_from_slice(&0u32.to_be_bytes()); // backing file size
        h.extend_from_slice(&CLUSTER_BITS.to_be_bytes());
        h.extend_from_slice(&self.size.to_be_bytes());
        h.extend_from_slice(&0u32.to_be_bytes()); // no encryption
        h.extend_from_slice(&(self.l1_size as u32).to_be_bytes());
        h.extend_from_slice(&self.l1_offset.to_be_bytes());
        h.extend_from_slice(&self.table_offset.to_be_bytes());
        h.extend_from_slice(&(self.table_clusters as u32).to_be_bytes());
        h.extend_from_slice(&0u32.to_be_bytes()); // snapshots
        h.extend_from_slice(&0u64.to_be_bytes()); // snapshots offset
        h.extend_from_slice(&0u64.to_be_bytes()); // incompatible features
        h.extend_from_slice(&0u64.to_be_bytes()); // compatible features
        h.extend_from_slice(&0u64.to_be_bytes()); // autoclear features
        h.extend_from_slice(&4u32.to_be_bytes()); // refcount order: 16 bits
        h.extend_from_slice(&HEADER_LENGTH.to_be_bytes());
        h.extend_from_slice(&[0u8; 8]); // end of header extensions
        h
    }
}
