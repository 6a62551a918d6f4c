//! `snapsmith update-disk`: the update disk a device installs kernel and base updates from
//! (docs/update-disk.md), as a small GPT image to write to a USB stick.

use crate::build::update_disk;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct UpdateDiskArgs {
    /// Update snap files (kernel or base), one or more
    #[arg(long = "snap", value_name = "FILE", num_args = 1.., required = true)]
    snaps: Vec<PathBuf>,
    /// Assertion streams with each snap's snap-declaration and snap-revision (what
    /// `snapsmith snap assert` prints); a snap without them is installed only by a dangerous model
    #[arg(long = "assertions", value_name = "FILE", num_args = 1..)]
    assertions: Vec<PathBuf>,
    /// The disk image to write (replaced atomically)
    #[arg(short, long, value_name = "DISK")]
    output: PathBuf,
}

pub fn run(args: UpdateDiskArgs) -> Result<()> {
    let _interrupts = crate::interrupt::InterruptGuard::install();
    if args.output.is_dir() {
        bail!(
            "-o {}: is a directory, not a disk image path",
            args.output.display()
        );
    }
    let files = update_disk::update_files(&args.snaps, &args.assertions)?;
    for f in &files {
        eprintln!("snapsmith: update disk: {}", f.name);
    }
    let disk = update_disk::write_update_disk(&files, &args.output)?;
    println!("{}", disk.display());
    Ok(())
}
