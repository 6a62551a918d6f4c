//! `snapsmith key`: create, import (from a GnuPG export), export and list signing keys in the
//! keyring, and print the account and account-key assertions that make a key a root of trust or
//! delegate to it.

use super::passphrase::PassphraseArg;
use crate::assertion::keyring::{KeyInfo, Keyring};
use crate::assertion::keys::{Algorithm, PrivateKey};
use crate::assertion::secret;
use crate::assertion::types::parse_time;
use crate::assertion::{certify_key, encode_stream};
use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Where the keyring lives.
#[derive(Debug, Args)]
pub struct KeyringArg {
    /// Keyring directory (default: $SNAPSMITH_KEYRING, else the user's data dir)
    #[arg(long, env = "SNAPSMITH_KEYRING", value_name = "DIR")]
    keyring: Option<PathBuf>,
    #[command(flatten)]
    passphrase: PassphraseArg,
}

impl KeyringArg {
    /// Opens the chosen keyring.
    pub fn open(&self) -> Result<Keyring> {
        let dir = match &self.keyring {
            Some(d) => d.clone(),
            None => default_keyring_dir()?,
        };
        Ok(Keyring::open(&dir))
    }

    /// Loads key `name`, asking for its passphrase (file, variable or terminal) if it is
    /// protected.
    pub fn load(&self, name: &str) -> Result<(KeyInfo, PrivateKey)> {
        self.open()?.load_with(name, &|n| self.passphrase.get(n))
    }
}

/// The default keyring directory: `<user data dir>/snapsmith/keys` (XDG_DATA_HOME or
/// ~/.local/share), settled here at the edge; the library takes the directory it is given.
fn default_keyring_dir() -> Result<PathBuf> {
    let base = dirs::data_dir().context("no user data directory; pass --keyring DIR")?;
    Ok(base.join("snapsmith").join("keys"))
}

/// `--algorithm` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AlgorithmArg {
    Rsa,
    Ed25519,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key (RSA-4096 by default, what snapd accepts) that signs for ACCOUNT; prints its
    /// key id
    Create {
        /// Key name
        name: String,
        /// Account id the key signs for
        #[arg(long, value_name = "ACCOUNT")]
        account_id: String,
        /// Signature algorithm: rsa (4096 bits; snapd verifies only RSA) or ed25519
        #[arg(long, value_enum, default_value_t = AlgorithmArg::Rsa)]
        algorithm: AlgorithmArg,
        #[command(flatten)]
        keyring: KeyringArg,
    },
    /// Import the secret key of a GnuPG export (`gpg --export-secret-keys [--armor] NAME`, as
    /// `snap create-key` keeps keys in ~/.snap/gnupg); prints its key id. A protected export is
    /// unlocked with its passphrase and stored protected with it
    Import {
        /// The exported key (armored or binary)
        file: PathBuf,
        /// Account id the key signs for
        #[arg(long, value_name = "ACCOUNT")]
        account_id: String,
        /// Name in the keyring (default: the file name without its extension)
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        #[command(flatten)]
        keyring: KeyringArg,
    },
    /// Print the public key of NAME in snapd's encoding (an account-key body, as
    /// `snap export-key` prints it)
    Export {
        /// Key name
        name: String,
        #[command(flatten)]
        keyring: KeyringArg,
    },
    /// List keys: name, account id, key id
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        keyring: KeyringArg,
    },
    /// Print the self-signed account + account-key assertions making NAME a root of trust
    Trust {
        /// Key name
        name: String,
        /// Start of validity, RFC 3339 (default: the epoch, so the root can vouch for anything)
        #[arg(long, value_name = "T")]
        since: Option<String>,
        #[command(flatten)]
        keyring: KeyringArg,
    },
    /// Print the account + account-key assertions for NAME, signed by the root key SIGNER
    Delegate {
        /// Key name
        name: String,
        /// Name of the signing (root) key
        #[arg(long, value_name = "ROOTNAME")]
        signer: String,
        /// Start of validity, RFC 3339 (default: the epoch)
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// End of validity (exclusive), RFC 3339 (default: none)
        #[arg(long, value_name = "T")]
        until: Option<String>,
        #[command(flatten)]
        keyring: KeyringArg,
    },
}

fn time_arg(flag: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>> {
    value
        .map(|v| parse_time(v).map_err(|e| anyhow!("--{flag}: {e}")))
        .transpose()
}

pub fn run(cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Create {
            name,
            account_id,
            algorithm,
            keyring,
        } => {
            let algorithm = match algorithm {
                AlgorithmArg::Rsa => Algorithm::Rsa,
                AlgorithmArg::Ed25519 => Algorithm::Ed25519,
            };
            let key = PrivateKey::generate(algorithm)?;
            let protect = keyring.passphrase.named()?;
            let info = keyring
                .open()?
                .store(&name, &account_id, &key, protect.as_deref())?;
            write_stdout(format!("{}\n", info.key_id).as_bytes())
        }
        KeyCommand::Import {
            file,
            account_id,
            name,
            keyring,
        } => import(&file, &account_id, name, &keyring),
        KeyCommand::Export { name, keyring } => {
            let public = keyring.open()?.public_key(&name)?;
            write_stdout(format!("{}\n", public.encode_body()).as_bytes())
        }
        KeyCommand::List { json, keyring } => {
            let keys = keyring.open()?.list()?;
            let text = if json {
                format!("{}\n", serde_json::to_string_pretty(&keys)?)
            } else {
                keys.iter()
                    .map(|k| format!("{}\t{}\t{}\n", k.name, k.account_id, k.key_id))
                    .collect()
            };
            write_stdout(text.as_bytes())
        }
        KeyCommand::Trust {
            name,
            since,
            keyring,
        } => certify(&keyring, &name, None, since.as_deref(), None),
        KeyCommand::Delegate {
            name,
            signer,
            since,
            until,
            keyring,
        } => certify(
            &keyring,
            &name,
            Some(&signer),
            since.as_deref(),
            until.as_deref(),
        ),
    }
}

/// `key import`: reads the export, unlocks it, stores it (protected if it was, or if a
/// passphrase was named) and prints the key id.
fn import(file: &Path, account_id: &str, name: Option<String>, keyring: &KeyringArg) -> Result<()> {
    let name = match name {
        Some(n) => n,
        None => file
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "{}: no file name to name the key; pass --name",
                    file.display()
                )
            })?,
    };
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let packet = secret::read_export(&data).with_context(|| format!("{}", file.display()))?;
    let passphrase = if packet.is_protected() {
        Some(keyring.passphrase.get(&name)?)
    } else {
        keyring.passphrase.named()?
    };
    let key = packet
        .unlock(passphrase.as_deref().map(str::as_bytes))
        .with_context(|| format!("{}: unlocking the secret key", file.display()))?;
    key.check_signing_size()
        .with_context(|| format!("{}: the key cannot sign assertions", file.display()))?;
    let info = keyring
        .open()?
        .store(&name, account_id, &key, passphrase.as_deref())?;
    write_stdout(format!("{}\n", info.key_id).as_bytes())
}

/// Prints the account + account-key for key `name`, signed by `signer` (itself when `None`).
/// Only the signing key is unlocked: the certified key's public half is read as it is stored,
/// so one passphrase source serves even when both keys are protected.
fn certify(
    keyring: &KeyringArg,
    name: &str,
    signer: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<()> {
    let ring = keyring.open()?;
    let (info, public) = (ring.info(name)?, ring.public_key(name)?);
    let since = time_arg("since", since)?.unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let until = time_arg("until", until)?;
    let signer_name = signer.unwrap_or(name);
    let (root, root_key) = keyring.load(signer_name)?;
    let out = certify_key(
        &public,
        name,
        &info.account_id,
        &root_key,
        &root.account_id,
        since,
        until,
    )
    .with_context(|| format!("certifying key {name:?} with {signer_name:?}"))?;
    write_stdout(&encode_stream(&out))
}

/// Writes results to stdout; a closed pipe is an error (exit 1), not a panic.
pub(super) fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("writing to stdout")
}
