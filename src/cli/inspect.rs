//! `snapsmith inspect IMAGE [--json]`: reads an image back and prints its partition table,
//! filesystems and vfat files.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The disk image to read
    image: PathBuf,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: InspectArgs) -> Result<()> {
    let report = crate::inspect::inspect(&args.image)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", crate::inspect::render(&report));
    }
    Ok(())
}
