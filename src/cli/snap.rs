//! `snapsmith snap`: pack a directory into a `.snap`, and show what a `.snap` holds.

use crate::snap::{self, Compression, PackOptions, SnapDigest, SnapFile, SnapInfo};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum SnapCommand {
    /// Pack a directory with meta/snap.yaml into a deterministic .snap
    Pack(PackArgs),
    /// Show a snap's metadata, digest and size
    Info(InfoArgs),
    /// Print a signed snap-declaration and snap-revision for a snap file
    Assert(AssertArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Environment: SOURCE_DATE_EPOCH (seconds since the epoch) is the \
    assertions' timestamp; when it is unset, the current time."
)]
pub struct AssertArgs {
    /// The .snap file
    file: PathBuf,
    /// Name of the signing key in the keyring (its account acts as the store)
    #[arg(long, value_name = "NAME")]
    key: String,
    /// The snap id to assert (as the model lists it)
    #[arg(long, value_name = "ID")]
    snap_id: String,
    /// The revision to assert (1 or more)
    #[arg(long, value_name = "N")]
    revision: u64,
    /// Publisher and developer account (default: the signing key's account)
    #[arg(long, value_name = "ACCOUNT")]
    publisher: Option<String>,
    #[command(flatten)]
    keyring: super::key::KeyringArg,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Environment: SOURCE_DATE_EPOCH (seconds since the epoch) is the \
    timestamp of every entry and of the image; when it is unset, 0."
)]
pub struct PackArgs {
    /// Directory holding meta/snap.yaml and the snap's files
    dir: PathBuf,
    /// Output file (default: <name>_<version>_<arch>.snap in the current directory)
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Squashfs compression: xz, or gzip for snaps a bootloader reads
    #[arg(long, default_value = "xz")]
    compression: Compression,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The .snap file
    file: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: SnapCommand) -> Result<()> {
    match cmd {
        SnapCommand::Pack(args) => pack(args),
        SnapCommand::Info(args) => info(args),
        SnapCommand::Assert(args) => assert(args),
    }
}

fn assert(args: AssertArgs) -> Result<()> {
    let (key_info, key) = args.keyring.load(&args.key)?;
    let when = time::OffsetDateTime::from_unix_timestamp(super::build::build_time()?)?;
    let timestamp = crate::assertion::types::format_time(when);
    let request = snap::SnapAssertRequest {
        snap_id: &args.snap_id,
        revision: args.revision,
        publisher: args.publisher.as_deref(),
        timestamp: &timestamp,
    };
    let signed = snap::snap_assertions(&args.file, &request, &key, &key_info.account_id)?;
    super::key::write_stdout(&crate::assertion::encode_stream(&signed))?;
    Ok(())
}

fn pack(args: PackArgs) -> Result<()> {
    let options = PackOptions {
        compression: args.compression,
        ..PackOptions::at(super::build::source_date_epoch()?.unwrap_or(0))?
    };
    let yaml = std::fs::read(args.dir.join("meta/snap.yaml"));
    // pack_dir reports a missing or bad snap.yaml itself; here it names the output and says
    // whether the tree is a gadget, whose gadget.yaml must be valid too (as `snap pack` does).
    let info = yaml.ok().and_then(|y| SnapInfo::parse(&y).ok());
    if info
        .as_ref()
        .is_some_and(|i| i.snap_type == snap::SnapType::Gadget)
    {
        crate::gadget::load(&args.dir, crate::gadget::Ruleset::Unknown)?;
    }
    let output = match (args.output, info) {
        (Some(out), _) => out,
        (None, Some(info)) => PathBuf::from(default_file_name(&info)),
        (None, None) => PathBuf::from("snap.snap"),
    };
    snap::pack_dir(&args.dir, &output, &options)?;
    println!("{}", output.display());
    Ok(())
}

/// snapcraft's naming: `<name>_<version>_<arch>.snap`, `multi` for several architectures.
fn default_file_name(info: &SnapInfo) -> String {
    let arch = match info.architectures.as_slice() {
        [one] => one.as_str(),
        _ => "multi",
    };
    format!("{}_{}_{}.snap", info.name, info.version, arch)
}

#[derive(Serialize)]
struct InfoReport<'a> {
    #[serde(flatten)]
    info: &'a SnapInfo,
    compression: &'a str,
    #[serde(rename = "sha3-384")]
    sha3_384: &'a str,
    size: u64,
}

fn info(args: InfoArgs) -> Result<()> {
    let file = SnapFile::open(&args.file)?;
    let SnapDigest { sha3_384, size } = snap::digest(&args.file)?;
    let info = file.info();
    if args.json {
        let report = InfoReport {
            info,
            compression: file.compression(),
            sha3_384: &sha3_384,
            size,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("name:          {}", info.name);
    println!("version:       {}", info.version);
    println!("type:          {}", info.snap_type);
    println!("base:          {}", info.base.as_deref().unwrap_or("-"));
    println!("architectures: {}", info.architectures.join(", "));
    println!("compression:   {}", file.compression());
    println!("sha3-384:      {sha3_384}");
    println!("size:          {size}");
    if !info.apps.is_empty() {
        println!("apps:");
        for (name, app) in &info.apps {
            let daemon = app
                .daemon
                .map(|d| format!(" (daemon: {})", d.as_str()))
                .unwrap_or_default();
            println!("  {name}: {}{daemon}", app.command.as_deref().unwrap_or(""));
        }
    }
    for (title, map) in [("plugs", &info.plugs), ("slots", &info.slots)] {
        if !map.is_empty() {
            println!("{title}:");
            for (name, iface) in map {
                println!("  {name}: {}", iface.interface);
            }
        }
    }
    Ok(())
}
