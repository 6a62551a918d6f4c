//! `snapsmith boot IMAGE`: boot a built image in QEMU (OVMF, GRUB, kernel snap, base) on a
//! throw-away overlay, stream its serial console and succeed when the run marker appears.

use crate::qemu::boot::{self as vm, BootOptions};
use anyhow::Result;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BootArgs {
    /// The disk image to boot (for example pc.img from `snapsmith build`); it is not modified
    image: PathBuf,
    /// Seconds to wait for the marker
    #[arg(long, default_value_t = 300.0, value_parser = parse_seconds)]
    timeout: f64,
    /// Succeed at the first console line containing this text
    #[arg(long, default_value = vm::RUN_MARKER)]
    marker: String,
    /// Keep the serial log here (default: a new file in the temporary directory)
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Guest memory in MiB
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(128..))]
    memory: u32,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

pub fn run(args: BootArgs) -> Result<()> {
    let opts = BootOptions {
        image: args.image,
        timeout: Duration::from_secs_f64(args.timeout),
        marker: args.marker,
        log: args.log,
        memory_mib: args.memory,
    };
    let report = vm::boot_image(&opts, |line| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })?;
    eprintln!(
        "snapsmith: booted: {:?} after {:.1} s ({} failed boot(s) before it); serial log: {}",
        opts.marker,
        report.marker_at.as_secs_f64(),
        report.failed_boots.len(),
        report.log.display()
    );
    Ok(())
}
