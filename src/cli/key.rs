//! `snapsmith key`: placeholder until its issue lands.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Not implemented yet
    Todo,
}

pub fn run(_cmd: KeyCommand) -> Result<()> {
    bail!("`snapsmith key` is not implemented yet")
}
