//! Raw structure content: `{image, offset?, size?}` entries placed inside their structure.
//!
//! Images go back to back unless given an offset; a declared size must hold the file; every
//! image must fit in the structure and none may overlap another. Paths stay inside the gadget
//! tree, as for filesystem content.

use super::content::{canonical, safe_join};
use super::schema::{At, GadgetError, ImageContent};
use crate::plan::RawImage;
use std::path::{Path, PathBuf};

/// Resolves the `{image, offset?, size?}` entries of a raw structure of `size` bytes: images go
/// back to back unless given an offset, a given size must hold the file, all must fit.
pub fn resolve_images(
    at: &At,
    images: &[ImageContent],
    root: &Path,
    size: u64,
) -> Result<Vec<RawImage>, GadgetError> {
    let mut out: Vec<(RawImage, u64)> = Vec::new();
    let mut cursor = 0u64;
    for (i, image) in images.iter().enumerate() {
        let field = format!("content[{i}].image");
        let (host, len) = image_file(at, &field, root, &image.image)?;
        let declared = image.size.unwrap_or(len);
        if declared < len {
            return Err(at.err(
                &format!("content[{i}].size"),
                format!("{declared} is smaller than {:?} ({len} bytes)", image.image),
            ));
        }
        let offset = image.offset.unwrap_or(cursor);
        let end = offset.saturating_add(declared);
        if end > size {
            return Err(at.err(
                &field,
                format!(
                    "{:?} ({declared} bytes at offset {offset}) does not fit in the structure's {size} bytes ({} bytes too many)",
                    image.image,
                    end - size
                ),
            ));
        }
        if let Some((prev, prev_end)) = out.iter().find(|(p, e)| offset < *e && end > p.offset) {
            return Err(at.err(
                &field,
                format!(
                    "{:?} overlaps {} ({}..{prev_end})",
                    image.image,
                    prev.source.display(),
                    prev.offset
                ),
            ));
        }
        out.push((
            RawImage {
                source: host,
                offset,
                size: len,
            },
            end,
        ));
        cursor = end;
    }
    Ok(out.into_iter().map(|(image, _)| image).collect())
}

/// The image's path in the tree and its length; it must be a regular file inside the tree.
fn image_file(at: &At, field: &str, root: &Path, rel: &str) -> Result<(PathBuf, u64), GadgetError> {
    let host = safe_join(at, field, root, rel)?;
    let real = canonical(at, field, &host)?;
    if !real.starts_with(canonical(at, field, root)?) {
        return Err(at.err(field, format!("{rel:?} points outside the gadget tree")));
    }
    let meta = std::fs::metadata(&real)
        .map_err(|e| at.err(field, format!("reading {}: {e}", host.display())))?;
    if !meta.is_file() {
        return Err(at.err(field, format!("{rel:?} is not a regular file")));
    }
    Ok((host, meta.len()))
}
