//! A file tree under construction: entries keep parents before children, and adding a file adds
//! its missing parent directories. Trees merge into a [`FilesystemPlan`] that may already hold
//! gadget content; a path claimed twice by a file is an error naming both sources.

use crate::plan::{FileEntry, FileSource, FilesystemPlan};
use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// Files for one filesystem, in the order they were added (parents first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    entries: Vec<FileEntry>,
    /// Index of each path in `entries`.
    index: BTreeMap<String, usize>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Adds a directory and its missing parents.
    pub fn dir(&mut self, path: &str) -> Result<()> {
        check_path(path)?;
        let mut prefix = String::new();
        for part in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match self.index.get(&prefix).map(|&i| &self.entries[i].source) {
                Some(FileSource::Directory) => {}
                Some(_) => bail!("{prefix} is a file, not a directory, in the tree"),
                None => self.push(prefix.clone(), FileSource::Directory),
            }
        }
        Ok(())
    }

    /// Adds a file or symlink, and its missing parent directories.
    pub fn file(&mut self, path: &str, source: FileSource) -> Result<()> {
        check_path(path)?;
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        if self.index.contains_key(path) {
            bail!("{path} is added twice to the tree");
        }
        self.push(path.to_string(), source);
        Ok(())
    }

    /// Adds entries made elsewhere (directories merge; files must be new).
    pub fn extend(&mut self, entries: &[FileEntry]) -> Result<()> {
        for e in entries {
            match &e.source {
                FileSource::Directory => self.dir(&e.path)?,
                other => self.file(&e.path, other.clone())?,
            }
        }
        Ok(())
    }

    pub fn entries(&self) -> &[FileEntry] {
        &self.entries
    }

    pub fn into_entries(self) -> Vec<FileEntry> {
        self.entries
    }

    fn push(&mut self, path: String, source: FileSource) {
        self.index.insert(path.clone(), self.entries.len());
        self.entries.push(FileEntry { path, source });
    }
}

/// Adds `entries` to a filesystem plan that may already list files (gadget content):
/// directories present in both are kept once; a file over an existing path is refused.
pub fn merge_into(fs: &mut FilesystemPlan, entries: &[FileEntry], what: &str) -> Result<()> {
    let mut tree = Tree::new();
    for e in fs.files.iter().chain(entries) {
        match &e.source {
            FileSource::Directory => tree.dir(&e.path)?,
            source => {
                if tree.index.contains_key(&e.path) {
                    bail!(
                        "{what}: {} is also provided by the gadget's content for {}",
                        e.path,
                        fs.label.as_deref().unwrap_or("this filesystem")
                    );
                }
                tree.file(&e.path, source.clone())?;
            }
        }
    }
    fs.files = tree.into_entries();
    Ok(())
}

/// Paths are relative, `/`-separated, without empty, `.` or `..` parts.
fn check_path(path: &str) -> Result<()> {
    if path.is_empty()
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        bail!("invalid path {path:?} in a filesystem tree");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn parents_come_first_and_once() {
        let mut t = Tree::new();
        t.file("a/b/c.txt", FileSource::Bytes(b"x".to_vec()))
            .unwrap();
        t.dir("a/d").unwrap();
        t.file("a/b/e", FileSource::Symlink("c.txt".into()))
            .unwrap();
        let paths: Vec<_> = t.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "a/b", "a/b/c.txt", "a/d", "a/b/e"]);
        assert!(t.file("a/b/c.txt", FileSource::Directory).is_err());
        assert!(t.dir("a/b/c.txt/x").is_err());
        assert!(t.dir("../x").is_err());
        assert!(t.file("/abs", FileSource::Directory).is_err());
    }

    #[test]
    fn merge_keeps_gadget_content_and_refuses_clashes() {
        let mut fs = FilesystemPlan {
            kind: crate::plan::FsKind::Vfat,
            label: Some("ubuntu-seed".into()),
            uuid: Uuid::nil(),
            hash_seed: Uuid::nil(),
            files: vec![
                FileEntry {
                    path: "EFI".into(),
                    source: FileSource::Directory,
                },
                FileEntry {
                    path: "EFI/boot".into(),
                    source: FileSource::Directory,
                },
                FileEntry {
                    path: "EFI/boot/bootx64.efi".into(),
                    source: FileSource::File("/g/shim".into()),
                },
            ],
        };
        let mut t = Tree::new();
        t.file("EFI/ubuntu/grubenv", FileSource::Bytes(vec![1]))
            .unwrap();
        merge_into(&mut fs, t.entries(), "seed").unwrap();
        let paths: Vec<_> = fs.files.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "EFI",
                "EFI/boot",
                "EFI/boot/bootx64.efi",
                "EFI/ubuntu",
                "EFI/ubuntu/grubenv"
            ]
        );
        let mut clash = Tree::new();
        clash
            .file("EFI/boot/bootx64.efi", FileSource::Bytes(vec![]))
            .unwrap();
        let err = merge_into(&mut fs, clash.entries(), "seed")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("EFI/boot/bootx64.efi is also provided by the gadget"),
            "{err}"
        );
    }
}
