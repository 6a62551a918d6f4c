//! `snapsmith sign`: sign assertion headers (JSON as `snap sign` takes, or YAML) from a file or
//! stdin with a key from the keyring; prints the signed assertion.

use super::key::KeyringArg;
use crate::assertion;
use anyhow::{Context, Result, anyhow};
use clap::Args;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Name of the signing key in the keyring
    #[arg(long, value_name = "NAME")]
    key: String,
    /// Headers as JSON or YAML (default: stdin)
    file: Option<PathBuf>,
    #[command(flatten)]
    keyring: KeyringArg,
}

/// Parses JSON, or YAML when the text is not JSON, into a JSON object.
pub fn parse_headers(text: &str, what: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(json_err) => serde_yaml::from_str(text)
            .map_err(|e| anyhow!("{what}: neither JSON ({json_err}) nor YAML ({e})"))?,
    };
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(anyhow!(
            "{what}: headers must be a JSON object or YAML mapping"
        )),
    }
}

pub fn run(args: SignArgs) -> Result<()> {
    let (what, text) = match &args.file {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading headers from stdin")?;
            ("stdin".to_string(), s)
        }
    };
    let headers = parse_headers(&text, &what)?;
    let type_name = headers
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| anyhow!("{what}: header \"type\" is missing"))?
        .to_string();
    let (info, key) = args.keyring.load(&args.key)?;
    let signed = assertion::sign(&type_name, &headers, &[], &key, &info.account_id)
        .with_context(|| format!("signing {what} with key {:?}", args.key))?;
    super::key::write_stdout(&signed.encode())?;
    Ok(())
}
