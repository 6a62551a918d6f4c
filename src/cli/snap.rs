//! `snapsmith snap`: placeholder until its issue lands.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SnapCommand {
    /// Not implemented yet
    Todo,
}

pub fn run(_cmd: SnapCommand) -> Result<()> {
    bail!("`snapsmith snap` is not implemented yet")
}
