//! `<volume>.img.bmap` beside each raw image: the block map `bmaptool` reads (format 2.0: the
//! image's 4096-byte blocks that are not all zero, in ranges, each with its SHA-256), so a
//! 3 GB image holding 800 MB of data flashes in the time of 800 MB and is verified as it is
//! written. It costs no second pass over the data: the ranges come from the scans the
//! manifest already made of every structure ([`crate::disk::mapped`]); only the bytes outside
//! the structures (the partition table, gaps between structures) are scanned here. A volume
//! whose structures are not 4096-byte aligned is scanned whole instead.

use crate::disk::mapped::{self, BLOCK, Mapped, Range};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;

/// The suffix after a volume's image name.
pub const SUFFIX: &str = ".bmap";

/// The mapped ranges of a whole image of `size` bytes, whose structures at `(offset, size)`
/// were scanned into `scanned`; the rest of `file` is scanned now.
pub fn image_ranges(file: &File, size: u64, scanned: &[(u64, u64, &Mapped)]) -> Result<Vec<Range>> {
    let mut windows: Vec<&(u64, u64, &Mapped)> = scanned.iter().collect();
    windows.sort_by_key(|w| w.0);
    let aligned = windows
        .iter()
        .all(|(offset, len, _)| offset % BLOCK == 0 && (len % BLOCK == 0 || offset + len == size));
    if !aligned {
        return Ok(mapped::scan(file, 0, size)?.ranges);
    }
    let mut out = Vec::new();
    let mut at = 0;
    for (offset, len, m) in windows {
        if *offset > at {
            out.extend(shifted(mapped::scan(file, at, offset - at)?.ranges, at));
        }
        out.extend(shifted(m.ranges.clone(), *offset));
        at = at.max(offset + len);
    }
    if size > at {
        out.extend(shifted(mapped::scan(file, at, size - at)?.ranges, at));
    }
    Ok(out)
}

/// Ranges of a window at `offset` (a multiple of [`BLOCK`]) as ranges of the whole image.
fn shifted(ranges: Vec<Range>, offset: u64) -> impl Iterator<Item = Range> {
    ranges.into_iter().map(move |mut r| {
        r.first += offset / BLOCK;
        r
    })
}

/// The bmap file for an image of `size` bytes with `ranges`, its own checksum filled in.
pub fn render(size: u64, ranges: &[Range]) -> String {
    let blocks = size.div_ceil(BLOCK);
    let mapped: u64 = ranges.iter().map(|r| r.blocks).sum();
    let mut map = String::new();
    for r in ranges {
        let last = r.first + r.blocks - 1;
        let span = if r.blocks == 1 {
            format!("{}", r.first)
        } else {
            format!("{}-{last}", r.first)
        };
        map.push_str(&format!(
            "        <Range chksum=\"{}\"> {span} </Range>\n",
            mapped::hex(&r.sha256)
        ));
    }
    let text = |checksum: &str| {
        format!(
            "<?xml version=\"1.0\" ?>\n\
             <!-- Written by snapsmith: the image's mapped blocks, for bmaptool copy -->\n\
             <bmap version=\"2.0\">\n    \
             <ImageSize> {size} </ImageSize>\n    \
             <BlockSize> {BLOCK} </BlockSize>\n    \
             <BlocksCount> {blocks} </BlocksCount>\n    \
             <MappedBlocksCount> {mapped} </MappedBlocksCount>\n    \
             <ChecksumType> sha256 </ChecksumType>\n    \
             <BmapFileChecksum> {checksum} </BmapFileChecksum>\n    \
             <BlockMap>\n{map}    </BlockMap>\n</bmap>\n"
        )
    };
    // bmaptool checks the file's SHA-256 with the checksum's own digits set to zeros.
    let zeros = "0".repeat(64);
    let checksum = mapped::hex(&Sha256::digest(text(&zeros).as_bytes()));
    text(&checksum)
}

/// Writes `<image>.bmap` for the image at `path`; returns the bmap's file name.
pub fn write(path: &std::path::Path, size: u64, scanned: &[(u64, u64, &Mapped)]) -> Result<String> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let ranges = image_ranges(&file, size, scanned)
        .with_context(|| format!("mapping the blocks of {}", path.display()))?;
    let name = format!(
        "{}{SUFFIX}",
        path.file_name()
            .context("an image path without a name")?
            .to_string_lossy()
    );
    let out = path.with_file_name(&name);
    std::fs::write(&out, render(size, &ranges))
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn structure_ranges_and_the_rest_make_the_whole_image_map() {
        let file = tempfile::tempfile().unwrap();
        let size = 64 * BLOCK + 100;
        file.set_len(size).unwrap();
        file.write_all_at(b"table", 0).unwrap();
        file.write_all_at(b"in the structure", 10 * BLOCK).unwrap();
        file.write_all_at(b"after", 40 * BLOCK + 7).unwrap();
        file.write_all_at(b"tail", 64 * BLOCK + 1).unwrap();
        let whole = mapped::scan(&file, 0, size).unwrap().ranges;
        let structure = mapped::scan(&file, 8 * BLOCK, 16 * BLOCK).unwrap();
        let composed = image_ranges(&file, size, &[(8 * BLOCK, 16 * BLOCK, &structure)]).unwrap();
        assert_eq!(composed, whole);
        assert_eq!(composed.len(), 4);
        let odd = image_ranges(&file, size, &[(8 * BLOCK + 512, BLOCK, &structure)]).unwrap();
        assert_eq!(
            odd, whole,
            "unaligned structures: the image is scanned whole"
        );
    }

    #[test]
    fn the_bmap_names_every_range_and_checks_itself() {
        let r = |first, blocks| Range {
            first,
            blocks,
            bytes: blocks * BLOCK,
            sha256: [7; 32],
        };
        let text = render(16 * BLOCK + 1, &[r(0, 1), r(3, 4)]);
        assert!(text.contains("<BlocksCount> 17 </BlocksCount>"), "{text}");
        assert!(text.contains("<MappedBlocksCount> 5 </MappedBlocksCount>"));
        assert!(text.contains("> 0 </Range>") && text.contains("> 3-6 </Range>"));
        let checksum = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("<BmapFileChecksum> "))
            .and_then(|l| l.strip_suffix(" </BmapFileChecksum>"))
            .unwrap();
        let zeroed = text.replace(checksum, &"0".repeat(64));
        assert_eq!(mapped::hex(&Sha256::digest(zeroed.as_bytes())), checksum);
    }
}
