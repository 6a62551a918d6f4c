//! The host's reading of a scenario's disk after its VM stopped, through the canonical tools
//! rather than snapsmith's own readers alone: `sfdisk --json` for the partition table, mtools
//! for vfat files, `debugfs` for ext4 files, `grub-editenv list` for grub environments (checked
//! against snapsmith's own decoder), `fsck.vfat -n` and `e2fsck -fn` for consistency.
//!
//! The disk is a raw image file (sparse). Partitions are located by their GPT name; e2fsprogs
//! read an ext4 partition in place (`disk?offset=N`) and mtools a vfat one (`disk@@N`), while
//! `fsck.vfat`, which reads only whole filesystem images, gets a sparse copy of the partition
//! (`dd conv=sparse`) in a scratch directory.

use crate::boot::grubenv::Grubenv;
use crate::exec::Cmd;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One partition of a disk, located by its GPT name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// A raw disk image and a scratch directory for the partitions copied out of it.
#[derive(Debug)]
pub struct DiskReader {
    disk: PathBuf,
    scratch: tempfile::TempDir,
    parts: Vec<Partition>,
}

impl DiskReader {
    /// Reads the partition table of `disk` (with `sfdisk --json`).
    pub fn open(disk: &Path) -> Result<DiskReader> {
        let parts = partitions(disk)?;
        let scratch = tempfile::Builder::new()
            .prefix("snapsmith-hostcheck-")
            .tempdir()
            .context("creating a scratch directory for host checks")?;
        Ok(DiskReader {
            disk: disk.to_owned(),
            scratch,
            parts,
        })
    }

    pub fn disk(&self) -> &Path {
        &self.disk
    }

    pub fn partitions(&self) -> &[Partition] {
        &self.parts
    }

    /// The partition named `name`.
    pub fn partition(&self, name: &str) -> Result<&Partition> {
        self.parts
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("{}: no partition named {name}", self.disk.display()))
    }

    /// The ext4 partition `name` in place, as e2fsprogs name it: `disk?offset=N`.
    pub fn ext4(&self, name: &str) -> Result<PathBuf> {
        self.in_place(name, "?offset=")
    }

    /// The vfat partition `name` in place, as mtools name it: `disk@@N`.
    pub fn vfat(&self, name: &str) -> Result<PathBuf> {
        self.in_place(name, "@@")
    }

    fn in_place(&self, name: &str, separator: &str) -> Result<PathBuf> {
        let offset = self.partition(name)?.offset;
        Ok(PathBuf::from(format!(
            "{}{separator}{offset}",
            self.disk.display()
        )))
    }

    /// The partition `name` copied out as a filesystem image (made once, then reused).
    pub fn image_of(&self, name: &str) -> Result<PathBuf> {
        let part = self.partition(name)?;
        let out = self.scratch.path().join(format!("{name}.img"));
        if !out.exists() {
            Cmd::new("dd")
                .arg(format!("if={}", self.disk.display()))
                .arg(format!("of={}", out.display()))
                .args([
                    "bs=1M",
                    "conv=sparse",
                    "iflag=skip_bytes,count_bytes",
                    "status=none",
                ])
                .arg(format!("skip={}", part.offset))
                .arg(format!("count={}", part.size))
                .run()
                .with_context(|| format!("copying partition {name} out of the disk"))?;
        }
        Ok(out)
    }
}

/// The GPT partitions of `disk` as `sfdisk --json` reads them.
pub fn partitions(disk: &Path) -> Result<Vec<Partition>> {
    let table = sfdisk_json(disk)?;
    let value: serde_json::Value = serde_json::from_str(&table)
        .with_context(|| format!("parsing sfdisk --json of {}", disk.display()))?;
    let sector = value["partitiontable"]["sectorsize"]
        .as_u64()
        .unwrap_or(512);
    let Some(list) = value["partitiontable"]["partitions"].as_array() else {
        bail!("{}: sfdisk found no partitions", disk.display());
    };
    list.iter()
        .map(|p| {
            let (Some(start), Some(size)) = (p["start"].as_u64(), p["size"].as_u64()) else {
                bail!(
                    "{}: sfdisk printed a partition without start/size",
                    disk.display()
                );
            };
            Ok(Partition {
                name: p["name"].as_str().unwrap_or_default().to_string(),
                offset: start * sector,
                size: size * sector,
            })
        })
        .collect()
}

/// `sfdisk --json DISK`: the partition table as the util-linux tool reads it.
pub fn sfdisk_json(disk: &Path) -> Result<String> {
    Cmd::new("sfdisk")
        .arg("--json")
        .arg(disk)
        .run_string()
        .with_context(|| format!("reading the partition table of {}", disk.display()))
}

/// A file of a vfat image (`mcopy`; `image` may be `disk@@offset`), or `None` when it does not
/// exist.
pub fn vfat_file(image: &Path, path: &str) -> Result<Option<Vec<u8>>> {
    let spec = format!("::/{}", path.trim_start_matches('/'));
    let out = Cmd::new("mcopy")
        .arg("-n")
        .arg("-i")
        .arg(image)
        .arg(&spec)
        .arg("-")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output_any_status()?;
    if out.status.success() {
        return Ok(Some(out.stdout));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("not found") {
        return Ok(None);
    }
    bail!("mcopy {spec} from {}: {}", image.display(), err.trim())
}

/// Every file of a vfat image with its SHA-256 (copied out with `mcopy -s`).
pub fn vfat_tree(image: &Path) -> Result<BTreeMap<String, String>> {
    let dir = tempfile::tempdir().context("creating a directory for a vfat tree")?;
    Cmd::new("mcopy")
        .args(["-s", "-n", "-m", "-i"])
        .arg(image)
        .arg("::/")
        .arg(dir.path())
        .env("MTOOLS_SKIP_CHECK", "1")
        .run()
        .with_context(|| format!("copying the files out of {}", image.display()))?;
    let mut files = BTreeMap::new();
    walk(dir.path(), dir.path(), &mut files)?;
    Ok(files)
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<()> {
    use sha2::Digest;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
            let digest = sha2::Sha256::digest(std::fs::read(&path)?);
            out.insert(rel, hex(&digest));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file of an ext4 image read with `debugfs` (`image` may be `disk?offset=N`), or `None`
/// when it does not exist.
pub fn ext4_file(image: &Path, path: &str) -> Result<Option<Vec<u8>>> {
    let abs = format!("/{}", path.trim_start_matches('/'));
    let stat = debugfs(image, &format!("stat {abs}"))?;
    if !stat.status.success() || !String::from_utf8_lossy(&stat.stdout).contains("Inode:") {
        return Ok(None);
    }
    let out = debugfs(image, &format!("cat {abs}"))?;
    if !out.status.success() {
        bail!("debugfs cat {abs} in {}: {}", image.display(), stderr(&out));
    }
    Ok(Some(out.stdout))
}

/// The target of a symbolic link in an ext4 image (`debugfs stat`, a fast link), or `None`
/// when there is no such link.
pub fn ext4_link(image: &Path, path: &str) -> Result<Option<String>> {
    let abs = format!("/{}", path.trim_start_matches('/'));
    let out = debugfs(image, &format!("stat {abs}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains("Type: symlink") {
        return Ok(None);
    }
    let target = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Fast link dest: "))
        .map(|t| t.trim_matches('"').to_string())
        .with_context(|| format!("{abs} in {}: not a fast symlink", image.display()))?;
    Ok(Some(target))
}

/// The names in an ext4 directory (`debugfs ls -p`), without `.` and `..`; `None` when the
/// directory does not exist.
pub fn ext4_dir(image: &Path, path: &str) -> Result<Option<Vec<String>>> {
    let abs = format!("/{}", path.trim_start_matches('/'));
    let out = debugfs(image, &format!("ls -p {abs}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || (text.trim().is_empty() && !stderr(&out).is_empty()) {
        return Ok(None);
    }
    // Lines look like `/inode/mode/uid/gid/name/size/`.
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .trim_matches('/')
                .split('/')
                .nth(4)
                .map(String::from)
        })
        .filter(|n| n != "." && n != ".." && !n.is_empty())
        .collect();
    names.sort();
    Ok(Some(names))
}

/// Writes files (parents created as needed) into an ext4 image with `debugfs -w`; existing
/// files are replaced. The harness prepares a scenario's ubuntu-data this way before boot.
pub fn ext4_write(image: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    let scratch = tempfile::tempdir().context("creating a directory for debugfs input")?;
    let mut script = String::new();
    let mut made = std::collections::BTreeSet::new();
    for (i, (path, bytes)) in files.iter().enumerate() {
        let rel = plain_relative(path)?;
        let parent = rel.rsplit_once('/').map_or("", |(d, _)| d);
        make_dirs(image, parent, &mut made, &mut script)?;
        let source = scratch.path().join(format!("file{i}"));
        std::fs::write(&source, bytes)?;
        script.push_str(&format!("rm /{rel}\nwrite {} /{rel}\n", source.display()));
    }
    run_script(image, &scratch, &script)?;
    for path in files.keys() {
        if ext4_file(image, path)?.as_deref() != files.get(path).map(Vec::as_slice) {
            bail!("{path} did not land on {} as written", image.display());
        }
    }
    Ok(())
}

/// Makes `paths` of an ext4 image world-readable and -writable with `debugfs -w`: files mode
/// 0666, directories 0777 (made, with their parents, when missing). The harness opens a
/// scenario's targets this way, so that file permissions alone cannot deny an app anything.
pub fn ext4_open(image: &Path, paths: &[String]) -> Result<()> {
    let scratch = tempfile::tempdir().context("creating a directory for debugfs input")?;
    let mut script = String::new();
    let mut made = std::collections::BTreeSet::new();
    for path in paths {
        let rel = plain_relative(path)?;
        let stat = debugfs(image, &format!("stat /{rel}"))?;
        let mode = if String::from_utf8_lossy(&stat.stdout).contains("Type: regular") {
            "0100666"
        } else {
            make_dirs(image, rel, &mut made, &mut script)?;
            "040777"
        };
        script.push_str(&format!("sif /{rel} mode {mode}\n"));
    }
    run_script(image, &scratch, &script)?;
    for path in paths {
        let stat = debugfs(image, &format!("stat /{}", plain_relative(path)?))?;
        let text = String::from_utf8_lossy(&stat.stdout);
        if !(text.contains("Mode:  0666") || text.contains("Mode:  0777")) {
            bail!("{path} on {} was not opened to all", image.display());
        }
    }
    Ok(())
}

/// `path` without its leading `/`, refused unless it is a plain relative path.
fn plain_relative(path: &str) -> Result<&str> {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c.is_empty() || c == "..") {
        bail!("cannot write {path:?} onto ubuntu-data: not a plain relative path");
    }
    Ok(rel)
}

/// Adds to `script` a `mkdir` for each missing directory of `dir` (relative), parents first.
fn make_dirs(
    image: &Path,
    dir: &str,
    made: &mut std::collections::BTreeSet<String>,
    script: &mut String,
) -> Result<()> {
    let mut at = String::new();
    for component in dir.split('/').filter(|c| !c.is_empty()) {
        at.push('/');
        at.push_str(component);
        // debugfs 1.47's mkdir of an existing name damages the parent directory: only
        // missing directories are made.
        if made.insert(at.clone()) && !is_dir(image, &at)? {
            script.push_str(&format!("mkdir {at}\n"));
        }
    }
    Ok(())
}

/// Runs a `debugfs -w` command file.
fn run_script(image: &Path, scratch: &tempfile::TempDir, script: &str) -> Result<()> {
    let commands = scratch.path().join("commands");
    std::fs::write(&commands, script)?;
    Cmd::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&commands)
        .arg(image)
        .run()
        .with_context(|| format!("writing into {}", image.display()))?;
    Ok(())
}

fn is_dir(image: &Path, path: &str) -> Result<bool> {
    let out = debugfs(image, &format!("stat {path}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).contains("Type: directory"))
}

fn debugfs(image: &Path, request: &str) -> Result<std::process::Output> {
    Cmd::new("debugfs")
        .arg("-R")
        .arg(request)
        .arg(image)
        .output_any_status()
        .with_context(|| format!("debugfs -R {request:?} {}", image.display()))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("debugfs "))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A grub environment block read twice: by `grub-editenv FILE list` and by snapsmith's own
/// decoder; the two must agree.
pub fn grubenv(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let file = tempfile::NamedTempFile::new().context("creating a file for grub-editenv")?;
    std::fs::write(file.path(), bytes)?;
    let listed = Cmd::new("grub-editenv")
        .arg(file.path())
        .arg("list")
        .run_string()
        .context("grub-editenv list")?;
    let theirs: BTreeMap<String, String> = listed
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let ours: BTreeMap<String, String> = Grubenv::decode(bytes)
        .context("snapsmith's grubenv decoder")?
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if ours != theirs {
        bail!("grub-editenv reads {theirs:?} but snapsmith's decoder reads {ours:?}");
    }
    Ok(theirs)
}

/// Runs the filesystem's own checker read-only: `fsck.vfat -n` or `e2fsck -fn`. Returns the
/// checker's complaint when it found a problem.
pub fn fsck(image: &Path, ext4: bool) -> Result<Option<String>> {
    let cmd = if ext4 {
        Cmd::new("e2fsck").arg("-fn").arg(image)
    } else {
        Cmd::new("fsck.vfat").arg("-n").arg(image)
    };
    let out = cmd.output_any_status()?;
    if out.status.success() {
        return Ok(None);
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tail: Vec<&str> = text.lines().rev().take(4).collect();
    Ok(Some(format!(
        "exit {}: {}",
        out.status.code().unwrap_or(-1),
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )))
}
