//! What the validator reads from an image (rootlessly: the partition table through
//! [`crate::inspect`], ubuntu-data through `debugfs` at the partition's offset, the ESP through
//! fatfs) and the update snaps it derives from the image's own kernel and base: a new revision
//! (another version in meta/snap.yaml, so another digest), a kernel whose initramfs has no
//! `/init` (it panics), a base whose `/snapsmith/health` exits 1.

use super::diskread;
use super::scenario::UpdateKind;
use crate::boot::modeenv::Modeenv;
use crate::exec::Cmd;
use crate::snap::{Compression, PackOptions, SnapFile};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

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

/// Writes the update snap for `kind` into `work`; `None` for no update.
pub fn derive_update(kind: UpdateKind, info: &ImageInfo, work: &Path) -> Result<Option<PathBuf>> {
    let (installed, what) = match kind {
        UpdateKind::None => return Ok(None),
        UpdateKind::GoodKernel | UpdateKind::BadKernel => (info.kernel()?.to_string(), "kernel"),
        UpdateKind::GoodBase | UpdateKind::BadBase => (info.modeenv.base.clone(), "base"),
    };
    let original = work.join(format!("installed-{installed}"));
    if !original.exists() {
        dump_snap(info, &installed, &original)?;
    }
    let snap = SnapFile::open(&original)?;
    let tree = work.join(format!("tree-{kind:?}"));
    if tree.exists() {
        std::fs::remove_dir_all(&tree)?;
    }
    snap.extract_to(&tree)?;
    let version = format!("{}+{}", snap.info().version, tag(kind));
    set_version(&tree.join("meta/snap.yaml"), &version)?;
    match kind {
        UpdateKind::BadKernel => {
            // An initramfs without /init: the kernel finds no init and panics.
            let archive = crate::kernel::cpio::Archive::new();
            crate::kernel::initramfs::write_gzip(&archive, &tree.join("initrd.img"))?;
        }
        UpdateKind::BadBase => {
            let dir = tree.join("snapsmith");
            std::fs::create_dir_all(&dir)?;
            let health = dir.join("health");
            std::fs::write(&health, exit_elf(1))?;
            std::fs::set_permissions(&health, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        }
        _ => {}
    }
    let out = work.join(format!("{}_{}.snap", snap.info().name, tag(kind)));
    let options = PackOptions {
        compression: Compression::Gzip,
        mtime: 0,
    };
    crate::snap::pack_dir(&tree, &out, &options)
        .with_context(|| format!("repacking the image's {what} snap {installed}"))?;
    std::fs::remove_dir_all(&tree)?;
    Ok(Some(out))
}

fn tag(kind: UpdateKind) -> &'static str {
    match kind {
        UpdateKind::None => "none",
        UpdateKind::GoodKernel | UpdateKind::GoodBase => "update",
        UpdateKind::BadKernel | UpdateKind::BadBase => "broken",
    }
}

/// Rewrites the `version:` line of a snap.yaml.
fn set_version(path: &Path, version: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("version:") {
            out.push_str(&format!("version: '{version}'\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// A complete x86-64 Linux program that exits with `code`: one ELF header, one program header,
/// `mov edi, code; mov eax, 60 (exit); syscall`. It needs no interpreter or library, so any
/// base can run it.
pub fn exit_elf(code: u8) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let text = [
        0xbf, code, 0, 0, 0, // mov edi, code
        0xb8, 60, 0, 0, 0, // mov eax, 60
        0x0f, 0x05, // syscall
    ];
    let total = HEADERS + 12;
    let mut e = Vec::new();
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // program headers
    e.extend_from_slice(&0u64.to_le_bytes()); // no sections
    e.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        e.extend_from_slice(&half.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R+X
    e.extend_from_slice(&0u64.to_le_bytes());
    e.extend_from_slice(&BASE.to_le_bytes());
    e.extend_from_slice(&BASE.to_le_bytes());
    e.extend_from_slice(&total.to_le_bytes());
    e.extend_from_slice(&total.to_le_bytes());
    e.extend_from_slice(&0x1000u64.to_le_bytes());
    e.extend_from_slice(&text);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_program_runs_and_exits_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        for code in [0u8, 1, 7] {
            let path = dir.path().join(format!("exit{code}"));
            std::fs::write(&path, exit_elf(code)).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            let result = Cmd::new(path.to_str().unwrap()).run();
            assert_eq!(result.is_ok(), code == 0, "exit code {code}");
            if code != 0 {
                let err = format!("{:#}", result.unwrap_err());
                assert!(err.contains(&format!("exit status: {code}")), "{err}");
            }
        }
    }
}
