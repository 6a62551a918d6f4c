//! The initramfs: snapsmith's in-image runtime as `/init` with the shared libraries it needs, the
//! boot modules in load order, and the list the init loads them from.
//!
//! The init is the `snapsmith-init` binary of this package, found beside the snapsmith
//! executable that builds the initramfs: `cargo build` builds both into one target directory
//! and `cargo install` installs both, so no separate, static build is needed. Its libraries are
//! found from its ELF `DT_NEEDED` entries and stored at the paths the dynamic loader searches.

use super::cpio::{Archive, Entry};
use super::elf::Elf;
use super::modules::{ModuleIndex, read_module};
use anyhow::{Context, Result, bail};
use flate2::{Compression, write::GzEncoder};
use std::path::{Path, PathBuf};

/// Where the init reads the module load order from: one path per line, relative to `/`.
pub const MODULE_LIST: &str = "etc/snapsmith/modules";

/// File name of the in-image runtime binary that becomes `/init`.
pub const INIT_BINARY: &str = "snapsmith-init";

/// Directories the init needs that nothing else creates.
const DIRS: &[&str] = &["dev", "proc", "sys", "run", "root", "writable", "tmp"];

/// Everything that goes into an initramfs.
#[derive(Debug, Clone)]
pub struct InitramfsSpec {
    /// The `snapsmith-init` executable that becomes `/init`.
    pub init: PathBuf,
    /// Module names in load order, from [`super::modules::resolve`].
    pub modules: Vec<String>,
}

/// The init binary beside the executable `exe` (normally the running snapsmith); an error
/// naming the expected path when it is not there.
pub fn init_beside(exe: &Path) -> Result<PathBuf> {
    let dir = exe
        .parent()
        .with_context(|| format!("{} has no directory", exe.display()))?;
    let init = dir.join(INIT_BINARY);
    if !init.is_file() {
        bail!(
            "the init binary {INIT_BINARY} is not at {} (it is built and installed beside \
             snapsmith, e.g. by `cargo build` or `cargo install`)",
            init.display()
        );
    }
    Ok(init)
}

/// Assembles the archive (pure apart from reading the input files).
pub fn assemble(spec: &InitramfsSpec, index: &ModuleIndex) -> Result<Archive> {
    let mut archive = Archive::new();
    for dir in DIRS {
        archive.add(dir, Entry::Dir)?;
    }
    // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    archive.add("dev/console", Entry::CharDev(5, 1))?;
    add_init(&mut archive, &spec.init)?;
    let list = add_modules(&mut archive, &spec.modules, index)?;
    archive.add(
        MODULE_LIST,
        Entry::File {
            data: list.into_bytes(),
            executable: false,
        },
    )?;
    Ok(archive)
}

/// Adds the init binary as `/init`, with its ELF interpreter and shared libraries.
fn add_init(archive: &mut Archive, path: &Path) -> Result<()> {
    let init =
        std::fs::read(path).with_context(|| format!("reading init binary {}", path.display()))?;
    for (dest, source) in library_closure(&init)? {
        let data = std::fs::read(&source)
            .with_context(|| format!("reading shared library {}", source.display()))?;
        archive.add(
            &dest,
            Entry::File {
                data,
                executable: true,
            },
        )?;
    }
    archive.add(
        "init",
        Entry::File {
            data: init,
            executable: true,
        },
    )
}

/// Adds the modules under `lib/modules/<release>/`; returns the module list (their paths in
/// load order, one a line).
fn add_modules(archive: &mut Archive, modules: &[String], index: &ModuleIndex) -> Result<String> {
    let release = release_of(index.root())?;
    let mut list = String::new();
    for name in modules {
        let rel = index
            .path(name)
            .with_context(|| format!("kernel module `{name}` not found"))?;
        // Compressed modules are stored decompressed (their signature is inside the
        // compressed payload, so it is kept), because not every kernel decompresses in
        // finit_module.
        let data = read_module(&index.root().join(rel))?;
        let file = rel.to_string_lossy();
        let file = ["xz", "zst", "gz"]
            .iter()
            .find_map(|ext| file.strip_suffix(&format!(".{ext}")))
            .unwrap_or(&file);
        let dest = format!("lib/modules/{release}/{file}");
        list.push_str(&dest);
        list.push('\n');
        archive.add(
            &dest,
            Entry::File {
                data,
                executable: false,
            },
        )?;
    }
    Ok(list)
}

/// Writes the archive gzip-compressed (fixed header, no name or timestamp).
pub fn write_gzip(archive: &Archive, out: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    archive.write(&mut bytes, 0)?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    std::io::Write::write_all(&mut gz, &bytes)?;
    let data = gz.finish()?;
    std::fs::write(out, data).with_context(|| format!("writing {}", out.display()))
}

/// The kernel release a module tree belongs to: its directory name (`lib/modules/<release>`).
pub fn release_of(root: &Path) -> Result<String> {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .with_context(|| format!("cannot tell the kernel release from {}", root.display()))
}

/// (path in the initramfs, file on the host) for the ELF interpreter and every shared library
/// `exe` needs, transitively. Empty for a static executable.
pub fn library_closure(exe: &[u8]) -> Result<Vec<(String, PathBuf)>> {
    let elf = Elf::parse(exe).context("reading the init binary")?;
    let Some(interp) = elf.interpreter()? else {
        return Ok(Vec::new());
    };
    let mut out = vec![(interp.clone(), canonical(Path::new(&interp))?)];
    let dirs = search_dirs()?;
    let (mut pending, _) = elf.needed()?;
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(dir) = dirs.iter().find(|d| d.join(&name).exists()) else {
            bail!("shared library {name} needed by the init binary not found");
        };
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let (needed, _) = Elf::parse(&bytes)
            .and_then(|e| e.needed())
            .with_context(|| format!("reading {}", path.display()))?;
        pending.extend(needed);
        out.push((path.to_string_lossy().into_owned(), canonical(&path)?));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize()
        .with_context(|| format!("resolving {}", path.display()))
}

/// Library directories: those of the libraries this process has mapped (the loader found
/// them, so they are on its path), then the usual system directories.
fn search_dirs() -> Result<Vec<PathBuf>> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mapped = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/') && p.contains(".so"))
        .filter_map(|p| Path::new(p).parent().map(Path::to_path_buf));
    let usual = ["/lib64", "/usr/lib64", "/lib", "/usr/lib"].map(PathBuf::from);
    for dir in mapped.chain(usual) {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_found_beside_the_executable_or_named_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("snapsmith");
        let expected = dir.path().join(INIT_BINARY);
        let err = init_beside(&exe).unwrap_err();
        assert!(
            format!("{err:#}").contains(&expected.display().to_string()),
            "{err:#}"
        );
        std::fs::write(&expected, b"\x7fELF").unwrap();
        assert_eq!(init_beside(&exe).unwrap(), expected);
    }
}
