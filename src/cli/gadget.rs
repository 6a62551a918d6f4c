//! `snapsmith gadget`: show how a gadget's volumes are laid out, and write them to images.

use crate::build::{self, OutputOptions, Reporter};
use crate::disk::WriteOptions;
use crate::gadget::content::Trees;
use crate::gadget::load::{self, GadgetSource};
use crate::gadget::report::LayoutReport;
use crate::gadget::{self, Ruleset};
use crate::units::SectorSize;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum GadgetCommand {
    /// Print each volume's structures with their computed offsets and sizes
    Layout(LayoutArgs),
    /// Write each volume, with the gadget's content, to <volume>.img
    Write(WriteArgs),
}

#[derive(Debug, Args)]
#[command(after_help = super::build::BUILD_TIME_HELP)]
pub struct WriteArgs {
    /// A gadget source directory (with meta/gadget.yaml) or a gadget .snap
    path: PathBuf,
    /// Directory for the images
    #[arg(short = 'O', long, default_value = ".")]
    output_dir: PathBuf,
    /// Logical sector size of the disk
    #[arg(long, default_value_t = SectorSize::B512)]
    sector_size: SectorSize,
    /// Size of every image (bytes, or K/M/G); must hold the volume
    #[arg(long, value_parser = parse_image_size)]
    image_size: Option<u64>,
    /// Kernel snap or its unpacked tree, for `$kernel:` content
    #[arg(long)]
    kernel: Option<PathBuf>,
}

fn parse_image_size(text: &str) -> Result<u64, String> {
    crate::units::parse_cli_size(text).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct LayoutArgs {
    /// A gadget.yaml, a gadget source directory (with meta/gadget.yaml) or a gadget .snap
    path: PathBuf,
    /// Print JSON (schema in docs/gadget.md)
    #[arg(long)]
    json: bool,
    /// Logical sector size of the disk
    #[arg(long, default_value_t = SectorSize::B512)]
    sector_size: SectorSize,
}

pub fn run(cmd: GadgetCommand) -> Result<()> {
    match cmd {
        GadgetCommand::Layout(args) => layout(args),
        GadgetCommand::Write(args) => write(args),
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
    let layout =
        gadget::layout(&loaded.gadget, args.sector_size.bytes()).with_context(|| shown.clone())?;
    let report = LayoutReport::new(&layout);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

fn write(args: WriteArgs) -> Result<()> {
    let loaded = gadget::load(&args.path, Ruleset::Unknown)?;
    let unpacked;
    let root = match &loaded.source {
        GadgetSource::Dir(dir) => dir.as_path(),
        GadgetSource::Snap(snap) => {
            unpacked = load::extract_snap(snap)?;
            unpacked.root.as_path()
        }
        GadgetSource::Yaml(file) => anyhow::bail!(
            "{}: writing images needs the gadget's tree (a directory with meta/gadget.yaml or a .snap)",
            file.display()
        ),
    };
    let kernel_unpacked;
    let kernel = match &args.kernel {
        Some(k) if k.is_dir() => Some(k.as_path()),
        Some(k) => {
            kernel_unpacked = load::extract_snap(k)?;
            Some(kernel_unpacked.root.as_path())
        }
        None => None,
    };
    let opts = gadget::PlanOptions {
        sector_size: args.sector_size.bytes(),
        image_size: args.image_size,
        ..gadget::PlanOptions::default()
    };
    let plan = gadget::image_plan(
        &loaded,
        Trees {
            gadget: root,
            kernel,
        },
        &opts,
    )?;
    // The build's pipeline: every refusal before writing, staging, progress, one guard.
    let checked = crate::disk::check(&plan)?;
    let _interrupts = crate::interrupt::InterruptGuard::install();
    let reporter = Reporter::new(false);
    let out = OutputOptions {
        out_dir: &args.output_dir,
        keep_failed: false,
        write: WriteOptions {
            build_time: super::build::build_time()?,
            progress: &reporter,
        },
        format: Default::default(),
    };
    let written = build::write_staged(checked, &out, |_| Ok(Vec::new()))?;
    reporter.finish();
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}
