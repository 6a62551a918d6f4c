//! `snapsmith verify`: check every assertion of the given streams (format, signature, chain to
//! a `--trusted` root, validity window, type rules); prints what verified.

use crate::assertion::{self, Assertion, Error};
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Assertion files (streams of one or more assertions)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Trusted root assertions (self-signed account + account-key); repeatable
    #[arg(long, value_name = "FILE")]
    trusted: Vec<PathBuf>,
}

/// Reads and decodes one assertion stream, naming the file on error.
pub fn read_stream(path: &Path) -> Result<Vec<Assertion>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    assertion::decode_stream(&data).with_context(|| format!("decoding {}", path.display()))
}

/// The file holding the assertion an error names, for a more useful message.
fn file_of<'a>(err: &Error, files: &'a [(PathBuf, Vec<Assertion>)]) -> Option<&'a Path> {
    let who = match err {
        Error::Header { assertion, .. } | Error::Rule { assertion, .. } => assertion.as_str(),
        Error::UnsupportedAlgorithm(m) => m.split(':').next().unwrap_or_default(),
        _ => return None,
    };
    files
        .iter()
        .find(|(_, list)| list.iter().any(|a| a.describe() == who))
        .map(|(p, _)| p.as_path())
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let mut given = Vec::new();
    for path in &args.files {
        given.push((path.clone(), read_stream(path)?));
    }
    let mut roots = Vec::new();
    for path in &args.trusted {
        roots.push((path.clone(), read_stream(path)?));
    }
    let all: Vec<Assertion> = given.iter().flat_map(|(_, l)| l.clone()).collect();
    let trusted: Vec<Assertion> = roots.iter().flat_map(|(_, l)| l.clone()).collect();
    let now = time::OffsetDateTime::now_utc();
    let verified = assertion::trust::verify(&all, &trusted, now).map_err(|e| {
        let both: Vec<_> = given.iter().chain(&roots).cloned().collect();
        match file_of(&e, &both) {
            Some(p) => anyhow::Error::new(e).context(format!("verifying {}", p.display())),
            None => anyhow::Error::new(e).context("verifying assertions"),
        }
    })?;
    let lines: String = all
        .iter()
        .map(|a| format!("verified {}\n", a.describe()))
        .collect();
    super::key::write_stdout(lines.as_bytes())?;
    if trusted.is_empty() && !verified.models.is_empty() {
        eprintln!("note: no --trusted roots were given");
    }
    Ok(())
}
