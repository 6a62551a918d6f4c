//! Byte windows in an image file: positioned reads and writes confined to one byte range
//! ([`Window`], [`write_at`]) and streaming copies into a range ([`copy_into`]: one fixed-size
//! buffer, all-zero chunks skipped so the file stays sparse). Nothing holds file contents in
//! memory. The disk writer, the filesystem writers and the image readers all work through it.

use crate::interrupt;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

/// Size of the one buffer used to copy content into an image.
pub const COPY_BUFFER: usize = 256 * 1024;

/// A byte range of a file seen as a whole stream: offset 0 is the range's start and nothing
/// outside the range can be read or written. fatfs formats and fills partitions through it.
#[derive(Debug)]
pub struct Window<'f> {
    file: &'f File,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'f> Window<'f> {
    pub fn new(file: &'f File, start: u64, len: u64) -> Self {
        Window {
            file,
            start,
            len,
            pos: 0,
        }
    }

    /// Bytes that may be accessed from the current position, capped at `want`.
    fn room(&self, want: usize) -> usize {
        let left = self.len.saturating_sub(self.pos);
        usize::try_from(left).map_or(want, |left| left.min(want))
    }

    fn absolute(&self) -> io::Result<u64> {
        self.start
            .checked_add(self.pos)
            .ok_or_else(|| io::Error::other("window offset overflows"))
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        if n == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..n], self.absolute()?)?;
        self.pos += u64::try_from(read).map_err(io::Error::other)?;
        Ok(read)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write beyond the end of the partition",
            ));
        }
        let written = self.file.write_at(&buf[..n], self.absolute()?)?;
        self.pos += u64::try_from(written).map_err(io::Error::other)?;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match base {
            Some(pos) => {
                self.pos = pos;
                Ok(pos)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the partition",
            )),
        }
    }
}

/// Copies `len` bytes from `reader` to `file` at `offset` through one fixed buffer, leaving
/// all-zero chunks as holes (the target range must be fresh, i.e. still zero). Fails if the
/// reader ends early. Calls `advance` with the bytes done after every chunk.
pub fn copy_into(
    reader: &mut dyn Read,
    file: &File,
    offset: u64,
    len: u64,
    advance: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut done = 0u64;
    while done < len {
        interrupt::check()?;
        let want = usize::try_from(len - done).map_or(COPY_BUFFER, |l| l.min(COPY_BUFFER));
        let chunk = &mut buf[..want];
        reader
            .read_exact(chunk)
            .with_context(|| format!("source ended after {done} of {len} bytes"))?;
        if chunk.iter().any(|b| *b != 0) {
            file.write_all_at(chunk, offset + done)
                .with_context(|| format!("writing at byte {}", offset + done))?;
        }
        let step = u64::try_from(want)?;
        done += step;
        advance(step);
    }
    Ok(())
}

/// Writes `bytes` at an absolute offset, refusing to go past `limit`.
pub fn write_at(file: &File, offset: u64, bytes: &[u8], limit: u64) -> Result<()> {
    let end = offset
        .checked_add(u64::try_from(bytes.len())?)
        .filter(|e| *e <= limit);
    if end.is_none() {
        bail!(
            "write of {} bytes at {offset} goes past the image end {limit}",
            bytes.len()
        );
    }
    file.write_all_at(bytes, offset)
        .with_context(|| format!("writing {} bytes at {offset}", bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_confined_to_its_range() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(64).unwrap();
        let mut w = Window::new(&file, 16, 8);
        w.write_all(b"abcdefgh").unwrap();
        assert!(w.write(b"x").is_err());
        w.seek(SeekFrom::Start(2)).unwrap();
        let mut back = [0u8; 16];
        assert_eq!(w.read(&mut back).unwrap(), 6);
        assert_eq!(&back[..6], b"cdefgh");
        let mut all = vec![0u8; 64];
        file.read_exact_at(&mut all, 0).unwrap();
        assert_eq!(&all[16..24], b"abcdefgh");
        assert!(all[..16].iter().chain(&all[24..]).all(|b| *b == 0));
    }

    #[test]
    fn copy_fails_when_the_source_is_short() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(64).unwrap();
        let err = copy_into(&mut &b"abc"[..], &file, 0, 8, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("after 0 of 8"), "{err}");
    }
}
