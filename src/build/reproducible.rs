//! `snapsmith build --verify-reproducible`: the build is run a second time into a scratch
//! directory beside the output (or its output is compared with an earlier one, `--against`),
//! and every output file is compared byte for byte. A difference is named precisely: the file,
//! the first differing byte, and for an image the structure it lies in and the offset into
//! it, so the stage that is not reproducible can be found.

use super::manifest::{MANIFEST_NAME, Manifest};
use super::{BuildRequest, Outcome, Reporter};
use crate::disk::mapped;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const CHUNK: u64 = 1 << 20;

/// Builds as `req` asks, then checks that the outputs are reproducible: against `against` (an
/// earlier output directory) when given, else against a second build of the same inputs.
pub fn run(req: &BuildRequest, against: Option<&Path>, reporter: &Reporter) -> Result<Outcome> {
    let outcome = super::run(req, reporter)?;
    let names: Vec<String> = outcome
        .written
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let scratch;
    let other = match against {
        Some(dir) => dir.to_path_buf(),
        None => {
            scratch = tempfile::Builder::new()
                .prefix(".snapsmith-verify-")
                .tempdir_in(&req.out_dir)
                .with_context(|| {
                    format!("creating a scratch directory in {}", req.out_dir.display())
                })?;
            reporter.stage("building again to compare");
            let again = BuildRequest {
                out_dir: scratch.path().to_path_buf(),
                ..req.clone()
            };
            super::run(&again, reporter).context("the second build")?;
            scratch.path().to_path_buf()
        }
    };
    reporter.stage("comparing the outputs");
    if let Some(diff) = compare_outputs(&req.out_dir, &other, &names)? {
        bail!(
            "not reproducible: {diff} (compared with {})",
            other.display()
        );
    }
    Ok(outcome)
}

/// The first difference between the files `names` in `a` and in `b`, described; `None` when
/// they are all identical.
pub fn compare_outputs(a: &Path, b: &Path, names: &[String]) -> Result<Option<String>> {
    let manifest: Option<Manifest> = std::fs::read(a.join(MANIFEST_NAME))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    for name in names {
        let (pa, pb) = (a.join(name), b.join(name));
        let open = |p: &Path| File::open(p).with_context(|| format!("opening {}", p.display()));
        let (fa, fb) = (open(&pa)?, open(&pb)?);
        let (la, lb) = (fa.metadata()?.len(), fb.metadata()?.len());
        if la != lb {
            return Ok(Some(format!("{name} is {la} bytes here and {lb} there")));
        }
        if let Some(at) = first_difference(&fa, &fb, la)? {
            return Ok(Some(format!(
                "{name} differs first at byte {at}{}",
                locate(&manifest, name, at)
            )));
        }
    }
    Ok(None)
}

/// ", in structure S of volume V at offset N" when `at` of image `name` lies in a structure.
fn locate(manifest: &Option<Manifest>, name: &str, at: u64) -> String {
    let Some(m) = manifest else {
        return String::new();
    };
    let volume = m.volumes.iter().find(|v| v.image == name);
    volume
        .and_then(|v| {
            m.partitions
                .iter()
                .find(|p| p.volume == v.name && p.offset <= at && at < p.offset + p.size)
        })
        .map_or_else(
            || match volume {
                Some(_) => ", outside every structure (partition table or gap)".to_string(),
                None => String::new(),
            },
            |p| {
                format!(
                    ", in structure {} at offset {} into it",
                    p.name,
                    at - p.offset
                )
            },
        )
}

/// The offset of the first byte that differs between two files of `len` bytes; holes are
/// skipped where both files have them.
fn first_difference(a: &File, b: &File, len: u64) -> Result<Option<u64>> {
    let (mut ba, mut bb) = (vec![0u8; CHUNK as usize], vec![0u8; CHUNK as usize]);
    let mut at = 0;
    while at < len {
        let next =
            |f: &File| -> Result<u64> { Ok(mapped::next_data(f, at, len)?.map_or(len, |d| d.0)) };
        let start = next(a)?.min(next(b)?);
        if start >= len {
            break;
        }
        let n = (len - start).min(CHUNK);
        let size = usize::try_from(n)?;
        a.read_exact_at(&mut ba[..size], start)?;
        b.read_exact_at(&mut bb[..size], start)?;
        if let Some(i) = ba[..size].iter().zip(&bb[..size]).position(|(x, y)| x != y) {
            return Ok(Some(start + u64::try_from(i)?));
        }
        at = start + n;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_differing_byte_is_found_past_holes() {
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str, byte: u8| {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(dir.path().join(name))
                .unwrap();
            f.set_len(8 * CHUNK).unwrap();
            f.write_all_at(b"same", 10).unwrap();
            f.write_all_at(&[byte], 5 * CHUNK + 3).unwrap();
            f
        };
        let (a, b, c) = (make("a", 1), make("b", 2), make("c", 1));
        assert_eq!(
            first_difference(&a, &b, 8 * CHUNK).unwrap(),
            Some(5 * CHUNK + 3)
        );
        assert_eq!(first_difference(&a, &c, 8 * CHUNK).unwrap(), None);
        let names = ["a".to_string()];
        assert_eq!(
            compare_outputs(dir.path(), dir.path(), &names).unwrap(),
            None
        );
    }
}
