//! The snap digest used by snap-revision assertions: SHA3-384 of the whole file, base64url
//! without padding, and the file size, computed in one streaming pass. SHA3-384 runs at a few
//! hundred MB/s on one core, so [`digest_all`] digests several files on all cores at once.

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha3::{Digest, Sha3_384};
use std::io::Read;
use std::path::{Path, PathBuf};

/// `snap-sha3-384` and `snap-size` of a snap file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapDigest {
    /// SHA3-384, base64url without padding (64 characters).
    pub sha3_384: String,
    pub size: u64,
}

/// Digests the file at `path` without holding it in memory.
pub fn digest(path: &Path) -> Result<SnapDigest> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    digest_reader(file).with_context(|| format!("reading {}", path.display()))
}

/// Digests every file of `paths` on all cores ([`crate::parallel::map`]); the digests are in
/// the order of `paths`.
pub fn digest_all(paths: &[PathBuf]) -> Result<Vec<SnapDigest>> {
    let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    crate::parallel::map(paths, size, |p| digest(p))
        .into_iter()
        .collect()
}

/// Digests everything `reader` yields.
pub fn digest_reader(mut reader: impl Read) -> Result<SnapDigest> {
    let mut hasher = Sha3_384::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        hasher.update(&buf[..n]);
        size = size
            .checked_add(u64::try_from(n)?)
            .context("file size overflows")?;
    }
    Ok(SnapDigest {
        sha3_384: URL_SAFE_NO_PAD.encode(hasher.finalize()),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_has_the_known_sha3_384() {
        // SHA3-384("") = 0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2a
        //                c3713831264adb47fb6bd1e058d5f004, base64url-encoded.
        let d = digest_reader(&b""[..]).unwrap();
        assert_eq!(
            d.sha3_384,
            "DGOnW4ReT30BEH2FLkwkhcUaUKqqlPxhmV5xu-6YOirDcTgxJkrbR_tr0eBY1fAE"
        );
        assert_eq!(d.size, 0);
    }

    #[test]
    fn all_files_are_digested_in_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..5usize)
            .map(|i| {
                let path = dir.path().join(format!("{i}.snap"));
                std::fs::write(&path, vec![u8::try_from(i).unwrap(); i << 16]).unwrap();
                path
            })
            .collect();
        let all = digest_all(&paths).unwrap();
        for (path, d) in paths.iter().zip(&all) {
            assert_eq!(*d, digest(path).unwrap());
        }
        assert!(digest_all(&[dir.path().join("missing")]).is_err());
        assert!(digest_all(&[]).unwrap().is_empty());
    }

    #[test]
    fn size_counts_every_byte() {
        let data = vec![7u8; 3 << 20 | 5];
        let d = digest_reader(&data[..]).unwrap();
        assert_eq!(d.size, u64::try_from(data.len()).unwrap());
        assert_eq!(d.sha3_384.len(), 64);
        assert_ne!(d, digest_reader(&data[1..]).unwrap());
    }
}
