//! `snapsmith inspect`: placeholder until its issue lands.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct InspectArgs {}

pub fn run(_args: InspectArgs) -> Result<()> {
    bail!("`snapsmith inspect` is not implemented yet")
}
