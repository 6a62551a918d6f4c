//! Output formats of an image beside the raw one the writers make: `raw` (sparse, as written),
//! `zst` (the raw bytes through zstd, for transfer and storage) and `qcow2` (for QEMU and cloud
//! tooling, written by [`super::qcow2`]). The conversions are deterministic: the same raw bytes
//! give the same output bytes on any host. A converted image replaces the raw one in the
//! output; `manifest.json` and the `.bmap` describe the raw bytes either way.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// zstd level: the library's default, a good speed for images of mostly zeros and squashfs.
const ZSTD_LEVEL: i32 = 3;
const CHUNK: u64 = 1 << 20;

/// How each image is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// A sparse raw image, `<volume>.img`.
    #[default]
    Raw,
    /// A qcow2 image, `<volume>.qcow2`.
    Qcow2,
    /// The raw image compressed with zstd, `<volume>.img.zst`.
    Zst,
}

impl OutputFormat {
    /// Converts the raw image at `raw` and removes it; returns the new file's path.
    pub fn convert(self, raw: &Path) -> Result<PathBuf> {
        let out = match self {
            OutputFormat::Raw => return Ok(raw.to_path_buf()),
            OutputFormat::Zst => raw.with_file_name(format!("{}.zst", name(raw)?)),
            OutputFormat::Qcow2 => raw.with_extension("qcow2"),
        };
        match self {
            OutputFormat::Zst => zst(raw, &out),
            _ => super::qcow2::write(raw, &out),
        }
        .with_context(|| format!("writing {}", out.display()))?;
        std::fs::remove_file(raw).with_context(|| format!("removing {}", raw.display()))?;
        Ok(out)
    }
}

fn name(path: &Path) -> Result<String> {
    Ok(path
        .file_name()
        .context("an image path without a name")?
        .to_string_lossy()
        .into_owned())
}

/// Compresses `raw` into `out` (one zstd frame, single-threaded, so the bytes do not depend on
/// the host's cores).
fn zst(raw: &Path, out: &Path) -> Result<()> {
    let input = File::open(raw)?;
    let len = input.metadata()?.len();
    let mut encoder = zstd::Encoder::new(BufWriter::new(File::create(out)?), ZSTD_LEVEL)?;
    encoder.include_checksum(true)?;
    encoder.set_pledged_src_size(Some(len))?;
    let mut buf = vec![0u8; usize::try_from(CHUNK)?];
    let zeros = vec![0u8; usize::try_from(CHUNK)?];
    let mut at = 0;
    while at < len {
        crate::interrupt::check()?;
        let end = (at + CHUNK).min(len);
        let n = usize::try_from(end - at)?;
        // A chunk in a hole is not read: its zeros are known.
        if crate::disk::mapped::next_data(&input, at, end)?.is_none() {
            encoder.write_all(&zeros[..n])?;
        } else {
            input.read_exact_at(&mut buf[..n], at)?;
            encoder.write_all(&buf[..n])?;
        }
        at = end;
    }
    encoder.finish()?.into_inner()?.sync_all()?;
    Ok(())
}
