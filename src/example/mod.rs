//! The example device, defined once: `snapsmith example -O DIR`, `scripts/demo` and the tests
//! that build the example image all come here.
//!
//! From this repository's sources ([`sources`]) and two Debian packages (the kernel image
//! package, and `busybox-static` for the base) it makes the seven snaps ([`snaps`], and the
//! placeholder snapd snap of [`snapd_snap`]), asserts them with the TEST-ONLY store key
//! ([`signing`]) and builds the grade `signed` model with [`crate::build::run`], with a second
//! recovery system ([`EXTRA_SYSTEM`]) on the seed. Output, committed all at once through
//! [`Staging`] (nothing at `DIR`
//! when it fails):
//!
//! ```text
//! DIR/pc.img, DIR/manifest.json   the image and the build's manifest, DIR/pc.img.bmap its
//!                                 block map
//! DIR/snaps/                      pc-kernel.snap, core.snap, hello.snap, pc.snap, snapd.snap,
//!                                 neighbour.snap, tinker.snap
//! DIR/assertions/                 the model, its brand chain, the trusted root, <snap>.assert
//! DIR/keyring/                    the TEST-ONLY keys that signed all of it (README.md says so)
//! ```
//!
//! Reproducible: the same sources, kernel package, busybox, init executable and
//! `source_date_epoch` give the same bytes. The library takes the time as a value; reading
//! `SOURCE_DATE_EPOCH` is the CLI's business.

pub mod signing;
pub mod snapd_snap;
pub mod snaps;
pub mod sources;

use crate::build::{self, BuildRequest, MANIFEST_NAME, Reporter, Staging};
use crate::exec;
use crate::kernel::elf::Elf;
use crate::snap::{Compression, PackOptions};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The example's time when `SOURCE_DATE_EPOCH` is not set: 2026-01-01T00:00:00Z, the example
/// model's timestamp.
pub const DEFAULT_SOURCE_DATE_EPOCH: i64 = 1_767_225_600;

/// Names of the outputs in `DIR`.
pub const IMAGE: &str = "pc.img";
/// The example seed's second recovery system, beside the one labelled with the build date.
pub const EXTRA_SYSTEM: &str = "spare";
pub const SNAPS_DIR: &str = "snaps";
pub const ASSERTIONS_DIR: &str = "assertions";
pub const KEYRING_DIR: &str = "keyring";

/// Where the kernel snap's Debian package comes from.
#[derive(Debug, Clone)]
pub enum KernelSource {
    /// A `linux-image-*.deb` at hand.
    Deb(PathBuf),
    /// The current Debian kernel, downloaded with `apt-get download` into this cache directory
    /// unless it is there already.
    Download { cache: PathBuf },
}

/// How to make the example device.
#[derive(Debug, Clone)]
pub struct ExampleOptions {
    /// The output directory.
    pub out_dir: PathBuf,
    /// Seconds since the epoch for every timestamp (snaps, assertions, the recovery label).
    pub source_date_epoch: i64,
    pub kernel: KernelSource,
    /// The executable that becomes the kernel snap's `/init` (snapsmith's runtime).
    pub init: PathBuf,
    /// A statically linked busybox for the base (default [`snaps::BUSYBOX`]).
    pub busybox: PathBuf,
}

impl ExampleOptions {
    /// Options with the default time and busybox.
    pub fn new(out_dir: &Path, kernel: KernelSource, init: &Path) -> ExampleOptions {
        ExampleOptions {
            out_dir: out_dir.to_path_buf(),
            source_date_epoch: DEFAULT_SOURCE_DATE_EPOCH,
            kernel,
            init: init.to_path_buf(),
            busybox: PathBuf::from(snaps::BUSYBOX),
        }
    }
}

/// What was written, by final path.
#[derive(Debug, Clone)]
pub struct Example {
    pub image: PathBuf,
    pub manifest: PathBuf,
    /// pc-kernel, core, hello, pc, snapd, neighbour and tinker, in that order.
    pub snaps: Vec<PathBuf>,
    pub assertions: PathBuf,
    pub keyring: PathBuf,
}

/// Snap file names in `DIR/snaps`, in the order of [`Example::snaps`].
const SNAP_FILES: [&str; 7] = [
    "pc-kernel.snap",
    "core.snap",
    "hello.snap",
    "pc.snap",
    "snapd.snap",
    "neighbour.snap",
    "tinker.snap",
];

/// Makes the example device into `opts.out_dir`. Prerequisites are checked first and all
/// missing ones reported in one error; on any failure nothing is left at the output paths.
pub fn build(opts: &ExampleOptions, reporter: &Reporter) -> Result<Example> {
    preflight(opts)?;
    let staging = Staging::create(&opts.out_dir, false)?;
    let bmap = format!("{IMAGE}{}", build::bmap::SUFFIX);
    let names = [
        SNAPS_DIR,
        ASSERTIONS_DIR,
        KEYRING_DIR,
        IMAGE,
        &bmap,
        MANIFEST_NAME,
    ]
    .map(String::from);
    match stage(opts, staging.path(), reporter) {
        Ok(()) => {
            set_aside_old_outputs(&opts.out_dir, staging.path())?;
            staging.commit(&names)?;
        }
        Err(err) => return Err(staging.fail(err)),
    }
    let dir = &opts.out_dir;
    Ok(Example {
        image: dir.join(IMAGE),
        manifest: dir.join(MANIFEST_NAME),
        snaps: SNAP_FILES
            .iter()
            .map(|f| dir.join(SNAPS_DIR).join(f))
            .collect(),
        assertions: dir.join(ASSERTIONS_DIR),
        keyring: dir.join(KEYRING_DIR),
    })
}

/// Host tools and packages the example needs, each missing one with what to install.
pub fn missing_prerequisites(opts: &ExampleOptions) -> Vec<String> {
    let mut tools = vec!["dpkg-deb", "mke2fs", "debugfs", "grub-mkimage"];
    if matches!(opts.kernel, KernelSource::Download { .. }) {
        tools.extend(["dpkg", "apt-cache", "apt-get"]);
    }
    let mut missing: Vec<String> = tools
        .iter()
        .filter_map(|tool| exec::require(tool).err().map(|e| format!("{e:#}")))
        .collect();
    if !Path::new("/usr/lib/grub/x86_64-efi").is_dir() {
        missing.push(
            "GRUB's x86_64-efi modules (install the Debian package `grub-efi-amd64-bin`)".into(),
        );
    }
    if let Some(why) = busybox_problem(&opts.busybox) {
        missing.push(why);
    }
    if let KernelSource::Deb(deb) = &opts.kernel
        && !deb.is_file()
    {
        missing.push(format!("kernel package {} not found", deb.display()));
    }
    if !opts.init.is_file() {
        missing.push(format!("init executable {} not found", opts.init.display()));
    }
    missing
}

fn preflight(opts: &ExampleOptions) -> Result<()> {
    let missing = missing_prerequisites(opts);
    if !missing.is_empty() {
        bail!("the example device needs: {}", missing.join("; "));
    }
    Ok(())
}

/// Why `busybox` cannot be the base's busybox, if it cannot: the base has no C library.
fn busybox_problem(busybox: &Path) -> Option<String> {
    let install = "install the Debian package `busybox-static`";
    let Ok(bytes) = std::fs::read(busybox) else {
        return Some(format!(
            "a static busybox at {} ({install})",
            busybox.display()
        ));
    };
    match Elf::parse(&bytes).and_then(|elf| elf.interpreter()) {
        Ok(None) => None,
        Ok(Some(_)) => Some(format!(
            "a static busybox: {} is dynamically linked ({install})",
            busybox.display()
        )),
        Err(e) => Some(format!("a static busybox: {}: {e:#}", busybox.display())),
    }
}

/// Writes every output into `dir` (the staging directory).
fn stage(opts: &ExampleOptions, dir: &Path, reporter: &Reporter) -> Result<()> {
    let snaps = make_snaps(opts, dir, reporter)?;
    reporter.stage("writing the TEST-ONLY keyring and asserting the snaps");
    let keyring = signing::write_keyring(&dir.join(KEYRING_DIR))?;
    let files = signing::write_assertions(
        &dir.join(ASSERTIONS_DIR),
        &snaps,
        &keyring,
        opts.source_date_epoch,
    )?;
    crate::interrupt::check()?;
    let request = BuildRequest {
        model: files.model,
        snaps,
        snaps_dir: None,
        assertions: files.assertions,
        trusted: vec![files.trusted],
        out_dir: dir.to_path_buf(),
        image_size: None,
        sector_size: crate::units::SectorSize::B512,
        label: Some(build::choose_label(None, opts.source_date_epoch)?),
        extra_systems: vec![EXTRA_SYSTEM.to_string()],
        dry_run: false,
        keep_failed: false,
        format: Default::default(),
        build_time: opts.source_date_epoch,
    };
    build::run(&request, reporter).context("building the example image")?;
    Ok(())
}

/// Makes the seven snaps in `dir/snaps`, in the order of [`SNAP_FILES`].
fn make_snaps(opts: &ExampleOptions, dir: &Path, reporter: &Reporter) -> Result<Vec<PathBuf>> {
    let mtime = u32::try_from(opts.source_date_epoch).with_context(|| {
        format!(
            "SOURCE_DATE_EPOCH={} does not fit squashfs time",
            opts.source_date_epoch
        )
    })?;
    let pack = PackOptions {
        compression: Compression::Xz,
        mtime,
    };
    let snaps_dir = dir.join(SNAPS_DIR);
    std::fs::create_dir(&snaps_dir).with_context(|| format!("creating {}", snaps_dir.display()))?;
    let snaps: Vec<PathBuf> = SNAP_FILES.iter().map(|f| snaps_dir.join(f)).collect();
    reporter.stage("making the kernel snap from the Debian kernel package");
    let deb = match &opts.kernel {
        KernelSource::Deb(deb) => deb.clone(),
        KernelSource::Download { cache } => crate::kernel::fetch::debian_kernel_deb(cache)?,
    };
    snaps::kernel_snap(&deb, &opts.init, opts.source_date_epoch, &snaps[0])?;
    crate::interrupt::check()?;
    reporter.stage("packing the busybox base, the app, the gadget and the snapd snap");
    let work = tempfile::Builder::new()
        .prefix(".trees-")
        .tempdir_in(dir)
        .context("creating a directory for the snap trees")?;
    snaps::base_snap((&opts.busybox, &opts.init), work.path(), &snaps[1], &pack)?;
    snaps::source_snap(&sources::HELLO, work.path(), &snaps[2], &pack)?;
    snaps::source_snap(&sources::GADGET, work.path(), &snaps[3], &pack)?;
    snaps::source_snap(&snapd_snap::SNAPD, work.path(), &snaps[4], &pack)?;
    snaps::source_snap(&sources::NEIGHBOUR, work.path(), &snaps[5], &pack)?;
    snaps::source_snap(&sources::TINKER, work.path(), &snaps[6], &pack)?;
    work.close().context("removing the snap trees")?;
    Ok(snaps)
}

/// Moves the directories a previous run left in `out_dir` into `staging`, so the new ones can
/// take their names (files are replaced by the rename itself); they go with the staging
/// directory.
fn set_aside_old_outputs(out_dir: &Path, staging: &Path) -> Result<()> {
    for name in [SNAPS_DIR, ASSERTIONS_DIR, KEYRING_DIR] {
        let old = out_dir.join(name);
        if old.symlink_metadata().is_ok() {
            let to = staging.join(format!("{name}.old"));
            std::fs::rename(&old, &to)
                .with_context(|| format!("moving the old {} aside", old.display()))?;
        }
    }
    Ok(())
}
