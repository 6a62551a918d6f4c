//! The example device's trust material as output files: its TEST-ONLY keyring (the key files
//! of `models/test-keys`, in the directory format `snapsmith key --keyring` reads, with a
//! README that says what they are), the model with its brand chain and trusted root, and a
//! snap-declaration + snap-revision (what `snapsmith snap assert` makes) for every snap the
//! model lists with a snap id.

use super::sources::{self, TEST_KEYS};
use crate::assertion::types::format_time;
use crate::assertion::{self, Keyring, Model};
use crate::snap::{self, SnapAssertRequest, SnapFile};
use anyhow::{Context, Result};
use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The keyring's README: the label that keeps these keys from being mistaken for real ones.
pub const KEYRING_README: &str = "README.md";

const README_TEXT: &str = "\
# TEST-ONLY keyring: never use these keys for anything real

These private RSA-4096 keys are published in the snapsmith repository (models/test-keys), so
anyone can sign with them. They signed this example image's model chain and snap assertions, and exist only
so the example device is reproducible and its updates can be signed in tests:

- dev-root.key: the root of trust (account dev-root); it also signs the snap assertions.
- dev-brand.key: the brand key (account dev) that signed the model.

Use this directory with --keyring (snapsmith key, sign, snap assert, validate).
";

/// The revision every example snap is asserted at.
pub const REVISION: u64 = 1;

/// Where the model and the assertions a build needs were written.
#[derive(Debug, Clone)]
pub struct AssertionFiles {
    pub model: PathBuf,
    /// The brand chain and the snap assertions (build's `--assertions`).
    pub assertions: Vec<PathBuf>,
    /// The trusted root (build's `--trusted`).
    pub trusted: PathBuf,
}

/// Writes the TEST-ONLY keyring into `dir` (mode 0700, keys 0600) and opens it.
pub fn write_keyring(dir: &Path) -> Result<Keyring> {
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", dir.display()))?;
    for (name, bytes) in TEST_KEYS {
        let path = dir.join(format!("{name}.key"));
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private", path.display()))?;
    }
    let readme = dir.join(KEYRING_README);
    std::fs::write(&readme, README_TEXT)
        .with_context(|| format!("writing {}", readme.display()))?;
    Ok(Keyring::open(dir))
}

/// Writes the model, its chain, the root and the snap assertions of `snaps` into `dir`.
pub fn write_assertions(
    dir: &Path,
    snaps: &[PathBuf],
    keyring: &Keyring,
    source_date_epoch: i64,
) -> Result<AssertionFiles> {
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let model = write("dev-amd64.model", sources::MODEL)?;
    let mut assertions = vec![write("dev-brand.assert", sources::BRAND)?];
    let trusted = write("dev-root.assert", sources::ROOT)?;
    let typed = Model::from_assertion(&assertion::decode(sources::MODEL)?)
        .context("reading the compiled-in example model")?;
    let (info, key) = keyring.load(sources::STORE_KEY)?;
    let when = time::OffsetDateTime::from_unix_timestamp(source_date_epoch)
        .with_context(|| format!("SOURCE_DATE_EPOCH={source_date_epoch} is out of range"))?;
    let timestamp = format_time(when);
    for path in snaps {
        let name = SnapFile::open(path)?.info().name.clone();
        let Some(snap_id) = typed
            .snaps
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.id.as_deref())
        else {
            continue;
        };
        let request = SnapAssertRequest {
            snap_id,
            revision: REVISION,
            publisher: None,
            timestamp: &timestamp,
        };
        let signed = snap::snap_assertions(path, &request, &key, &info.account_id)?;
        assertions.push(write(
            &format!("{name}.assert"),
            &assertion::encode_stream(&signed),
        )?);
    }
    Ok(AssertionFiles {
        model,
        assertions,
        trusted,
    })
}
