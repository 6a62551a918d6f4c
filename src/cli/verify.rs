//! `snapsmith verify`: placeholder until its issue lands.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct VerifyArgs {}

pub fn run(_args: VerifyArgs) -> Result<()> {
    bail!("`snapsmith verify` is not implemented yet")
}
