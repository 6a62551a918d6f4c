//! Signing keys for derived updates: on an image whose model grade is not `dangerous`, every
//! snap the validator derives is asserted (snap-declaration + snap-revision, as
//! `snapsmith snap assert` makes them) with the key that signed the image's own assertions for
//! that snap, found by key id in a keyring (`snapsmith key --keyring`'s format). The
//! assertions travel on the update disk beside the snap, as `<snap file stem>.assert`.

use super::derive;
use super::scenario::UpdateKind;
use super::update_kind::{CRASH_APP_STEP, SICK_APP_STEP};
use crate::assertion::{self, Assertion, Keyring, SnapDeclaration, SnapRevision};
use crate::snap::{SnapAssertRequest, SnapFile, snap_assertions};
use crate::window::Window;
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What the image's seed says about signing: its model's grade and the assertions of its
/// model snaps (`systems/<label>/assertions/snaps` of the newest recovery system).
#[derive(Debug, Clone, Default)]
pub struct SeedSigning {
    /// `dangerous`, `signed` or `secured`.
    pub grade: String,
    pub snaps: Vec<Assertion>,
}

/// Why a derived update could not be asserted.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key that signed the image's assertions is not in the keyring (or there is none).
    #[error("needs the signing key {0}")]
    NeedsKey(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Reads the newest recovery system's model grade and snap assertions from the vfat
/// filesystem at `offset` of `image`; `None` when it holds no recovery system.
pub fn read_seed_signing(image: &Path, offset: u64, size: u64) -> Result<Option<SeedSigning>> {
    let file =
        std::fs::File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let Some(report) = crate::seed::read_seed(&file, offset, size)? else {
        return Ok(None);
    };
    let Some(system) = report.systems.last() else {
        return Ok(None);
    };
    let fs = fatfs::FileSystem::new(Window::new(&file, offset, size), fatfs::FsOptions::new())
        .context("opening the seed's FAT filesystem")?;
    let mut text = Vec::new();
    let path = format!("systems/{}/assertions/snaps", system.label);
    if let Ok(mut f) = fs.root_dir().open_file(&path) {
        f.read_to_end(&mut text)
            .with_context(|| format!("reading {path} on ubuntu-seed"))?;
    }
    let snaps = if text.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        assertion::decode_stream(&text).with_context(|| format!("{path} on ubuntu-seed"))?
    };
    Ok(Some(SeedSigning {
        grade: system.grade.clone().unwrap_or_default(),
        snaps,
    }))
}

/// Asserts the derived snap `snap` with the key that signed the image's assertions for the
/// snap of the same name, writing them to `<snap file stem>.assert` beside it; `Ok(None)` when
/// the image's grade is `dangerous` (nothing needs asserting).
pub fn assert_update(
    snap: &Path,
    kind: UpdateKind,
    seed: &SeedSigning,
    keyring: Option<&Keyring>,
) -> Result<Option<PathBuf>, SignError> {
    if seed.grade == "dangerous" || seed.grade.is_empty() {
        return Ok(None);
    }
    if snap.is_dir() && kind == UpdateKind::BadApps {
        // Two revisions of one app, each asserted as its own newer revision.
        for (file, step) in [
            (derive::apps::SICK_FILE, SICK_APP_STEP),
            (derive::apps::CRASH_FILE, CRASH_APP_STEP),
        ] {
            let path = snap.join(file);
            sign_revision(&path, step, seed, keyring, &path.with_extension("assert"))?;
        }
        return Ok(Some(snap.to_path_buf()));
    }
    if snap.is_dir() {
        // The forged-update scenario's snaps, each asserted (or not) as its forgery needs.
        super::derive_forged::sign(snap, seed, keyring)?;
        return Ok(Some(snap.to_path_buf()));
    }
    // The derived snap is a newer revision of the image's one; a broken one newer still, so
    // each derived file has its own revision.
    let out = snap.with_extension("assert");
    sign_revision(snap, kind.revision_step(), seed, keyring, &out)?;
    Ok(Some(out))
}

/// Asserts `snap` as the revision `step` after the image's revision of the same snap, with
/// the key that signed that one, into `out`.
fn sign_revision(
    snap: &Path,
    step: u64,
    seed: &SeedSigning,
    keyring: Option<&Keyring>,
    out: &Path,
) -> Result<(), SignError> {
    let name = SnapFile::open(snap)?.info().name.clone();
    let (declaration, revision, key_id) = original(seed, &name)?;
    let key = keyring
        .map(|k| find_key(k, &key_id))
        .transpose()?
        .flatten()
        .ok_or_else(|| SignError::NeedsKey(key_id.clone()))?;
    let (info, private) = key;
    let request = SnapAssertRequest {
        snap_id: &declaration.snap_id,
        revision: revision.snap_revision + step,
        publisher: Some(&declaration.publisher_id),
        timestamp: &assertion::types::format_time(revision.timestamp),
    };
    let signed = snap_assertions(snap, &request, &private, &info.account_id)?;
    std::fs::write(out, assertion::encode_stream(&signed))
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// The image's snap-declaration and snap-revision for snap `name`, and the key that signed
/// the revision.
pub(super) fn original(
    seed: &SeedSigning,
    name: &str,
) -> Result<(SnapDeclaration, SnapRevision, String)> {
    let declaration = seed
        .snaps
        .iter()
        .filter(|a| a.type_name() == "snap-declaration")
        .map(SnapDeclaration::from_assertion)
        .filter_map(Result::ok)
        .find(|d| d.snap_name == name);
    let Some(declaration) = declaration else {
        bail!(
            "the image's seed has no snap-declaration for {name} (grade {})",
            seed.grade
        );
    };
    let revision = seed
        .snaps
        .iter()
        .filter(|a| a.type_name() == "snap-revision")
        .filter_map(|a| Some((SnapRevision::from_assertion(a).ok()?, a.sign_key_id())))
        .find(|(r, _)| r.snap_id == declaration.snap_id);
    let Some((revision, key_id)) = revision else {
        bail!(
            "the image's seed has no snap-revision for {name} ({})",
            declaration.snap_id
        );
    };
    let key_id = key_id.to_string();
    Ok((declaration, revision, key_id))
}

/// The key of `keyring` with id `key_id`, if it holds one; a missing keyring holds none.
pub(super) fn find_key(
    keyring: &Keyring,
    key_id: &str,
) -> Result<Option<(assertion::KeyInfo, assertion::PrivateKey)>> {
    match keyring.list()?.into_iter().find(|k| k.key_id == key_id) {
        Some(info) => Ok(Some(keyring.load(&info.name)?)),
        None => Ok(None),
    }
}
