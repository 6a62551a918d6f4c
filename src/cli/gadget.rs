//! `snapsmith gadget`: show how a gadget's volumes are laid out.

use crate::gadget::content::Trees;
use crate::gadget::load::{self, GadgetSource};
use crate::gadget::report::LayoutReport;
use crate::gadget::{self, Ruleset};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum GadgetCommand {
    /// Print each volume's structures with their computed offsets and sizes
    Layout(LayoutArgs),
}

#[derive(Debug, Args)]
pub struct LayoutArgs {
    /// A gadget.yaml, a gadget source directory (with meta/gadget.yaml) or a gadget .snap
    path: PathBuf,
    /// Print JSON (schema in docs/gadget.md)
    #[arg(long)]
    json: bool,
    /// Logical sector size of the disk
    #[arg(long, default_value_t = 512, value_parser = parse_sector_size)]
    sector_size: u64,
}

/// Accepts exactly 512 or 4096.
pub fn parse_sector_size(text: &str) -> Result<u64, String> {
    match text {
        "512" => Ok(512),
        "4096" => Ok(4096),
        _ => Err(format!(
            "{text:?} is not a supported sector size (512 or 4096)"
        )),
    }
}

pub fn run(cmd: GadgetCommand) -> Result<()> {
    match cmd {
        GadgetCommand::Layout(args) => layout(args),
    }
}

fn layout(args: LayoutArgs) -> Result<()> {
    let loaded = gadget::load(&args.path, Ruleset::Unknown)?;
    let shown = &loaded.shown;
    match &loaded.source {
        GadgetSource::Dir(dir) => gadget::check_content(
            &loaded.gadget,
            Trees {
                gadget: dir,
                kernel: None,
            },
        )
        .with_context(|| format!("checking the content of {}", args.path.display()))?,
        GadgetSource::Snap(snap) => {
            let tree = load::extract_snap(snap)?;
            gadget::check_content(
                &loaded.gadget,
                Trees {
                    gadget: &tree.root,
                    kernel: None,
                },
            )
            .with_context(|| format!("checking the content of {}", args.path.display()))?;
        }
        GadgetSource::Yaml(_) => {}
    }
    let layout = gadget::layout(&loaded.gadget, args.sector_size).with_context(|| shown.clone())?;
    let report = LayoutReport::new(&layout);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}
