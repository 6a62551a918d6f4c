//! `snapsmith build`: parse the options and hand them to [`crate::build::run`].

use crate::build::format::OutputFormat;
use crate::build::{self, BuildRequest, Reporter};
use crate::units::{SectorSize, parse_cli_size};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = BUILD_TIME_HELP)]
pub struct BuildArgs {
    /// The signed model assertion
    model: PathBuf,
    /// Snap files for the image (`--snap A B C`, or one `--snap` per file)
    #[arg(long = "snap", value_name = "FILE", num_args = 1.., action = clap::ArgAction::Append)]
    snaps: Vec<PathBuf>,
    /// A directory whose *.snap files are all offered to the image
    #[arg(long, value_name = "DIR")]
    snaps_dir: Option<PathBuf>,
    /// Assertions: the model's brand chain, snap declarations and revisions (repeatable)
    #[arg(long, value_name = "FILE")]
    assertions: Vec<PathBuf>,
    /// Trusted root account-key assertions (repeatable)
    #[arg(long, value_name = "FILE")]
    trusted: Vec<PathBuf>,
    /// Output directory for <volume>.img and manifest.json
    #[arg(
        short = 'O',
        long = "output-dir",
        value_name = "DIR",
        default_value = "."
    )]
    output_dir: PathBuf,
    /// Minimum image size (e.g. 4G, 600M); the gadget's layout sets the rest
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    image_size: Option<u64>,
    /// Logical sector size of the disk
    #[arg(long, default_value_t = SectorSize::B512)]
    sector_size: SectorSize,
    /// Recovery system label (default: the build date, YYYYMMDD)
    #[arg(long)]
    label: Option<String>,
    /// One more recovery system on the seed, same model and snaps (repeatable); GRUB's menu
    /// offers each, and the seed's grubenv names --label's
    #[arg(long = "extra-recovery-system", value_name = "LABEL")]
    extra_systems: Vec<String>,
    /// Print the plan and write nothing
    #[arg(long)]
    dry_run: bool,
    /// Print JSON on stdout (the plan with --dry-run, else the manifest)
    #[arg(long)]
    json: bool,
    /// Keep the partial output of a failed build for debugging
    #[arg(long)]
    keep_failed: bool,
    /// Also print each stage's wall time (a table after the output, or "timings" in --json)
    #[arg(long)]
    timings: bool,
    /// The images' format: raw (sparse <volume>.img), qcow2 (<volume>.qcow2) or zst
    /// (<volume>.img.zst); manifest.json and the .bmap describe the raw bytes
    #[arg(long, value_enum, default_value_t = OutputFormat::Raw)]
    output_format: OutputFormat,
    /// Build a second time into a scratch directory and fail, naming the first differing file,
    /// byte and structure, unless every output is byte-identical
    #[arg(long, conflicts_with = "dry_run")]
    verify_reproducible: bool,
    /// With --verify-reproducible: compare with this earlier output directory instead
    #[arg(long, value_name = "DIR", requires = "verify_reproducible")]
    against: Option<PathBuf>,
}

/// What `SOURCE_DATE_EPOCH` means to the commands that write images.
pub(super) const BUILD_TIME_HELP: &str = "Environment: SOURCE_DATE_EPOCH (seconds since the \
    epoch) is the build time stamped on files and filesystems (and the default recovery system \
    label); when it is unset, the current time.";

/// `SOURCE_DATE_EPOCH`, read here (the library takes the value).
pub(super) fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse().map(Some).with_context(|| {
            format!("SOURCE_DATE_EPOCH={text:?} is not an integer number of seconds")
        }),
        Err(_) => Ok(None),
    }
}

/// The build time of images and assertions: `SOURCE_DATE_EPOCH`, else now.
pub(super) fn build_time() -> Result<i64> {
    match source_date_epoch()? {
        Some(secs) => Ok(secs),
        None => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            Ok(i64::try_from(now.as_secs())?)
        }
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    parse_cli_size(text).map_err(|e| e.to_string())
}

pub fn run(args: BuildArgs) -> Result<()> {
    // Catch Ctrl-C and SIGTERM for the whole command, not only while images are written: a
    // signal during the build ends in its cleanup path, and one that arrives after the outputs
    // were committed no longer kills the process between the commit and a successful exit.
    let _interrupts = crate::interrupt::InterruptGuard::install();
    let request = BuildRequest {
        model: args.model,
        snaps: args.snaps,
        snaps_dir: args.snaps_dir,
        assertions: args.assertions,
        trusted: args.trusted,
        out_dir: args.output_dir,
        image_size: args.image_size,
        sector_size: args.sector_size,
        label: args.label,
        extra_systems: args.extra_systems,
        dry_run: args.dry_run,
        keep_failed: args.keep_failed,
        format: args.output_format,
        build_time: build_time()?,
    };
    let reporter = Reporter::new(false);
    let outcome = match args.verify_reproducible {
        true => build::reproducible::run(&request, args.against.as_deref(), &reporter)?,
        false => build::run(&request, &reporter)?,
    };
    reporter.finish();
    if args.json {
        print!(
            "{}",
            build::outcome_json(&outcome, args.dry_run, args.timings)?
        );
        return Ok(());
    }
    match args.dry_run {
        true => print!("{}", build::render_table(&outcome.assembled)),
        false => {
            for path in &outcome.written {
                println!("{}", path.display());
            }
        }
    }
    if args.timings {
        print!("\n{}", build::render_timings(&outcome.timings));
    }
    Ok(())
}
