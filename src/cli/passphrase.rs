//! Where a key's passphrase comes from: a file (`--passphrase-file`), an environment variable
//! the command line names (`--passphrase-env`), or else a prompt on the terminal. Read here at
//! the edge only; the library receives the passphrase through a callback.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

/// The passphrase options shared by the commands that load or store keys.
#[derive(Debug, Args, Clone, Default)]
pub struct PassphraseArg {
    /// Read the key's passphrase from FILE (its first line)
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_env")]
    passphrase_file: Option<PathBuf>,
    /// Read the key's passphrase from the environment variable VAR
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
}

impl PassphraseArg {
    /// The passphrase from the file or variable named, if one was.
    pub fn named(&self) -> Result<Option<String>> {
        if let Some(path) = &self.passphrase_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--passphrase-file: reading {}", path.display()))?;
            let line = text.lines().next().unwrap_or_default();
            if line.is_empty() {
                bail!(
                    "--passphrase-file: {} has an empty first line",
                    path.display()
                );
            }
            return Ok(Some(line.to_string()));
        }
        if let Some(var) = &self.passphrase_env {
            let value = std::env::var(var)
                .with_context(|| format!("--passphrase-env: variable {var} is not set"))?;
            if value.is_empty() {
                bail!("--passphrase-env: variable {var} is empty");
            }
            return Ok(Some(value));
        }
        Ok(None)
    }

    /// The passphrase of key `name`: named, else asked on the terminal.
    pub fn get(&self, name: &str) -> Result<String> {
        if let Some(p) = self.named()? {
            return Ok(p);
        }
        if !std::io::stdin().is_terminal() {
            bail!(
                "key {name:?} is passphrase-protected: give --passphrase-file FILE or \
                 --passphrase-env VAR (no terminal to ask on)"
            );
        }
        rpassword::prompt_password(format!("Passphrase for key {name:?}: "))
            .context("reading the passphrase from the terminal")
    }
}
