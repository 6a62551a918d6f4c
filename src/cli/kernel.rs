//! `snapsmith kernel-snap` (a kernel snap from a Debian kernel package or a kernel image and
//! module tree) and `snapsmith example-kernel` (the example `pc-kernel` snap from the current
//! Debian kernel package, downloaded into a cache).

use crate::kernel::{KernelSnapOptions, KernelTree, build_kernel_snap, initramfs};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct KernelSnapArgs {
    /// Debian linux-image-*.deb to take the kernel, its config and modules from
    #[arg(long, conflicts_with_all = ["vmlinuz", "modules"], required_unless_present = "vmlinuz")]
    deb: Option<PathBuf>,
    /// Kernel image (with --modules instead of --deb)
    #[arg(long, requires = "modules")]
    vmlinuz: Option<PathBuf>,
    /// Module tree of that kernel (a lib/modules/<release> directory)
    #[arg(long, requires = "vmlinuz")]
    modules: Option<PathBuf>,
    /// Kernel build config (default: boot/config-<release> of the package or beside the tree)
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output snap file (default: <name>_<release>.snap)
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Snap name
    #[arg(long, default_value = "pc-kernel")]
    name: String,
    /// Another module to put in the initramfs (repeatable); its dependencies come along
    #[arg(long = "module", value_name = "NAME")]
    extra_modules: Vec<String>,
    /// The initramfs's /init (default: snapsmith-init beside the snapsmith executable)
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExampleKernelArgs {
    /// Directory to write pc-kernel.snap into
    #[arg(short = 'O', long, default_value = ".")]
    output_dir: PathBuf,
    /// Where downloaded kernel packages are kept (default: ~/.cache/snapsmith/kernel)
    #[arg(long)]
    cache: Option<PathBuf>,
    /// The initramfs's /init (default: snapsmith-init beside the snapsmith executable)
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
}

pub fn run_kernel_snap(args: KernelSnapArgs) -> Result<()> {
    let init = init_binary(args.init.clone())?;
    let tree = match (&args.deb, &args.vmlinuz, &args.modules) {
        (Some(deb), _, _) => {
            let mut tree = KernelTree::from_deb(deb)?;
            if let Some(config) = &args.config {
                tree.config = Some(config.clone());
            }
            tree
        }
        (None, Some(vmlinuz), Some(modules)) => {
            KernelTree::from_files(vmlinuz, modules, args.config.as_deref())?
        }
        _ => bail!("give --deb FILE, or --vmlinuz FILE with --modules DIR"),
    };
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}_{}.snap", args.name, tree.release)));
    let opts = KernelSnapOptions {
        name: args.name,
        extra_modules: args.extra_modules,
        init,
        mtime: super::build::source_date_epoch()?.unwrap_or(0),
    };
    build(&tree, &opts, &out)
}

/// `--init`, or snapsmith-init beside this executable.
fn init_binary(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(init) => Ok(init),
        None => {
            let exe = std::env::current_exe().context("finding the snapsmith executable")?;
            initramfs::init_beside(&exe).context("finding the init binary (or give --init FILE)")
        }
    }
}

fn build(tree: &KernelTree, opts: &KernelSnapOptions, out: &Path) -> Result<()> {
    let report = build_kernel_snap(tree, opts, out)?;
    eprintln!(
        "kernel {}: {} modules in the initramfs ({})",
        report.release,
        report.modules.len(),
        report.modules.join(" ")
    );
    println!("{}", out.display());
    Ok(())
}

pub fn run_example_kernel(args: ExampleKernelArgs) -> Result<()> {
    let init = init_binary(args.init)?;
    let cache = match args.cache {
        Some(dir) => dir,
        None => dirs::cache_dir()
            .context("no cache directory (set --cache)")?
            .join("snapsmith/kernel"),
    };
    let deb = crate::kernel::fetch::debian_kernel_deb(&cache)?;
    eprintln!("kernel package {}", deb.display());
    let tree = KernelTree::from_deb(&deb)?;
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("creating {}", args.output_dir.display()))?;
    let opts = KernelSnapOptions {
        name: "pc-kernel".to_string(),
        extra_modules: Vec::new(),
        init,
        mtime: super::build::source_date_epoch()?.unwrap_or(0),
    };
    build(&tree, &opts, &args.output_dir.join("pc-kernel.snap"))
}
