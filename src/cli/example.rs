//! `snapsmith example -O DIR`: make the example device (image, snaps, assertions and its
//! TEST-ONLY keyring) with [`crate::example::build`]. Settles the options the library takes as
//! values: the time (`SOURCE_DATE_EPOCH`, else the example's fixed default), the kernel package
//! and this executable as the initramfs's `/init`.

use crate::build::Reporter;
use crate::example::{self, ExampleOptions, KernelSource};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ExampleArgs {
    /// Output directory: pc.img, manifest.json, snaps/, assertions/ and keyring/ (TEST-ONLY keys)
    #[arg(short = 'O', long = "output-dir", value_name = "DIR")]
    output_dir: PathBuf,
    /// Debian linux-image-*.deb for the kernel snap (default: the current Debian kernel,
    /// downloaded with apt-get into the cache)
    #[arg(long, env = "SNAPSMITH_KERNEL_DEB", value_name = "FILE")]
    kernel_deb: Option<PathBuf>,
    /// Where downloaded kernel packages are kept (default: ~/.cache/snapsmith/kernel)
    #[arg(long, value_name = "DIR", conflicts_with = "kernel_deb")]
    cache: Option<PathBuf>,
    /// Seconds since the epoch for every timestamp in the output (default: 2026-01-01, the
    /// example model's timestamp, so the output is the same on every run)
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS",
          default_value_t = example::DEFAULT_SOURCE_DATE_EPOCH)]
    source_date_epoch: i64,
}

pub fn run(args: ExampleArgs) -> Result<()> {
    let _interrupts = crate::interrupt::InterruptGuard::install();
    let kernel = match (args.kernel_deb, args.cache) {
        (Some(deb), _) => KernelSource::Deb(deb),
        (None, Some(cache)) => KernelSource::Download { cache },
        (None, None) => KernelSource::Download {
            cache: dirs::cache_dir()
                .context("no cache directory (set --cache)")?
                .join("snapsmith/kernel"),
        },
    };
    let exe = std::env::current_exe().context("finding the snapsmith executable")?;
    let init = crate::kernel::initramfs::init_beside(&exe)?;
    let mut opts = ExampleOptions::new(&args.output_dir, kernel, &init);
    opts.source_date_epoch = args.source_date_epoch;
    let reporter = Reporter::new(false);
    let made = example::build(&opts, &reporter)?;
    reporter.finish();
    for path in [&made.image, &made.manifest, &made.assertions, &made.keyring]
        .into_iter()
        .chain(&made.snaps)
    {
        println!("{}", path.display());
    }
    Ok(())
}
