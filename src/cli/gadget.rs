//! `snapsmith gadget`: placeholder until its issue lands.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum GadgetCommand {
    /// Not implemented yet
    Todo,
}

pub fn run(_cmd: GadgetCommand) -> Result<()> {
    bail!("`snapsmith gadget` is not implemented yet")
}
