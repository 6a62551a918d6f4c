//! A filesystem tree being assembled from content entries and generated files.

use crate::plan::{FileEntry, FileSource};
use std::collections::BTreeMap;

/// A filesystem tree being assembled: path -> what is there. BTreeMap order lists parents
/// before children, because a path sorts before every path it prefixes.
#[derive(Debug, Default)]
pub struct Tree {
    entries: BTreeMap<String, FileSource>,
}

impl Tree {
    pub fn from_entries(files: &[FileEntry]) -> Tree {
        let entries = files
            .iter()
            .map(|f| (f.path.clone(), f.source.clone()))
            .collect();
        Tree { entries }
    }

    pub fn into_entries(self) -> Vec<FileEntry> {
        self.entries
            .into_iter()
            .map(|(path, source)| FileEntry { path, source })
            .collect()
    }

    /// Every path in the tree, parents first.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// Creates `path` and its parents as directories.
    pub fn mkdir_all(&mut self, path: &str) -> Result<(), String> {
        let mut current = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !current.is_empty() {
                current.push('/');
            }
            current.push_str(part);
            match self.entries.get(&current) {
                None => {
                    self.entries.insert(current.clone(), FileSource::Directory);
                }
                Some(FileSource::Directory) => {}
                Some(_) => return Err(format!("{current} is a file, not a directory")),
            }
        }
        Ok(())
    }

    /// Puts a file or symlink at `path` (parents created); a later entry replaces an earlier one.
    pub fn put(&mut self, path: &str, source: FileSource) -> Result<(), String> {
        if path.is_empty() {
            return Err("cannot replace the filesystem root with a file".into());
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.mkdir_all(parent)?;
        }
        if self.entries.get(path) == Some(&FileSource::Directory) {
            return Err(format!("{path} is a directory, not a file"));
        }
        self.entries.insert(path.to_string(), source);
        Ok(())
    }
}
