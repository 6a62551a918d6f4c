//! The kernel's build configuration (`/boot/config-<release>`) and what it implies for the
//! initramfs: modules that no module's metadata names, such as the FAT codepage and charset
//! that vfat loads by name at mount time.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// `CONFIG_*` options with their values (`y`, `m`, numbers, unquoted strings).
#[derive(Debug, Clone, Default)]
pub struct KernelConfig {
    options: BTreeMap<String, String>,
}

impl KernelConfig {
    /// Parses the text of a kernel `.config`.
    pub fn parse(text: &str) -> Self {
        let options = text
            .lines()
            .filter(|l| l.starts_with("CONFIG_"))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        KernelConfig { options }
    }

    /// Reads and parses a config file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading kernel config {}", path.display()))?;
        Ok(Self::parse(&text))
    }

    /// The value of `CONFIG_<name>` (name without the prefix), if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options
            .get(&format!("CONFIG_{name}"))
            .map(String::as_str)
    }

    /// The NLS modules vfat needs for its default codepage and iocharset, when vfat is
    /// configured. vfat requests them by name when mounting, so no metadata points at them.
    pub fn fat_nls_modules(&self) -> Vec<String> {
        if self.get("VFAT_FS").is_none() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(page) = self.get("FAT_DEFAULT_CODEPAGE") {
            out.push(format!("nls_cp{page}"));
        }
        if let Some(charset) = self.get("FAT_DEFAULT_IOCHARSET") {
            out.push(format!("nls_{}", charset.replace('-', "_")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_defaults_name_nls_modules() {
        let config = KernelConfig::parse(
            "# comment\nCONFIG_VFAT_FS=m\nCONFIG_FAT_DEFAULT_CODEPAGE=437\n\
             CONFIG_FAT_DEFAULT_IOCHARSET=\"iso8859-1\"\n# CONFIG_X is not set\n",
        );
        assert_eq!(config.fat_nls_modules(), ["nls_cp437", "nls_iso8859_1"]);
        assert_eq!(config.get("X"), None);
        assert!(
            KernelConfig::parse("CONFIG_FAT_DEFAULT_CODEPAGE=437\n")
                .fat_nls_modules()
                .is_empty()
        );
    }
}
