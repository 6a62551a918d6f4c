//! The `forged-update` scenario's update disk: five updates an attacker with a USB disk could
//! offer a device of grade `signed`, each of which the device must refuse for its own reason.
//! [`derive()`] repacks the image's kernel and base into them (unsigned); [`sign`] writes their
//! assertions (`<stem>.assert`), forged as each case needs, with the image's own key where
//! the forgery is not the signature:
//!
//! 1. `forged-1-unasserted.snap`: a kernel without assertions;
//! 2. `forged-2-bytes.snap`: a kernel whose bytes changed after it was asserted;
//! 3. `forged-3-outsider.snap`: a kernel asserted by a key outside the image's chain;
//! 4. `forged-4-older.snap`: a kernel asserted at the installed revision (not newer);
//! 5. `forged-5-base-name.snap`: a base named differently from the model's base.
//!
//! The files go on the update disk as they are (see [`super::disks`]).

use super::derive::{ImageInfo, set_field};
use super::signing::{SeedSigning, SignError, find_key, original};
use crate::assertion::{self, Keyring, PrivateKey};
use crate::snap::{Compression, PackOptions, SnapAssertRequest, SnapFile, snap_assertions};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The directory under the work directory that holds the forgeries.
pub const DIR: &str = "forged";

/// The forged kernels, by file stem (each repacked with its own version, so its own digest).
const KERNELS: [&str; 4] = [
    "forged-1-unasserted",
    "forged-2-bytes",
    "forged-3-outsider",
    "forged-4-older",
];
const BASE: &str = "forged-5-base-name";

/// The name the forged base carries instead of the model's.
pub fn forged_base_name(base: &str) -> String {
    format!("{base}-forged")
}

/// Repacks the installed `file` of the image into `<dir>/<stem>.snap`, with `version` and,
/// when given, another `name` in meta/snap.yaml.
fn repack(
    info: &ImageInfo,
    work: &Path,
    file: &str,
    out: &Path,
    edit: &[(&str, &str)],
) -> Result<()> {
    let original = super::derive::installed_snap(info, file, work)?;
    let snap = SnapFile::open(&original)?;
    let tree = work.join("tree-forged");
    if tree.exists() {
        std::fs::remove_dir_all(&tree)?;
    }
    snap.extract_to(&tree)?;
    for (key, value) in edit {
        set_field(&tree.join("meta/snap.yaml"), key, value)?;
    }
    let options = PackOptions {
        compression: Compression::Gzip,
        mtime: 0,
    };
    crate::snap::pack_dir(&tree, out, &options)
        .with_context(|| format!("repacking the image's {file} as {}", out.display()))?;
    std::fs::remove_dir_all(&tree)?;
    Ok(())
}

/// Writes the five forged snaps, unsigned, into `<work>/forged/` and returns that directory.
pub fn derive(info: &ImageInfo, work: &Path) -> Result<PathBuf> {
    let dir = work.join(DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let kernel = info.kernel()?.to_string();
    for (i, stem) in KERNELS.iter().enumerate() {
        let version = format!("forged{}", i + 1);
        let out = dir.join(format!("{stem}.snap"));
        repack(info, work, &kernel, &out, &[("version", &version)])?;
    }
    let base = info.modeenv.base.clone();
    let name = base.rsplit_once('_').map_or(base.as_str(), |(n, _)| n);
    let out = dir.join(format!("{BASE}.snap"));
    let forged = forged_base_name(name);
    repack(
        info,
        work,
        &base,
        &out,
        &[("name", &forged), ("version", "forged5")],
    )?;
    Ok(dir)
}

/// Writes each forgery's assertions into `dir` (the output of [`derive()`]): signed with the key
/// of `keyring` that signed the image's own snap assertions, except the outsider's.
pub fn sign(dir: &Path, seed: &SeedSigning, keyring: Option<&Keyring>) -> Result<(), SignError> {
    let path = |stem: &str| dir.join(format!("{stem}.snap"));
    let kernel_name = SnapFile::open(path(KERNELS[0]))?.info().name.clone();
    let base_file = path(BASE);
    let base_name = SnapFile::open(&base_file)?.info().name.clone();
    let base_model_name = base_name.trim_end_matches("-forged").to_string();
    let (kdecl, krev, key_id) = original(seed, &kernel_name)?;
    let (bdecl, brev, _) = original(seed, &base_model_name)?;
    let (info, key) = keyring
        .map(|k| find_key(k, &key_id))
        .transpose()?
        .flatten()
        .ok_or_else(|| SignError::NeedsKey(key_id.clone()))?;
    let outsider = PrivateKey::from_seed([0x5a; 32]);
    let timestamp = assertion::types::format_time(krev.timestamp);
    let write = |stem: &str, id: &str, revision: u64, key: &PrivateKey| -> Result<()> {
        let request = SnapAssertRequest {
            snap_id: id,
            revision,
            publisher: Some(&kdecl.publisher_id),
            timestamp: &timestamp,
        };
        let signed = snap_assertions(&path(stem), &request, key, &info.account_id)?;
        let out = dir.join(format!("{stem}.assert"));
        std::fs::write(&out, assertion::encode_stream(&signed))
            .with_context(|| format!("writing {}", out.display()))
    };
    let next = krev.snap_revision + 1;
    write(KERNELS[1], &kdecl.snap_id, next, &key)?;
    // The bytes change after signing: the snap-revision no longer names them.
    let mut bytes = std::fs::read(path(KERNELS[1])).context("reading the forged kernel")?;
    bytes.extend_from_slice(&[0; 4096]);
    std::fs::write(path(KERNELS[1]), bytes).context("writing the forged kernel")?;
    write(KERNELS[2], &kdecl.snap_id, next, &outsider)?;
    write(KERNELS[3], &kdecl.snap_id, krev.snap_revision, &key)?;
    write(BASE, &bdecl.snap_id, brev.snap_revision + 1, &key)?;
    Ok(())
}
