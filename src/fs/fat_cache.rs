//! The tables of a FAT filesystem held in memory while fatfs fills it. fatfs reads and writes
//! the allocation table a few bytes at a time (every cluster it allocates costs several reads
//! and writes of 4-byte entries in each FAT copy), which through [`Window`] is one system call
//! each: for a seed of a few hundred MB, more than a million. [`CachedWindow`] serves every
//! access below the data area (boot sector, reserved sectors, the FATs and FAT16's root
//! directory) from a buffer loaded once, and [`write_back`] puts the buffer back into the image
//! when fatfs is done. The bytes written are the same as without it; only the calls change.

use crate::window::Window;
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

/// Largest table region held in memory; a larger one is read and written in place.
const MAX_CACHED: u64 = 32 << 20;

/// Loads the region below the data area of the freshly formatted FAT filesystem at `offset`
/// (empty when it is larger than [`MAX_CACHED`]).
pub fn load(file: &File, offset: u64) -> Result<RefCell<Vec<u8>>> {
    let mut boot = [0u8; 64];
    file.read_exact_at(&mut boot, offset)
        .context("reading the FAT boot sector")?;
    let u16_at = |at: usize| u64::from(u16::from_le_bytes([boot[at], boot[at + 1]]));
    let bytes_per_sector = u16_at(0x0B);
    let reserved = u16_at(0x0E);
    let fats = u64::from(boot[0x10]);
    let root_sectors = (u16_at(0x11) * 32).div_ceil(bytes_per_sector.max(1));
    let fat_sectors = match u16_at(0x16) {
        0 => u64::from(u32::from_le_bytes([
            boot[0x24], boot[0x25], boot[0x26], boot[0x27],
        ])),
        n => n,
    };
    let len = (reserved + fats * fat_sectors + root_sectors) * bytes_per_sector;
    if len > MAX_CACHED {
        return Ok(RefCell::new(Vec::new()));
    }
    let mut region = vec![0u8; usize::try_from(len)?];
    file.read_exact_at(&mut region, offset)
        .context("reading the FAT tables")?;
    Ok(RefCell::new(region))
}

/// Writes the region back into the image at `offset` (after fatfs unmounted).
pub fn write_back(file: &File, offset: u64, region: &RefCell<Vec<u8>>) -> Result<()> {
    file.write_all_at(&region.borrow(), offset)
        .context("writing the FAT tables")
}

/// A [`Window`] whose first `region.len()` bytes live in `region`.
pub struct CachedWindow<'f, 'r> {
    window: Window<'f>,
    region: &'r RefCell<Vec<u8>>,
    pos: u64,
}

impl<'f, 'r> CachedWindow<'f, 'r> {
    pub fn new(window: Window<'f>, region: &'r RefCell<Vec<u8>>) -> Self {
        CachedWindow {
            window,
            region,
            pos: 0,
        }
    }

    /// Cached bytes from the position on (0 past the region, which starts at the window's
    /// start).
    fn cached_len(&self) -> usize {
        let len = self.region.borrow().len();
        usize::try_from(self.pos).map_or(0, |pos| len.saturating_sub(pos))
    }

    /// Where an access of up to `want` bytes at the position goes: `Some((at, n))` for `n`
    /// bytes at `at` in the region, `None` for the window (then seeked to the position).
    fn route(&mut self, want: usize) -> io::Result<Option<(usize, usize)>> {
        let cached = self.cached_len();
        if cached == 0 {
            self.window.seek(SeekFrom::Start(self.pos))?;
            return Ok(None);
        }
        let at = usize::try_from(self.pos).map_err(io::Error::other)?;
        Ok(Some((at, cached.min(want))))
    }

    fn advance(&mut self, n: usize) -> io::Result<usize> {
        self.pos += u64::try_from(n).map_err(io::Error::other)?;
        Ok(n)
    }
}

impl Read for CachedWindow<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.route(buf.len())? {
            None => self.window.read(buf)?,
            Some((at, n)) => {
                buf[..n].copy_from_slice(&self.region.borrow()[at..at + n]);
                n
            }
        };
        self.advance(n)
    }
}

impl Write for CachedWindow<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.route(buf.len())? {
            None => self.window.write(buf)?,
            Some((at, n)) => {
                self.region.borrow_mut()[at..at + n].copy_from_slice(&buf[..n]);
                n
            }
        };
        self.advance(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.window.flush()
    }
}

impl Seek for CachedWindow<'_, '_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let to = match to {
            SeekFrom::Current(d) => SeekFrom::Start(
                self.pos
                    .checked_add_signed(d)
                    .ok_or_else(|| io::Error::other("seek outside the partition"))?,
            ),
            other => other,
        };
        self.pos = self.window.seek(to)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_bytes_reach_the_file_only_when_written_back() {
        let tmp = tempfile::tempfile().unwrap();
        tmp.set_len(64).unwrap();
        let region = RefCell::new(vec![1u8; 16]);
        let mut w = CachedWindow::new(Window::new(&tmp, 8, 32), &region);
        w.seek(SeekFrom::Start(12)).unwrap();
        // Crosses the region's end: the cached part first, then the file.
        w.write_all(b"abcdefgh").unwrap();
        assert_eq!(&region.borrow()[12..], b"abcd");
        let mut on_disk = [0u8; 8];
        tmp.read_exact_at(&mut on_disk, 20).unwrap();
        assert_eq!(&on_disk, b"\0\0\0\0efgh");
        w.seek(SeekFrom::Current(-8)).unwrap();
        let mut back = [0u8; 8];
        w.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"abcdefgh");
        write_back(&tmp, 8, &region).unwrap();
        tmp.read_exact_at(&mut on_disk, 20).unwrap();
        assert_eq!(&on_disk, b"abcdefgh");
    }
}
