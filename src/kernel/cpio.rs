//! A deterministic newc ("070701") cpio writer for initramfs images.
//!
//! Entries are written in path order with fixed owners (root), fixed inode numbers (their
//! index) and one fixed mtime, so the same contents always give the same bytes.

use anyhow::{Context, Result, ensure};
use std::collections::BTreeMap;
use std::io::Write;

/// What an archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File {
        data: Vec<u8>,
        executable: bool,
    },
    /// A character device node (major, minor), such as /dev/console.
    CharDev(u32, u32),
}

/// An archive being assembled: paths (without leading `/`) to entries.
#[derive(Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry, creating its parent directories.
    pub fn add(&mut self, path: &str, entry: Entry) -> Result<()> {
        let path = path.trim_start_matches('/').to_string();
        ensure!(
            !path.is_empty() && !path.split('/').any(|c| c.is_empty() || c == ".."),
            "invalid initramfs path `{path}`"
        );
        let mut parent = String::new();
        for component in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |s| s.1)
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(component);
            self.entries.entry(parent.clone()).or_insert(Entry::Dir);
        }
        self.entries.insert(path, entry);
        Ok(())
    }

    /// The entry at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path.trim_start_matches('/'))
    }

    /// Paths in archive order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Writes the archive (with its trailer) to `out`.
    pub fn write(&self, out: &mut impl Write, mtime: u32) -> Result<()> {
        let mut inode: u32 = 1;
        for (path, entry) in &self.entries {
            let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match entry {
                Entry::Dir => (0o040_755, &[], (0, 0)),
                Entry::File { data, executable } => (
                    if *executable { 0o100_755 } else { 0o100_644 },
                    data,
                    (0, 0),
                ),
                Entry::CharDev(major, minor) => (0o020_600, &[], (*major, *minor)),
            };
            let nlink = if matches!(entry, Entry::Dir) { 2 } else { 1 };
            write_header(out, path, inode, mode, nlink, mtime, data.len(), rdev)?;
            out.write_all(data)?;
            pad(out, data.len())?;
            inode = inode.checked_add(1).context("too many initramfs entries")?;
        }
        write_header(out, "TRAILER!!!", 0, 0, 1, 0, 0, (0, 0))
    }
}

#[allow(clippy::too_many_arguments)]
fn write_header(
    out: &mut impl Write,
    name: &str,
    inode: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    size: usize,
    rdev: (u32, u32),
) -> Result<()> {
    let size = u32::try_from(size).context("initramfs file larger than 4 GiB")?;
    let namesize = u32::try_from(name.len() + 1)?;
    let header = format!(
        "070701{inode:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{mtime:08x}{size:08x}\
         {:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
        0, 0, 0, 0, rdev.0, rdev.1, 0
    );
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    // The 110-byte header plus the name is padded to a multiple of 4.
    pad(out, header.len() + name.len() + 1)?;
    Ok(())
}

fn pad(out: &mut impl Write, len: usize) -> Result<()> {
    let rest = (4 - len % 4) % 4;
    out.write_all(&[0u8; 3][..rest])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_parents_and_is_deterministic() {
        let mut a = Archive::new();
        a.add(
            "/lib/modules/x.ko",
            Entry::File {
                data: b"abc".to_vec(),
                executable: false,
            },
        )
        .unwrap();
        a.add("dev/console", Entry::CharDev(5, 1)).unwrap();
        assert_eq!(
            a.paths().collect::<Vec<_>>(),
            [
                "dev",
                "dev/console",
                "lib",
                "lib/modules",
                "lib/modules/x.ko"
            ]
        );
        let (mut one, mut two) = (Vec::new(), Vec::new());
        a.write(&mut one, 0).unwrap();
        a.write(&mut two, 0).unwrap();
        assert_eq!(one, two);
        assert!(one.starts_with(b"070701"));
        assert_eq!(one.len() % 4, 0);
        assert!(a.add("../etc", Entry::Dir).is_err());
    }
}
