//! What the validator reads from an image (rootlessly: the partition table through
//! [`crate::inspect`], ubuntu-data through `debugfs` at the partition's offset, the ESP through
//! fatfs) and the update snaps it derives from the image's own kernel and base: a new revision
//! (another version in meta/snap.yaml, so another digest), a kernel whose initramfs has no
//! `/init` (it panics), one whose `/init` never returns, one whose vmlinuz GRUB cannot load,
//! a base whose `/snapsmith/health` exits 1 and one whose health check never returns.

use super::scenario::UpdateKind;
use super::{diskread, tiny_elf};
use crate::boot::modeenv::Modeenv;
use crate::exec::Cmd;
use crate::snap::{Compression, PackOptions, SnapFile, SnapType};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// App revisions derived for the app scenarios.
#[path = "derive_apps.rs"]
pub mod apps;

const SNAPS: &str = crate::seed::DATA_SNAPS_DIR;

/// What the validator needs to know about an image.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub path: PathBuf,
    /// Byte offset of ubuntu-data in the image.
    pub data_offset: u64,
    pub modeenv: Modeenv,
    /// Snap files installed on ubuntu-data.
    pub installed: Vec<String>,
    /// The ESP (ubuntu-seed) holds `EFI/BOOT/BOOTX64.EFI`, so firmware can boot it.
    pub has_bootloader: bool,
    /// Byte offset and size of ubuntu-seed in the image, when it has one.
    pub seed: Option<(u64, u64)>,
    /// The seed's grubenv as built (filled in by validate when a scenario checks the seed).
    pub seed_grubenv: std::collections::BTreeMap<String, String>,
    /// The installed app snap file the app updates derive from (the first with a daemon;
    /// filled in by validate when a scenario updates an app).
    pub daemon_app: Option<String>,
}

impl ImageInfo {
    /// The kernel the image boots now (first of current_kernels).
    pub fn kernel(&self) -> Result<&str> {
        self.modeenv
            .current_kernels
            .first()
            .map(String::as_str)
            .context("the image's modeenv lists no current_kernels")
    }
}

/// Reads the partition table, modeenv and the installed snaps of `image`.
pub fn read_image(image: &Path) -> Result<ImageInfo> {
    let report = crate::inspect::inspect(image)?;
    let named = |name: &str| {
        report.partitions.iter().find(|p| {
            p.name.as_deref() == Some(name)
                || p.filesystem
                    .as_ref()
                    .is_some_and(|f| f.label.as_deref() == Some(name))
        })
    };
    let data = named("ubuntu-data")
        .with_context(|| format!("{}: no ubuntu-data partition", image.display()))?;
    let target = PathBuf::from(format!("{}?offset={}", image.display(), data.offset));
    let modeenv = diskread::ext4_file(&target, crate::seed::MODEENV_PATH)?
        .with_context(|| format!("{}: ubuntu-data has no modeenv", image.display()))?;
    let modeenv = Modeenv::decode(&String::from_utf8_lossy(&modeenv))
        .with_context(|| format!("{}: ubuntu-data modeenv", image.display()))?;
    let installed = diskread::ext4_dir(&target, SNAPS)?
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.ends_with(".snap"))
        .collect();
    let seed = named("ubuntu-seed").map(|p| (p.offset, p.size));
    let has_bootloader = match seed {
        Some((offset, size)) => esp_has_bootloader(image, offset, size)?,
        None => false,
    };
    Ok(ImageInfo {
        path: image.to_path_buf(),
        data_offset: data.offset,
        modeenv,
        installed,
        has_bootloader,
        seed,
        seed_grubenv: Default::default(),
        daemon_app: None,
    })
}

fn esp_has_bootloader(image: &Path, offset: u64, size: u64) -> Result<bool> {
    let file =
        std::fs::File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let window = crate::window::Window::new(&file, offset, size);
    let Ok(fs) = fatfs::FileSystem::new(window, fatfs::FsOptions::new()) else {
        return Ok(false);
    };
    // FAT names compare without case, but say both spellings in use.
    let root = fs.root_dir();
    Ok(["EFI/BOOT/BOOTX64.EFI", "EFI/boot/bootx64.efi"]
        .iter()
        .any(|p| root.open_file(p).is_ok()))
}

/// Runs one debugfs request on the ext4 filesystem at `offset` of `image` (read-only); the
/// reading of files and directories goes through [`diskread`], as the host checks' does.
fn debugfs(image: &Path, offset: u64, request: &str) -> Result<String> {
    let target = format!("{}?offset={offset}", image.display());
    Cmd::new("debugfs")
        .args(["-R", request, &target])
        .run_string()
        .with_context(|| format!("{}: ubuntu-data: {request}", image.display()))
}

/// Copies an installed snap out of ubuntu-data to `to`.
pub fn dump_snap(info: &ImageInfo, file: &str, to: &Path) -> Result<()> {
    debugfs(
        &info.path,
        info.data_offset,
        &format!("dump /{SNAPS}/{file} {}", to.display()),
    )?;
    if !to.is_file() {
        bail!("{}: ubuntu-data has no {SNAPS}/{file}", info.path.display());
    }
    Ok(())
}

/// The prefix of the image's installed snaps copied into the work directory.
const INSTALLED: &str = "installed-";

/// The installed snap `file`, copied out of the image into `work` once per run (as
/// `installed-<file>`); [`forget_installed`] drops the copies of an earlier run.
pub fn installed_snap(info: &ImageInfo, file: &str, work: &Path) -> Result<PathBuf> {
    let copy = work.join(format!("{INSTALLED}{file}"));
    if !copy.exists() {
        dump_snap(info, file, &copy)?;
    }
    Ok(copy)
}

/// Removes the installed snaps an earlier run copied into `work`: another image may have a
/// snap file of the same name with other bytes.
pub fn forget_installed(work: &Path) -> Result<()> {
    for entry in std::fs::read_dir(work).with_context(|| format!("reading {}", work.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(INSTALLED) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Writes the update snap for `kind` into `work`; `None` for no update. The forgeries of
/// [`UpdateKind::Forged`] are a directory of snaps ([`super::derive_forged`]), as are the two
/// revisions of [`UpdateKind::BadApps`] ([`apps::derive_app_update`]).
pub fn derive_update(kind: UpdateKind, info: &ImageInfo, work: &Path) -> Result<Option<PathBuf>> {
    let (installed, what) = match kind.snap_type() {
        None if kind == UpdateKind::Forged => {
            return super::derive_forged::derive(info, work).map(Some);
        }
        None => return Ok(None),
        Some(SnapType::App) => return apps::derive_app_update(kind, info, work).map(Some),
        Some(SnapType::Kernel) => (info.kernel()?.to_string(), "kernel"),
        Some(_) => (info.modeenv.base.clone(), "base"),
    };
    let original = installed_snap(info, &installed, work)?;
    let snap = SnapFile::open(&original)?;
    let tree = work.join(format!("tree-{kind:?}"));
    if tree.exists() {
        std::fs::remove_dir_all(&tree)?;
    }
    snap.extract_to(&tree)?;
    let version = format!("{}+{}", snap.info().version, kind.tag());
    set_field(&tree.join("meta/snap.yaml"), "version", &version)?;
    plant_fault(kind, &tree)?;
    let out = work.join(format!("{}_{}.snap", snap.info().name, kind.tag()));
    let options = PackOptions {
        compression: Compression::Gzip,
        mtime: 0,
    };
    crate::snap::pack_dir(&tree, &out, &options)
        .with_context(|| format!("repacking the image's {what} snap {installed}"))?;
    std::fs::remove_dir_all(&tree)?;
    Ok(Some(out))
}

/// Changes the extracted snap `tree` the way `kind` breaks it (good kinds stay as they are).
fn plant_fault(kind: UpdateKind, tree: &Path) -> Result<()> {
    let initrd = tree.join("initrd.img");
    match kind {
        UpdateKind::BadKernel => {
            // An initramfs without /init: the kernel finds no init and panics.
            let archive = crate::kernel::cpio::Archive::new();
            crate::kernel::initramfs::write_gzip(&archive, &initrd)?;
        }
        UpdateKind::HangingKernel => {
            // An initramfs whose /init waits forever: nothing but a reset ends the boot.
            let mut archive = crate::kernel::cpio::Archive::new();
            archive.add(
                "init",
                crate::kernel::cpio::Entry::File {
                    data: tiny_elf::pause_forever(),
                    executable: true,
                },
            )?;
            crate::kernel::initramfs::write_gzip(&archive, &initrd)?;
        }
        UpdateKind::UnloadableKernel => {
            // No bzImage header: GRUB's `linux` refuses the file.
            let vmlinuz = tree.join("vmlinuz");
            let len = std::fs::metadata(&vmlinuz)
                .with_context(|| format!("reading {}", vmlinuz.display()))?
                .len();
            std::fs::write(&vmlinuz, vec![0u8; usize::try_from(len)?])?;
        }
        UpdateKind::BadBase => write_health(tree, &tiny_elf::exit_with(1))?,
        UpdateKind::HangingBase => write_health(tree, &tiny_elf::pause_forever())?,
        UpdateKind::None
        | UpdateKind::GoodKernel
        | UpdateKind::GoodBase
        | UpdateKind::Forged
        | UpdateKind::GoodApp
        | UpdateKind::BadApps => {}
    }
    Ok(())
}

/// Puts `program` at the base's /snapsmith/health.
fn write_health(tree: &Path, program: &[u8]) -> Result<()> {
    let dir = tree.join("snapsmith");
    std::fs::create_dir_all(&dir)?;
    let health = dir.join("health");
    std::fs::write(&health, program)?;
    std::fs::set_permissions(&health, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok(())
}

/// Rewrites the top-level `<key>:` line of a snap.yaml (`version`, `name`).
pub(super) fn set_field(path: &Path, key: &str, value: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with(&format!("{key}:")) {
            out.push_str(&format!("{key}: '{value}'\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}
