//! The mapped ranges of a window of an image: maximal runs of 4096-byte blocks that are not all
//! zero, each with the SHA-256 of its bytes (what a `.bmap` lists, and what `manifest.json`
//! digests instead of every byte of a partition).
//!
//! Which blocks are mapped follows from the content alone, not from the host: the sparse
//! file's holes (`SEEK_HOLE`) are skipped without reading them, and blocks that were written
//! but hold only zeros count as holes too. So a scan reads only what was written and hashes
//! only what is not zero, and two images with the same bytes give the same ranges on any
//! filesystem. Blocks are counted from the window's start; the last one may be short.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// Size of the blocks mapped ranges are made of (bmaptool's default).
pub const BLOCK: u64 = 4096;
const BLOCK_BYTES: usize = 4096;
/// Bytes read at a time (a multiple of [`BLOCK`]).
const CHUNK: u64 = 1 << 20;

/// A run of blocks that are not all zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Index of its first block, counted from the window's start.
    pub first: u64,
    /// Number of blocks (the last block of the window may be short).
    pub blocks: u64,
    /// Bytes in the range.
    pub bytes: u64,
    /// SHA-256 of those bytes.
    pub sha256: [u8; 32],
}

/// The mapped ranges of a window, and a digest of them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub ranges: Vec<Range>,
    /// Bytes in all ranges.
    pub bytes: u64,
    /// SHA-256 over each range in order: first block and block count (8-byte big-endian each),
    /// then the range's SHA-256. With the window's size it determines every byte of the window.
    pub sha256: [u8; 32],
}

/// Scans `size` bytes of `file` from `offset`.
pub fn scan(file: &File, offset: u64, size: u64) -> Result<Mapped> {
    let mut acc = Accumulator::default();
    let mut buf = vec![0u8; usize::try_from(CHUNK)?];
    let end = offset.checked_add(size).context("window overflows")?;
    let mut at = offset;
    while let Some((data, hole)) = next_data(file, at, end)? {
        // Whole blocks of the window that hold the data extent.
        let mut pos = offset + (data - offset) / BLOCK * BLOCK;
        let stop = (offset + (hole - offset).div_ceil(BLOCK) * BLOCK).min(end);
        while pos < stop {
            crate::interrupt::check()?;
            let n = usize::try_from((stop - pos).min(CHUNK))?;
            file.read_exact_at(&mut buf[..n], pos)
                .with_context(|| format!("reading the image at {pos}"))?;
            for (i, block) in buf[..n].chunks(BLOCK_BYTES).enumerate() {
                let index = (pos - offset) / BLOCK + u64::try_from(i)?;
                acc.block(index, block);
            }
            pos += u64::try_from(n)?;
        }
        at = stop;
    }
    Ok(acc.finish())
}

/// The next data extent at or after `at` and before `end`: its start and where its hole
/// begins (clamped to `end`). `None` when only holes remain.
pub fn next_data(file: &File, at: u64, end: u64) -> Result<Option<(u64, u64)>> {
    if at >= end {
        return Ok(None);
    }
    let Some(data) = seek(file, at, libc::SEEK_DATA)? else {
        return Ok(None);
    };
    if data >= end {
        return Ok(None);
    }
    let hole = seek(file, data, libc::SEEK_HOLE)?.unwrap_or(end);
    Ok(Some((data, hole.min(end))))
}

/// `lseek(fd, at, whence)`; `None` for ENXIO (no data after `at`).
fn seek(file: &File, at: u64, whence: libc::c_int) -> Result<Option<u64>> {
    let at = libc::off_t::try_from(at)?;
    // SAFETY: lseek on a file descriptor this `File` owns; it only moves the file offset,
    // which nothing here relies on (every read is positioned).
    let got = unsafe { libc::lseek(file.as_raw_fd(), at, whence) };
    if got < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENXIO) {
            return Ok(None);
        }
        return Err(err).context("looking for data in the image (SEEK_DATA/SEEK_HOLE)");
    }
    Ok(Some(u64::try_from(got)?))
}

/// Gathers blocks into ranges.
#[derive(Default)]
struct Accumulator {
    ranges: Vec<Range>,
    /// The open range: its first block, block count, bytes and hasher.
    open: Option<(u64, u64, u64, Sha256)>,
}

impl Accumulator {
    fn block(&mut self, index: u64, block: &[u8]) {
        static ZERO: [u8; BLOCK_BYTES] = [0; BLOCK_BYTES];
        if block == &ZERO[..block.len()] {
            self.close();
            return;
        }
        let len = u64::try_from(block.len()).unwrap_or(BLOCK);
        match &mut self.open {
            Some((first, blocks, bytes, hasher)) if *first + *blocks == index => {
                *blocks += 1;
                *bytes += len;
                hasher.update(block);
            }
            _ => {
                self.close();
                let mut hasher = Sha256::new();
                hasher.update(block);
                self.open = Some((index, 1, len, hasher));
            }
        }
    }

    fn close(&mut self) {
        if let Some((first, blocks, bytes, hasher)) = self.open.take() {
            self.ranges.push(Range {
                first,
                blocks,
                bytes,
                sha256: hasher.finalize().into(),
            });
        }
    }

    fn finish(mut self) -> Mapped {
        self.close();
        let mut all = Sha256::new();
        for r in &self.ranges {
            all.update(r.first.to_be_bytes());
            all.update(r.blocks.to_be_bytes());
            all.update(r.sha256);
        }
        Mapped {
            bytes: self.ranges.iter().map(|r| r.bytes).sum(),
            ranges: self.ranges,
            sha256: all.finalize().into(),
        }
    }
}

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(len: u64, writes: &[(u64, &[u8])]) -> (tempfile::NamedTempFile, File) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let file = tmp.reopen().unwrap();
        file.set_len(len).unwrap();
        for (at, bytes) in writes {
            file.write_all_at(bytes, *at).unwrap();
        }
        (tmp, file)
    }

    #[test]
    fn ranges_follow_the_content_not_the_holes() {
        let a = [1u8; 5000];
        // Block 0: data; 1 (the tail of the 5000 bytes): data; 3: written zeros; 5..7: data.
        let (_t, file) = image(
            9 * BLOCK,
            &[(0, &a), (3 * BLOCK, &[0; 4096]), (5 * BLOCK, &[2; 8192])],
        );
        let m = scan(&file, 0, 9 * BLOCK).unwrap();
        let spans: Vec<_> = m.ranges.iter().map(|r| (r.first, r.blocks)).collect();
        assert_eq!(spans, [(0, 2), (5, 2)]);
        let mut first = Sha256::new();
        first.update(a);
        first.update([0u8; 2 * 4096 - 5000]);
        assert_eq!(m.ranges[0].sha256, <[u8; 32]>::from(first.finalize()));
        assert_eq!(m.bytes, 4 * BLOCK);
        // The same content written differently (zeros written, not left as holes) maps the
        // same; another content does not.
        let (_t2, same) = image(
            9 * BLOCK,
            &[(0, &[0; 9 * 4096]), (0, &a), (5 * BLOCK, &[2; 8192])],
        );
        assert_eq!(scan(&same, 0, 9 * BLOCK).unwrap(), m);
        let (_t3, other) = image(9 * BLOCK, &[(0, &a), (6 * BLOCK, &[2; 8192])]);
        assert_ne!(scan(&other, 0, 9 * BLOCK).unwrap().sha256, m.sha256);
    }

    #[test]
    fn windows_count_blocks_from_their_start_and_end_short() {
        let (_t, file) = image(3 * BLOCK, &[(BLOCK + 100, b"x"), (3 * BLOCK - 1, b"y")]);
        let m = scan(&file, 100, 2 * BLOCK).unwrap();
        let spans: Vec<_> = m
            .ranges
            .iter()
            .map(|r| (r.first, r.blocks, r.bytes))
            .collect();
        assert_eq!(spans, [(1, 1, BLOCK)]);
        let m = scan(&file, BLOCK + 50, 2 * BLOCK - 50).unwrap();
        let spans: Vec<_> = m
            .ranges
            .iter()
            .map(|r| (r.first, r.blocks, r.bytes))
            .collect();
        assert_eq!(spans, [(0, 2, 2 * BLOCK - 50)]);
        let empty = scan(&file, 0, 100).unwrap();
        assert!(empty.ranges.is_empty() && empty.bytes == 0);
    }
}
