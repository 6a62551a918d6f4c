//! Command-line interface: clap definitions and one small function per command.
//!
//! Nothing else in the crate reads argv or the environment for options. Results go to stdout
//! (JSON with `--json`); progress and logs go to stderr. Exit codes: 0 success, 1 failure (bad
//! input, failed check), 2 usage error (clap's own exit code for usage errors), 3 a failure of
//! the host rather than of the input (`validate`: QEMU, firmware or tools missing, no room).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod boot;
mod build;
mod example;
mod gadget;
mod inspect;
mod kernel;
mod key;
mod model;
mod passphrase;
mod sign;
mod snap;
mod update_disk;
mod validate;
mod verify;

/// Build immutable, Ubuntu Core-style OS images and prove they boot and roll back.
#[derive(Debug, Parser)]
#[command(name = "snapsmith", version, about, propagate_version = true)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list and certify signing keys
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Sign assertion headers (JSON or YAML) with a key from the keyring
    Sign(sign::SignArgs),
    /// Verify assertion streams against trusted roots
    Verify(verify::VerifyArgs),
    /// Inspect model assertions
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Inspect gadget definitions
    #[command(subcommand)]
    Gadget(gadget::GadgetCommand),
    /// Work with snap files
    #[command(subcommand)]
    Snap(snap::SnapCommand),
    /// Build disk images from a model and snaps
    Build(build::BuildArgs),
    /// Read a disk image back: partitions, filesystems, seed
    Inspect(inspect::InspectArgs),
    /// Make a kernel snap (with snapsmith's init) from a Debian kernel package or files
    KernelSnap(kernel::KernelSnapArgs),
    /// Download the Debian kernel package and build the example pc-kernel snap
    ExampleKernel(kernel::ExampleKernelArgs),
    /// Make the example device: image, snaps, assertions and its TEST-ONLY keyring
    Example(example::ExampleArgs),
    /// Boot an image through try/commit/rollback scenarios in QEMU and report
    Validate(validate::ValidateArgs),
    /// Boot an image in QEMU (OVMF, GRUB) on a throw-away overlay and wait for the run marker
    Boot(boot::BootArgs),
    /// Write an update disk: kernel or base snaps with their assertions, for a USB stick
    UpdateDisk(update_disk::UpdateDiskArgs),
}

/// Parses argv, runs the command and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints help/version (exit 0) and usage errors (exit 2) itself.
        Err(err) => err.exit(),
    };
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err
                .downcast_ref::<crate::qemu::host::HostFailure>()
                .is_some()
            {
                ExitCode::from(crate::qemu::host::EXIT_CODE)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SNAPSMITH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Key(cmd) => key::run(cmd),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Model(cmd) => model::run(cmd),
        Command::Gadget(cmd) => gadget::run(cmd),
        Command::Snap(cmd) => snap::run(cmd),
        Command::Build(args) => build::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::KernelSnap(args) => kernel::run_kernel_snap(args),
        Command::ExampleKernel(args) => kernel::run_example_kernel(args),
        Command::Example(args) => example::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Boot(args) => boot::run(args),
        Command::UpdateDisk(args) => update_disk::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
