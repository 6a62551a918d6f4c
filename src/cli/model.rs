//! `snapsmith model`: placeholder until its issue lands.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Not implemented yet
    Todo,
}

pub fn run(_cmd: ModelCommand) -> Result<()> {
    bail!("`snapsmith model` is not implemented yet")
}
