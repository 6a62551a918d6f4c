//! Gadget content resolved against a gadget tree: filesystem content into
//! [`crate::plan::FileEntry`] lists, raw content into [`crate::plan::RawImage`]s.
//!
//! Copy rules follow snapd's `mountedfilesystem.go` (spec §3): a directory source ending in
//! `/` copies its contents, without `/` copies the directory itself; a file source copied to a
//! target ending in `/` goes into that directory; symlinks are recreated (on ext4; vfat has no
//! symlinks, so there they are followed). Sources must stay inside their tree: absolute paths,
//! `..` and symlinks leading out are refused. `$kernel:<asset>/<path>` sources resolve in the
//! kernel snap's tree through its `meta/kernel.yaml` assets.

use super::schema::{At, FileContent, GadgetError};
pub use super::tree::Tree;
use crate::plan::{FileEntry, FileSource, FsKind};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The trees content is read from.
#[derive(Debug, Clone, Copy)]
pub struct Trees<'a> {
    pub gadget: &'a Path,
    /// The kernel snap's tree, for `$kernel:` sources.
    pub kernel: Option<&'a Path>,
}

/// Nesting limit for directory walks (guards against symlink loops on vfat).
const MAX_DEPTH: usize = 64;

/// Joins a gadget-relative path to its tree, refusing anything that leaves the tree.
pub fn safe_join(at: &At, field: &str, root: &Path, rel: &str) -> Result<PathBuf, GadgetError> {
    if rel.starts_with('/') {
        return Err(at.err(
            field,
            format!("{rel:?} is absolute; content paths are relative to the gadget tree"),
        ));
    }
    let mut host = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(part) => host.push(part),
            Component::CurDir => {}
            _ => return Err(at.err(field, format!("{rel:?} escapes the gadget tree"))),
        }
    }
    if std::fs::symlink_metadata(&host).is_err() {
        return Err(at.err(
            field,
            format!("{rel:?} does not exist in {}", root.display()),
        ));
    }
    if host == root {
        return Ok(host);
    }
    // Every directory on the way must really be inside the tree (no symlinked parents out).
    let real_root = canonical(at, field, root)?;
    if let Some(parent) = host.parent() {
        let real_parent = canonical(at, field, parent)?;
        if !real_parent.starts_with(&real_root) {
            return Err(at.err(
                field,
                format!("{rel:?} leads outside the gadget tree through a symlink"),
            ));
        }
    }
    Ok(host)
}

pub(crate) fn canonical(at: &At, field: &str, path: &Path) -> Result<PathBuf, GadgetError> {
    path.canonicalize()
        .map_err(|e| at.err(field, format!("resolving {}: {e}", path.display())))
}

/// Normalises a content target to a relative `/`-separated path ("" is the root).
fn target_path(at: &At, field: &str, target: &str) -> Result<String, GadgetError> {
    let mut parts = Vec::new();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(at.err(field, format!("{target:?} leaves the filesystem root"))),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Resolves the `{source, target}` entries of one filesystem structure. Without a kernel tree,
/// `$kernel:` entries are skipped when `kernel_optional` (a check), refused otherwise.
pub fn resolve_files(
    at: &At,
    entries: &[FileContent],
    trees: Trees,
    fs: FsKind,
    kernel_optional: bool,
) -> Result<Vec<FileEntry>, GadgetError> {
    let mut tree = Tree::default();
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("content[{i}].source");
        let Some((root, rel)) = source_tree(at, &field, &entry.source, trees, kernel_optional)?
        else {
            continue;
        };
        let host = safe_join(at, &field, &root, &rel)?;
        let target = target_path(at, &format!("content[{i}].target"), &entry.target)?;
        let mut walker = Walker {
            at,
            field: &field,
            root: &root,
            real_root: canonical(at, &field, &root)?,
            fs,
            tree: &mut tree,
        };
        walker.entry(
            &host,
            rel.ends_with('/'),
            &target,
            entry.target.ends_with('/'),
        )?;
    }
    if fs != FsKind::Ext4 {
        vfat_case_clashes(at, &tree)?;
    }
    Ok(tree.into_entries())
}

/// The tree a source lives in and its path there; `None` for a skipped `$kernel:` entry.
fn source_tree(
    at: &At,
    field: &str,
    source: &str,
    trees: Trees,
    kernel_optional: bool,
) -> Result<Option<(PathBuf, String)>, GadgetError> {
    let Some(reference) = source.strip_prefix("$kernel:") else {
        return Ok(Some((trees.gadget.to_path_buf(), source.to_string())));
    };
    let Some((asset, path)) = reference
        .split_once('/')
        .filter(|(a, p)| !a.is_empty() && !p.is_empty())
    else {
        return Err(at.err(field, format!("{source:?} is not $kernel:<asset>/<path>")));
    };
    let Some(kernel) = trees.kernel else {
        if kernel_optional {
            return Ok(None);
        }
        return Err(at.err(
            field,
            format!("{source:?} refers to the kernel, but no kernel snap was given"),
        ));
    };
    let assets = kernel_assets(kernel).map_err(|m| at.err(field, m))?;
    let Some(content) = assets.get(asset) else {
        return Err(at.err(
            field,
            format!("the kernel has no asset {asset:?} (meta/kernel.yaml)"),
        ));
    };
    let inside = content.iter().any(|c| {
        let c = c.trim_end_matches('/');
        path == c || path.trim_end_matches('/') == c || path.starts_with(&format!("{c}/"))
    });
    if !inside {
        return Err(at.err(
            field,
            format!("{path:?} is not part of the kernel asset {asset:?}"),
        ));
    }
    Ok(Some((kernel.to_path_buf(), path.to_string())))
}

#[derive(Debug, serde::Deserialize)]
struct KernelYaml {
    #[serde(default)]
    assets: BTreeMap<String, KernelAsset>,
}

#[derive(Debug, serde::Deserialize)]
struct KernelAsset {
    #[serde(default)]
    content: Vec<String>,
}

/// `meta/kernel.yaml` assets of a kernel tree: asset name -> content paths.
fn kernel_assets(kernel: &Path) -> Result<BTreeMap<String, Vec<String>>, String> {
    let file = kernel.join("meta/kernel.yaml");
    let text =
        std::fs::read_to_string(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let parsed: KernelYaml =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(parsed
        .assets
        .into_iter()
        .map(|(k, v)| (k, v.content))
        .collect())
}

/// Walks one content entry into the tree.
struct Walker<'a> {
    at: &'a At<'a>,
    field: &'a str,
    root: &'a Path,
    real_root: PathBuf,
    fs: FsKind,
    tree: &'a mut Tree,
}

impl Walker<'_> {
    fn err(&self, message: String) -> GadgetError {
        self.at.err(self.field, message)
    }

    fn put(&mut self, path: &str, source: FileSource) -> Result<(), GadgetError> {
        self.tree
            .put(path, source)
            .map_err(|m| self.err(format!("target clash: {m}")))
    }

    fn entry(
        &mut self,
        host: &Path,
        src_slash: bool,
        target: &str,
        dst_slash: bool,
    ) -> Result<(), GadgetError> {
        let base = host
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A symlink to a directory counts as a directory source, as in snapd.
        if host.is_dir() || src_slash {
            self.check_inside(host)?;
            self.tree
                .mkdir_all(target)
                .map_err(|m| self.err(format!("target clash: {m}")))?;
            let dst = if src_slash {
                target.to_string()
            } else {
                join(target, &base)
            };
            self.tree
                .mkdir_all(&dst)
                .map_err(|m| self.err(format!("target clash: {m}")))?;
            return self.dir(host, &dst, 0);
        }
        let dst = if dst_slash || target.is_empty() {
            join(target, &base)
        } else {
            target.to_string()
        };
        self.file(host, &dst, 0)
    }

    fn check_inside(&self, host: &Path) -> Result<PathBuf, GadgetError> {
        let real = canonical(self.at, self.field, host)?;
        if !real.starts_with(&self.real_root) {
            return Err(self.err(format!(
                "{} points outside the tree {}",
                host.display(),
                self.root.display()
            )));
        }
        Ok(real)
    }

    fn dir(&mut self, host: &Path, dst: &str, depth: usize) -> Result<(), GadgetError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!(
                "{} nests too deep (a symlink loop?)",
                host.display()
            )));
        }
        let mut names: Vec<_> = std::fs::read_dir(host)
            .and_then(|rd| {
                rd.map(|e| e.map(|e| e.file_name()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| self.err(format!("reading {}: {e}", host.display())))?;
        names.sort();
        for name in names {
            let child = host.join(&name);
            let child_dst = join(dst, &name.to_string_lossy());
            let meta = std::fs::symlink_metadata(&child)
                .map_err(|e| self.err(format!("reading {}: {e}", child.display())))?;
            if meta.is_dir() {
                self.tree
                    .mkdir_all(&child_dst)
                    .map_err(|m| self.err(format!("target clash: {m}")))?;
                self.dir(&child, &child_dst, depth + 1)?;
            } else {
                self.file(&child, &child_dst, depth + 1)?;
            }
        }
        Ok(())
    }

    fn file(&mut self, host: &Path, dst: &str, depth: usize) -> Result<(), GadgetError> {
        let meta = std::fs::symlink_metadata(host)
            .map_err(|e| self.err(format!("reading {}: {e}", host.display())))?;
        if meta.file_type().is_symlink() {
            return self.symlink(host, dst, depth);
        }
        if !meta.is_file() {
            return Err(self.err(format!(
                "{} is not a regular file, directory or symlink",
                host.display()
            )));
        }
        self.put(dst, FileSource::File(host.to_path_buf()))
    }

    fn symlink(&mut self, host: &Path, dst: &str, depth: usize) -> Result<(), GadgetError> {
        let target = std::fs::read_link(host)
            .map_err(|e| self.err(format!("reading link {}: {e}", host.display())))?;
        let rel_dir = host
            .parent()
            .and_then(|p| p.strip_prefix(self.root).ok())
            .unwrap_or(Path::new(""));
        if !stays_inside(rel_dir, &target) {
            return Err(self.err(format!(
                "symlink {} -> {} points outside the gadget tree",
                host.display(),
                target.display()
            )));
        }
        if self.fs == FsKind::Ext4 {
            let text = target
                .to_str()
                .ok_or_else(|| self.err(format!("symlink {} is not UTF-8", host.display())))?;
            return self.put(dst, FileSource::Symlink(text.to_string()));
        }
        // vfat has no symlinks: copy what the link points to.
        let real = self.check_inside(host)?;
        if real.is_dir() {
            self.tree
                .mkdir_all(dst)
                .map_err(|m| self.err(format!("target clash: {m}")))?;
            self.dir(&real, dst, depth + 1)
        } else {
            self.put(dst, FileSource::File(real))
        }
    }
}

/// True when a relative symlink target, read from `dir` (relative to the tree root), stays in
/// the tree; absolute targets never do.
fn stays_inside(dir: &Path, target: &Path) -> bool {
    let mut depth = dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count();
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// vfat names are case-insensitive: two entries differing only in case would collide.
fn vfat_case_clashes(at: &At, tree: &Tree) -> Result<(), GadgetError> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for path in tree.paths() {
        if let Some(first) = seen.insert(path.to_ascii_lowercase(), path) {
            return Err(at.err(
                "content",
                format!("{first:?} and {path:?} are the same name on vfat"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_containment() {
        assert!(stays_inside(Path::new("a/b"), Path::new("../c")));
        assert!(stays_inside(Path::new("a"), Path::new("../c")));
        assert!(!stays_inside(Path::new("a"), Path::new("../../c")));
        assert!(!stays_inside(Path::new(""), Path::new("/etc/passwd")));
    }

    #[test]
    fn tree_lists_parents_first_and_refuses_clashes() {
        let mut t = Tree::default();
        t.put("EFI/boot/x", FileSource::Bytes(vec![1])).unwrap();
        t.put("EFI-a", FileSource::Bytes(vec![2])).unwrap();
        let paths: Vec<_> = t.into_entries().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["EFI", "EFI-a", "EFI/boot", "EFI/boot/x"]);
        let mut t = Tree::default();
        t.put("a/b", FileSource::Bytes(vec![])).unwrap();
        assert!(t.put("a", FileSource::Bytes(vec![])).is_err());
        assert!(t.put("a/b/c", FileSource::Bytes(vec![])).is_err());
    }
}
