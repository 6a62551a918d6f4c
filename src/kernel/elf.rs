//! A minimal reader for 64-bit little-endian ELF files: just enough to read a kernel module's
//! `.modinfo` strings and an executable's interpreter and needed shared libraries.
//!
//! Only section headers are used (modules have no program headers); every offset is bounds
//! checked, so a truncated or hostile file gives an error, never a panic.

use anyhow::{Context, Result, bail, ensure};

const SHT_DYNAMIC: u32 = 6;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_RUNPATH: u64 = 29;

/// One section header, reduced to what snapsmith needs.
#[derive(Debug, Clone, Copy)]
struct Section {
    name: u32,
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
}

/// A parsed ELF file borrowing its bytes.
pub struct Elf<'a> {
    data: &'a [u8],
    sections: Vec<Section>,
    names: Section,
}

fn u16_at(data: &[u8], at: usize) -> Result<u16> {
    let b = data.get(at..at + 2).context("elf header is truncated")?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Result<u32> {
    let b = data.get(at..at + 4).context("elf header is truncated")?;
    Ok(u32::from_le_bytes(b.try_into()?))
}

fn u64_at(data: &[u8], at: usize) -> Result<u64> {
    let b = data.get(at..at + 8).context("elf header is truncated")?;
    Ok(u64::from_le_bytes(b.try_into()?))
}

impl<'a> Elf<'a> {
    /// Parses the ELF header and section table.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        ensure!(data.starts_with(b"\x7fELF"), "not an ELF file");
        ensure!(
            data.get(4) == Some(&2) && data.get(5) == Some(&1),
            "not a 64-bit little-endian ELF file"
        );
        let shoff = usize::try_from(u64_at(data, 0x28)?)?;
        let shentsize = usize::from(u16_at(data, 0x3a)?);
        let shnum = usize::from(u16_at(data, 0x3c)?);
        let shstrndx = usize::from(u16_at(data, 0x3e)?);
        ensure!(
            shentsize >= 64,
            "elf section header size {shentsize} is too small"
        );
        let mut sections = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let at = i
                .checked_mul(shentsize)
                .and_then(|o| o.checked_add(shoff))
                .context("elf section table offset overflows")?;
            sections.push(Section {
                name: u32_at(data, at)?,
                kind: u32_at(data, at + 4)?,
                offset: u64_at(data, at + 0x18)?,
                size: u64_at(data, at + 0x20)?,
                link: u32_at(data, at + 0x28)?,
            });
        }
        let names = *sections
            .get(shstrndx)
            .context("elf section name table index is out of range")?;
        Ok(Elf {
            data,
            sections,
            names,
        })
    }

    fn bytes(&self, section: &Section) -> Result<&'a [u8]> {
        let start = usize::try_from(section.offset)?;
        let end = start
            .checked_add(usize::try_from(section.size)?)
            .context("elf section end overflows")?;
        self.data
            .get(start..end)
            .context("elf section lies outside the file")
    }

    fn string_in(&self, table: &Section, offset: u64) -> Result<&'a str> {
        let bytes = self.bytes(table)?;
        let rest = bytes
            .get(usize::try_from(offset)?..)
            .context("elf string offset is out of range")?;
        let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).context("elf string is not UTF-8")
    }

    /// The contents of the section called `name`, if present.
    pub fn section(&self, name: &str) -> Result<Option<&'a [u8]>> {
        for section in &self.sections {
            if self.string_in(&self.names, u64::from(section.name))? == name {
                return self.bytes(section).map(Some);
            }
        }
        Ok(None)
    }

    /// The `key=value` strings of a kernel module's `.modinfo` section, in file order.
    pub fn modinfo(&self) -> Result<Vec<(String, String)>> {
        let Some(bytes) = self.section(".modinfo")? else {
            bail!("no .modinfo section (not a kernel module)");
        };
        let mut out = Vec::new();
        for entry in bytes.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let text = String::from_utf8_lossy(entry);
            if let Some((key, value)) = text.split_once('=') {
                out.push((key.to_string(), value.to_string()));
            }
        }
        Ok(out)
    }

    /// The program interpreter (`.interp`), for dynamically linked executables.
    pub fn interpreter(&self) -> Result<Option<String>> {
        Ok(self.section(".interp")?.map(|bytes| {
            let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        }))
    }

    /// `DT_NEEDED` library names and the `DT_RUNPATH` directories, in file order.
    pub fn needed(&self) -> Result<(Vec<String>, Vec<String>)> {
        let (mut needed, mut runpath) = (Vec::new(), Vec::new());
        let Some(dynamic) = self.sections.iter().find(|s| s.kind == SHT_DYNAMIC) else {
            return Ok((needed, runpath));
        };
        let strings = *self
            .sections
            .get(usize::try_from(dynamic.link)?)
            .context("elf dynamic string table index is out of range")?;
        for entry in self.bytes(dynamic)?.chunks_exact(16) {
            let tag = u64_at(entry, 0)?;
            let value = u64_at(entry, 8)?;
            match tag {
                DT_NULL => break,
                DT_NEEDED => needed.push(self.string_in(&strings, value)?.to_string()),
                DT_RUNPATH => runpath.extend(
                    self.string_in(&strings, value)?
                        .split(':')
                        .map(str::to_string),
                ),
                _ => {}
            }
        }
        Ok((needed, runpath))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_truncated_input() {
        assert!(Elf::parse(b"hello").is_err());
        let mut header = b"\x7fELF\x02\x01".to_vec();
        header.resize(20, 0);
        assert!(Elf::parse(&header).is_err());
    }

    #[test]
    fn reads_this_test_binary() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let elf = Elf::parse(&exe).unwrap();
        let interp = elf.interpreter().unwrap();
        let (needed, _) = elf.needed().unwrap();
        // Test binaries on glibc hosts are dynamically linked against libc.
        if let Some(interp) = interp {
            assert!(interp.starts_with('/'), "{interp}");
            assert!(
                needed.iter().any(|n| n.starts_with("libc.so")),
                "{needed:?}"
            );
        }
        assert!(elf.modinfo().is_err());
    }
}
