//! `snapsmith sign`: placeholder until its issue lands.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct SignArgs {}

pub fn run(_args: SignArgs) -> Result<()> {
    bail!("`snapsmith sign` is not implemented yet")
}
