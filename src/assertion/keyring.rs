//! The keyring: a directory of private keys (RSA or Ed25519), one JSON file `<name>.key` per
//! key, created with mode 0600. Each key remembers the account id it signs for. An RSA key is
//! stored as PKCS#8 DER (`rsa-pkcs8`), an Ed25519 key as its 32-byte seed (`ed25519-seed`), both
//! base64; a passphrase-protected key of either kind as an OpenPGP secret-key packet protected
//! with S2K (`openpgp-protected`: AES-256 in CFB mode, iterated and salted SHA-256, SHA-1 check),
//! the form `gpg --export-secret-keys` writes.

use super::keys::{Algorithm, PrivateKey, PublicKey};
use super::secret::{self, SecretPacket};
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
    /// Whether the key is stored passphrase-protected.
    pub protected: bool,
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
    /// Base64 of a passphrase-protected OpenPGP secret-key packet body.
    #[serde(
        rename = "openpgp-protected",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    protected: Option<String>,
}

/// Supplies the passphrase of a protected key when one is loaded (called only then).
pub type Passphrase<'a> = &'a dyn Fn(&str) -> Result<String>;

/// For keys loaded without a passphrase source.
fn no_passphrase(name: &str) -> Result<String> {
    bail!("key {name:?} is passphrase-protected and no passphrase was given")
}

impl KeyFile {
    fn new(
        name: &str,
        account_id: &str,
        key: &PrivateKey,
        passphrase: Option<&str>,
    ) -> Result<KeyFile> {
        let (mut seed, mut rsa, mut protected) = (None, None, None);
        match (passphrase, key) {
            (Some(p), _) => {
                let packet = secret::protect(key, p.as_bytes())?;
                protected = Some(STANDARD.encode(packet.body()));
            }
            (None, PrivateKey::Ed25519(k)) => seed = Some(STANDARD.encode(k.to_bytes())),
            (None, PrivateKey::Rsa(_)) => {
                let der = key.to_pkcs8_der()?.context("an RSA key without PKCS#8")?;
                rsa = Some(STANDARD.encode(der));
            }
        }
        Ok(KeyFile {
            name: name.to_string(),
            account_id: account_id.to_string(),
            seed,
            rsa,
            protected,
        })
    }

    fn key(&self, path: &Path, passphrase: Passphrase) -> Result<PrivateKey> {
        let field = |f: &str| format!("{}: field {f:?} is not valid", path.display());
        match (&self.seed, &self.rsa, &self.protected) {
            (Some(seed), None, None) => {
                let seed = STANDARD
                    .decode(seed.as_bytes())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .with_context(|| field("ed25519-seed"))?;
                Ok(PrivateKey::from_seed(seed))
            }
            (None, Some(der), None) => {
                use rsa::pkcs8::DecodePrivateKey;
                let der = STANDARD
                    .decode(der.as_bytes())
                    .with_context(|| field("rsa-pkcs8"))?;
                let key = rsa::PrivateKey::from_pkcs8_der(&der)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| field("rsa-pkcs8"))?;
                Ok(PrivateKey::Rsa(Box::new(key)))
            }
            (None, None, Some(body)) => {
                let body = STANDARD
                    .decode(body.as_bytes())
                    .with_context(|| field("openpgp-protected"))?;
                let packet =
                    SecretPacket::from_body(body).with_context(|| field("openpgp-protected"))?;
                let phrase = passphrase(&self.name)?;
                packet
                    .unlock(Some(phrase.as_bytes()))
                    .with_context(|| format!("unlocking key {:?} ({})", self.name, path.display()))
            }
            _ => bail!(
                "{}: needs exactly one of \"ed25519-seed\", \"rsa-pkcs8\" and \"openpgp-protected\"",
                path.display()
            ),
        }
    }

    fn public_key(&self, path: &Path) -> Result<PublicKey> {
        match &self.protected {
            Some(body) => {
                let body = STANDARD.decode(body.as_bytes()).with_context(|| {
                    format!(
                        "{}: field \"openpgp-protected\" is not valid",
                        path.display()
                    )
                })?;
                Ok(SecretPacket::from_body(body)?.public()?)
            }
            None => Ok(self.key(path, &no_passphrase)?.public()),
        }
    }

    fn is_protected(&self) -> bool {
        self.protected.is_some()
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
        self.store(name, account_id, key, None)
    }

    /// Stores `key` under `name`, protected by `passphrase` when one is given.
    pub fn store(
        &self,
        name: &str,
        account_id: &str,
        key: &PrivateKey,
        passphrase: Option<&str>,
    ) -> Result<KeyInfo> {
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
        let file = KeyFile::new(name, account_id, key, passphrase)?;
        let mut text = serde_json::to_string_pretty(&file)?;
        text.push('\n');
        write_private(&path, text.as_bytes())?;
        Ok(KeyInfo {
            name: name.to_string(),
            account_id: account_id.to_string(),
            key_id: key.public().id(),
            protected: passphrase.is_some(),
        })
    }

    /// Loads key `name`: its facts and the private key; a protected key is refused.
    pub fn load(&self, name: &str) -> Result<(KeyInfo, PrivateKey)> {
        self.load_with(name, &no_passphrase)
    }

    /// Loads key `name`, asking `passphrase` for the passphrase if the key is protected.
    pub fn load_with(&self, name: &str, passphrase: Passphrase) -> Result<(KeyInfo, PrivateKey)> {
        let (file, path) = self.read(name)?;
        let key = file.key(&path, passphrase)?;
        let info = KeyInfo {
            name: name.to_string(),
            account_id: file.account_id.clone(),
            key_id: key.public().id(),
            protected: file.is_protected(),
        };
        Ok((info, key))
    }

    fn read(&self, name: &str) -> Result<(KeyFile, PathBuf)> {
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
        Ok((file, path))
    }

    /// The public key of `name`; for a protected key, from the public fields of its packet, so
    /// no passphrase is needed.
    pub fn public_key(&self, name: &str) -> Result<PublicKey> {
        let (file, path) = self.read(name)?;
        file.public_key(&path)
    }

    /// The public facts of key `name`.
    pub fn info(&self, name: &str) -> Result<KeyInfo> {
        let (file, path) = self.read(name)?;
        Ok(KeyInfo {
            name: name.to_string(),
            key_id: file.public_key(&path)?.id(),
            protected: file.is_protected(),
            account_id: file.account_id,
        })
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
            out.push(self.info(&name)?);
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
