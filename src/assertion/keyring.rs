//! The keyring: a directory of private keys (RSA or Ed25519), one JSON file `<name>.key` per
//! key, created with mode 0600. Each key remembers the account id it signs for. An RSA key is
//! stored as PKCS#8 DER (`rsa-pkcs8`), an Ed25519 key as its 32-byte seed (`ed25519-seed`), both
//! base64.

use super::keys::{Algorithm, PrivateKey};
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A keyring directory.
#[derive(Debug, Clone)]
pub struct Keyring {
    dir: PathBuf,
}

/// One key's public facts, as `key list` prints them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key name (file stem).
    pub name: String,
    /// The account this key signs for.
    #[serde(rename = "account-id")]
    pub account_id: String,
    /// The key id (sha3-384, base64url).
    #[serde(rename = "key-id")]
    pub key_id: String,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    name: String,
    #[serde(rename = "account-id")]
    account_id: String,
    /// Base64 of the 32-byte Ed25519 seed.
    #[serde(
        rename = "ed25519-seed",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    seed: Option<String>,
    /// Base64 of the RSA key as PKCS#8 DER.
    #[serde(rename = "rsa-pkcs8", default, skip_serializing_if = "Option::is_none")]
    rsa: Option<String>,
}

impl KeyFile {
    fn new(name: &str, account_id: &str, key: &PrivateKey) -> Result<KeyFile> {
        let (mut seed, mut rsa) = (None, None);
        match key {
            PrivateKey::Ed25519(k) => seed = Some(STANDARD.encode(k.to_bytes())),
            PrivateKey::Rsa(_) => {
                let der = key.to_pkcs8_der()?.context("an RSA key without PKCS#8")?;
                rsa = Some(STANDARD.encode(der));
            }
        }
        Ok(KeyFile {
            name: name.to_string(),
            account_id: account_id.to_string(),
            seed,
            rsa,
        })
    }

    fn key(&self, path: &Path) -> Result<PrivateKey> {
        let field = |f: &str| format!("{}: field {f:?} is not valid", path.display());
        match (&self.seed, &self.rsa) {
            (Some(seed), None) => {
                let seed = STANDARD
                    .decode(seed.as_bytes())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .with_context(|| field("ed25519-seed"))?;
                Ok(PrivateKey::from_seed(seed))
            }
            (None, Some(der)) => {
                use rsa::pkcs8::DecodePrivateKey;
                let der = STANDARD
                    .decode(der.as_bytes())
                    .with_context(|| field("rsa-pkcs8"))?;
                let key = rsa::PrivateKey::from_pkcs8_der(&der)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| field("rsa-pkcs8"))?;
                Ok(PrivateKey::Rsa(Box::new(key)))
            }
            _ => bail!(
                "{}: needs exactly one of \"ed25519-seed\" and \"rsa-pkcs8\"",
                path.display()
            ),
        }
    }
}

fn check_name(name: &str) -> Result<()> {
    if !super::types::valid_key_name(name) {
        bail!("invalid key name {name:?}: use lowercase letters, digits and single dashes");
    }
    Ok(())
}

impl Keyring {
    /// Opens (without creating) the keyring at `dir`.
    pub fn open(dir: &Path) -> Keyring {
        Keyring {
            dir: dir.to_path_buf(),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    /// Creates a new random key `name` for `account_id`; refuses to overwrite.
    pub fn create(&self, name: &str, account_id: &str, algorithm: Algorithm) -> Result<KeyInfo> {
        let key = PrivateKey::generate(algorithm)?;
        self.import(name, account_id, &key)
    }

    /// Stores an existing key under `name` (mode 0600, written atomically); refuses to overwrite.
    pub fn import(&self, name: &str, account_id: &str, key: &PrivateKey) -> Result<KeyInfo> {
        check_name(name)?;
        if !super::headers::valid_name(account_id) && !valid_account_id(account_id) {
            bail!("invalid account id {account_id:?}");
        }
        let path = self.path(name);
        if path.exists() {
            bail!("key {name:?} already exists in {}", self.dir.display());
        }
        if !self.dir.exists() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(&self.dir)
                .with_context(|| format!("creating keyring directory {}", self.dir.display()))?;
            // A new keyring directory is private too; an existing one is left as its owner set it.
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} private", self.dir.display()))?;
        }
        let file = KeyFile::new(name, account_id, key)?;
        let mut text = serde_json::to_string_pretty(&file)?;
        text.push('\n');
        write_private(&path, text.as_bytes())?;
        Ok(KeyInfo {
            name: name.to_string(),
            account_id: account_id.to_string(),
            key_id: key.public().id(),
        })
    }

    /// Loads key `name`: its facts and the private key.
    pub fn load(&self, name: &str) -> Result<(KeyInfo, PrivateKey)> {
        check_name(name)?;
        let path = self.path(name);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "key {name:?} not found in keyring {} (reading {})",
                self.dir.display(),
                path.display()
            )
        })?;
        let file: KeyFile = serde_json::from_str(&text)
            .with_context(|| format!("reading key file {}", path.display()))?;
        let key = file.key(&path)?;
        let info = KeyInfo {
            name: name.to_string(),
            account_id: file.account_id,
            key_id: key.public().id(),
        };
        Ok((info, key))
    }

    /// All keys, sorted by name.
    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        let mut names = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "key")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                names.push(stem.to_string());
            }
        }
        names.sort();
        for name in names {
            out.push(self.load(&name)?.0);
        }
        Ok(out)
    }
}

/// Account ids in the wild also use mixed case and digits (store ids); allow those too.
fn valid_account_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Writes a private file: temp file with mode 0600 beside the target, then rename.
fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("key.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("writing private key {}", path.display()))
    })
}
