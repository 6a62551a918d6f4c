//! `snapsmith kernel-snap` and `snapsmith example-kernel`: placeholders until their issue lands.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct KernelSnapArgs {}

#[derive(Debug, Args)]
pub struct ExampleKernelArgs {}

pub fn run_kernel_snap(_args: KernelSnapArgs) -> Result<()> {
    bail!("`snapsmith kernel-snap` is not implemented yet")
}

pub fn run_example_kernel(_args: ExampleKernelArgs) -> Result<()> {
    bail!("`snapsmith example-kernel` is not implemented yet")
}
