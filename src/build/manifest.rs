//! `manifest.json`: what an image holds, for people and for tests. The model (brand, model,
//! grade, sign key), every snap (name, type, revision, digest, size, where it lives) and every
//! structure of every volume (name, role, offset, size and a digest that determines its bytes).
//!
//! A structure's digest costs no pass over its zeros: it is the digest of its mapped ranges
//! ([`crate::disk::mapped`]: the runs of 4096-byte blocks that are not all zero, each with its
//! SHA-256), so hashing follows the data written, not the partition's size. Structures are
//! hashed in parallel.

use crate::disk::mapped;
use crate::plan::{ImagePlan, StructureContent};
use crate::seed::{ModelId, SeedSnap, seed_path};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const MANIFEST_NAME: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    pub model: ManifestModel,
    /// The recovery system's label.
    pub label: String,
    pub snaps: Vec<ManifestSnap>,
    pub volumes: Vec<ManifestVolume>,
    pub partitions: Vec<ManifestPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ManifestModel {
    pub brand: String,
    pub model: String,
    pub grade: String,
    pub sign_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ManifestSnap {
    pub name: String,
    #[serde(rename = "type")]
    pub snap_type: String,
    pub version: String,
    /// `7` for asserted snaps, `x1` for local ones.
    pub revision: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub snap_id: Option<String>,
    pub sha3_384: String,
    pub size: u64,
    /// Path on ubuntu-seed.
    pub seed_path: String,
    pub in_model: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ManifestVolume {
    pub name: String,
    pub image: String,
    pub size: u64,
    pub sector_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ManifestPartition {
    pub volume: String,
    pub name: String,
    pub role: Option<String>,
    /// Partition number; `None` for bare structures.
    pub number: Option<u32>,
    pub filesystem: Option<String>,
    pub offset: u64,
    pub size: u64,
    /// Bytes of the structure in blocks that are not all zero; 0 until hashed.
    pub mapped_bytes: u64,
    /// SHA-256 (hex) over the structure's mapped ranges ([`crate::disk::mapped::Mapped`]);
    /// with `size`, it determines every byte of the structure. Empty until hashed.
    pub mapped_sha256: String,
}

impl Manifest {
    /// The manifest of a plan, without the partition hashes.
    pub fn new(model: &ModelId, label: &str, snaps: &[SeedSnap], plan: &ImagePlan) -> Manifest {
        let snaps = snaps
            .iter()
            .map(|s| ManifestSnap {
                name: s.name.clone(),
                snap_type: s.snap_type.to_string(),
                version: s.info.version.clone(),
                revision: s.revision.to_string(),
                snap_id: s.snap_id.clone(),
                sha3_384: s.digest.sha3_384.clone(),
                size: s.digest.size,
                seed_path: seed_path(label, s),
                in_model: s.in_model,
            })
            .collect();
        let volumes = plan
            .volumes
            .iter()
            .map(|v| ManifestVolume {
                name: v.name.clone(),
                image: format!("{}.img", v.name),
                size: v.size,
                sector_size: v.sector_size.bytes(),
            })
            .collect();
        let partitions = plan
            .volumes
            .iter()
            .flat_map(|v| v.structures.iter().map(move |s| (v, s)))
            .map(|(v, s)| ManifestPartition {
                volume: v.name.clone(),
                name: s.name.clone(),
                role: s.role.clone(),
                number: s.partition.as_ref().map(|p| p.number),
                filesystem: match &s.content {
                    StructureContent::Filesystem(fs) => serde_json::to_value(fs.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string)),
                    _ => None,
                },
                offset: s.offset,
                size: s.size,
                mapped_bytes: 0,
                mapped_sha256: String::new(),
            })
            .collect();
        Manifest {
            model: ManifestModel {
                brand: model.brand.clone(),
                model: model.model.clone(),
                grade: model.grade.to_string(),
                sign_key: model.sign_key_id.clone(),
            },
            label: label.to_string(),
            snaps,
            volumes,
            partitions,
        }
    }

    /// Hashes every structure's mapped ranges from the written images in `dir`, in parallel;
    /// returns the ranges, in the order of `partitions`.
    pub fn hash_partitions(&mut self, dir: &Path) -> Result<Vec<mapped::Mapped>> {
        let scan = |p: &ManifestPartition| {
            let image = dir.join(format!("{}.img", p.volume));
            std::fs::File::open(&image)
                .map_err(anyhow::Error::from)
                .and_then(|file| mapped::scan(&file, p.offset, p.size))
                .with_context(|| format!("hashing {} in {}", p.name, image.display()))
        };
        let scanned = crate::parallel::map(&self.partitions, |p| p.size, scan);
        let mut all = Vec::new();
        for (p, m) in self.partitions.iter_mut().zip(scanned) {
            let m = m?;
            p.mapped_bytes = m.bytes;
            p.mapped_sha256 = mapped::hex(&m.sha256);
            all.push(m);
        }
        Ok(all)
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

/// SHA-256 (hex) of `size` bytes of `path` from `offset`.
pub fn sha256_window(path: &Path, offset: u64, size: u64) -> Result<String> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut hasher = Sha256::new();
    let mut reader = file.take(size);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total = total.saturating_add(u64::try_from(n)?);
    }
    if total != size {
        anyhow::bail!("image ends after {total} of {size} bytes");
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_hash_matches_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        std::fs::write(&path, b"xxabcyy").unwrap();
        // SHA-256("abc")
        assert_eq!(
            sha256_window(&path, 2, 3).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_window(&path, 5, 3).is_err());
    }
}
