//! `snapsmith build`: placeholder until its issue lands.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct BuildArgs {}

pub fn run(_args: BuildArgs) -> Result<()> {
    bail!("`snapsmith build` is not implemented yet")
}
