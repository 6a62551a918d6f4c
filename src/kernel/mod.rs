//! Kernel snaps from real kernels: read a Debian `linux-image` package (or a kernel image and a
//! module tree), resolve the modules the boot needs from their own metadata, build an
//! initramfs whose `/init` is snapsmith's in-image runtime (`snapsmith-init`), and pack `vmlinuz`, `initrd.img` and `meta/`
//! into a kernel snap.

pub mod config;
pub mod cpio;
pub mod elf;
pub mod fetch;
pub mod initramfs;
pub mod modules;

use anyhow::{Context, Result, bail};
use config::KernelConfig;
use modules::ModuleIndex;
use std::path::{Path, PathBuf};

/// Modules every snapsmith boot needs: virtio disks, loop, squashfs, ext4 and vfat, and for
/// liveness a watchdog (QEMU's i6300esb) and the ACPI power button with its evdev node. Their
/// dependencies, soft dependencies and the FAT NLS modules are added by [`boot_modules`].
pub const DEFAULT_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "loop",
    "squashfs",
    "ext4",
    "vfat",
    "i6300esb",
    "button",
    "evdev",
];

/// A kernel image with its module tree and (optionally) its build configuration.
#[derive(Debug)]
pub struct KernelTree {
    pub vmlinuz: PathBuf,
    /// The `lib/modules/<release>` directory.
    pub modules: PathBuf,
    pub config: Option<PathBuf>,
    pub release: String,
    /// Keeps an extracted package alive as long as the tree is used.
    _extracted: Option<tempfile::TempDir>,
}

impl KernelTree {
    /// Extracts a Debian `linux-image-*.deb` (with `dpkg-deb`) and finds its kernel, modules
    /// and config. Newer packages put modules under `usr/lib/modules`; both are accepted.
    pub fn from_deb(deb: &Path) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("snapsmith-kernel-")
            .tempdir()
            .context("creating a directory to extract the kernel package")?;
        crate::exec::Cmd::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(dir.path())
            .run()
            .with_context(|| format!("extracting kernel package {}", deb.display()))?;
        let modules = ["lib/modules", "usr/lib/modules"]
            .iter()
            .map(|d| dir.path().join(d))
            .find(|d| d.is_dir())
            .with_context(|| {
                format!("{}: no lib/modules directory in the package", deb.display())
            })?;
        let modules = single_entry(&modules)
            .with_context(|| format!("{}: looking for the module tree", deb.display()))?;
        let release = initramfs::release_of(&modules)?;
        let boot = dir.path().join("boot");
        let vmlinuz = boot.join(format!("vmlinuz-{release}"));
        if !vmlinuz.is_file() {
            bail!("{}: package has no boot/vmlinuz-{release}", deb.display());
        }
        let config = Some(boot.join(format!("config-{release}"))).filter(|c| c.is_file());
        Ok(KernelTree {
            vmlinuz,
            modules,
            config,
            release,
            _extracted: Some(dir),
        })
    }

    /// A kernel image and a module tree given as files. Without `config`, the config is looked
    /// for at `../../../boot/config-<release>` from the module tree (where a package puts it).
    pub fn from_files(vmlinuz: &Path, modules: &Path, config: Option<&Path>) -> Result<Self> {
        if !vmlinuz.is_file() {
            bail!("kernel image {} not found", vmlinuz.display());
        }
        if !modules.is_dir() {
            bail!("module directory {} not found", modules.display());
        }
        let release = initramfs::release_of(&modules.canonicalize()?)?;
        let config = match config {
            Some(c) => Some(c.to_path_buf()),
            None => Some(modules.join(format!("../../../boot/config-{release}")))
                .filter(|c| c.is_file()),
        };
        Ok(KernelTree {
            vmlinuz: vmlinuz.to_path_buf(),
            modules: modules.to_path_buf(),
            config,
            release,
            _extracted: None,
        })
    }

    /// The parsed kernel config, or an error saying how to give one.
    pub fn read_config(&self) -> Result<KernelConfig> {
        match &self.config {
            Some(path) => KernelConfig::read(path),
            None => bail!(
                "kernel config for {} not found (it names the FAT codepage modules); pass --config",
                self.release
            ),
        }
    }
}

fn single_entry(dir: &Path) -> Result<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.retain(|p| p.is_dir());
    match entries.len() {
        1 => Ok(entries.remove(0)),
        0 => bail!("{} holds no kernel release directory", dir.display()),
        _ => bail!("{} holds several kernel releases", dir.display()),
    }
}

/// The boot module set in load order: [`DEFAULT_MODULES`], the FAT NLS modules the config
/// names, then `extra`, each with its dependencies.
pub fn boot_modules(
    index: &ModuleIndex,
    config: &KernelConfig,
    extra: &[String],
) -> Result<Vec<String>> {
    let mut roots: Vec<String> = DEFAULT_MODULES.iter().map(|m| m.to_string()).collect();
    roots.extend(config.fat_nls_modules());
    roots.extend(extra.iter().cloned());
    modules::resolve(index, &roots)
}

/// How to build a kernel snap.
#[derive(Debug, Clone)]
pub struct KernelSnapOptions {
    /// The snap's name (`pc-kernel` for the example).
    pub name: String,
    /// Modules to add to the default set.
    pub extra_modules: Vec<String>,
    /// The `snapsmith-init` executable that becomes the initramfs's `/init` (see
    /// [`initramfs::init_beside`]).
    pub init: PathBuf,
    /// Seconds since the epoch stamped on the snap's files (the CLI passes
    /// `SOURCE_DATE_EPOCH`, 0 when it is unset).
    pub mtime: i64,
}

/// What went into a kernel snap.
#[derive(Debug, Clone)]
pub struct KernelSnapReport {
    pub release: String,
    pub modules: Vec<String>,
}

/// Builds the kernel snap at `out` (written beside it first, renamed on success).
pub fn build_kernel_snap(
    tree: &KernelTree,
    opts: &KernelSnapOptions,
    out: &Path,
) -> Result<KernelSnapReport> {
    let index = ModuleIndex::load(&tree.modules)?;
    let modules = boot_modules(&index, &tree.read_config()?, &opts.extra_modules)?;
    let stage = tempfile::Builder::new()
        .prefix("snapsmith-kernel-snap-")
        .tempdir()
        .context("creating a staging directory")?;
    let root = stage.path();
    std::fs::copy(&tree.vmlinuz, root.join("vmlinuz"))
        .with_context(|| format!("copying {}", tree.vmlinuz.display()))?;
    let spec = initramfs::InitramfsSpec {
        init: opts.init.clone(),
        modules: modules.clone(),
    };
    let archive = initramfs::assemble(&spec, &index)?;
    initramfs::write_gzip(&archive, &root.join("initrd.img"))?;
    std::fs::create_dir(root.join("meta"))?;
    std::fs::write(
        root.join("meta/snap.yaml"),
        snap_yaml(&opts.name, &tree.release),
    )?;
    std::fs::write(root.join("meta/kernel.yaml"), "assets: {}\n")?;
    // gzip: GRUB 2.06 reads gzip, xz and lzo squashfs only, and gzip decompresses fastest.
    let pack = crate::snap::PackOptions {
        compression: crate::snap::Compression::Gzip,
        ..crate::snap::PackOptions::at(opts.mtime)?
    };
    crate::snap::pack_dir(root, out, &pack)
        .with_context(|| format!("packing {}", out.display()))?;
    Ok(KernelSnapReport {
        release: tree.release.clone(),
        modules,
    })
}

/// `meta/snap.yaml` of a kernel snap; the version is the kernel release.
pub fn snap_yaml(name: &str, release: &str) -> String {
    format!(
        "name: {name}\nversion: {release}\nsummary: Linux kernel {release} with snapsmith's init\n\
         description: Kernel image, initramfs and boot modules, built by snapsmith.\n\
         type: kernel\narchitectures:\n  - amd64\ngrade: stable\nconfinement: strict\n"
    )
}
