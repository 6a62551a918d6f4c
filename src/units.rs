//! Byte sizes and offsets: the gadget's size syntax, human-readable sizes for the command line,
//! and checked arithmetic helpers.
//!
//! gadget.yaml sizes are an integer with an optional `M` (MiB) or `G` (GiB) suffix and nothing
//! else; the command line (`--image-size`) also accepts `K` and the `MiB`/`GiB` spellings.

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;

/// A logical sector size the writer supports. Parsed once where it enters (the command line, a
/// deserialized plan); everything after holds a valid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub enum SectorSize {
    B512,
    B4096,
}

impl SectorSize {
    pub const fn bytes(self) -> u64 {
        match self {
            SectorSize::B512 => 512,
            SectorSize::B4096 => 4096,
        }
    }
}

/// A sector size other than 512 or 4096.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0:?} is not a supported sector size (512 or 4096)")]
pub struct SectorSizeError(pub String);

impl TryFrom<u64> for SectorSize {
    type Error = SectorSizeError;
    fn try_from(bytes: u64) -> Result<Self, SectorSizeError> {
        match bytes {
            512 => Ok(SectorSize::B512),
            4096 => Ok(SectorSize::B4096),
            other => Err(SectorSizeError(other.to_string())),
        }
    }
}

impl From<SectorSize> for u64 {
    fn from(size: SectorSize) -> u64 {
        size.bytes()
    }
}

impl std::str::FromStr for SectorSize {
    type Err = SectorSizeError;
    fn from_str(text: &str) -> Result<Self, SectorSizeError> {
        text.parse::<u64>()
            .ok()
            .and_then(|n| SectorSize::try_from(n).ok())
            .ok_or_else(|| SectorSizeError(text.to_string()))
    }
}

impl std::fmt::Display for SectorSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.bytes())
    }
}

/// Why a size string was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SizeError {
    #[error("empty size")]
    Empty,
    #[error("invalid size {0:?}: expected an integer with an optional M or G suffix")]
    Syntax(String),
    #[error("size {0:?} is too large")]
    Overflow(String),
}

/// Parses the gadget.yaml size syntax: `1234`, `10M`, `2G`.
pub fn parse_gadget_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let (digits, unit) = match text.as_bytes()[text.len() - 1] {
        b'M' => (&text[..text.len() - 1], MIB),
        b'G' => (&text[..text.len() - 1], GIB),
        _ => (text, 1),
    };
    parse_scaled(text, digits, unit)
}

/// Parses a command-line size: bytes, or `K`/`M`/`G` with optional `iB`/`B` (binary units).
pub fn parse_cli_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let lower = text.to_ascii_lowercase();
    let stripped = lower.trim_end_matches("ib").trim_end_matches('b');
    let (digits, unit) = match stripped.as_bytes().last() {
        Some(b'k') => (&stripped[..stripped.len() - 1], KIB),
        Some(b'm') => (&stripped[..stripped.len() - 1], MIB),
        Some(b'g') => (&stripped[..stripped.len() - 1], GIB),
        _ => (stripped, 1),
    };
    parse_scaled(text, digits, unit)
}

fn parse_scaled(original: &str, digits: &str, unit: u64) -> Result<u64, SizeError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SizeError::Syntax(original.to_string()));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| SizeError::Overflow(original.to_string()))?;
    value
        .checked_mul(unit)
        .ok_or_else(|| SizeError::Overflow(original.to_string()))
}

/// Formats a byte count for people: `512 B`, `1.5 MiB`, `4 GiB`.
pub fn human(bytes: u64) -> String {
    let units = [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")];
    for (size, name) in units {
        if bytes >= size {
            let whole = bytes / size;
            let tenths = (bytes % size) * 10 / size;
            return if tenths == 0 {
                format!("{whole} {name}")
            } else {
                format!("{whole}.{tenths} {name}")
            };
        }
    }
    format!("{bytes} B")
}

/// Rounds `value` up to a multiple of `align` (which must be non-zero), or `None` on overflow.
pub fn align_up(value: u64, align: u64) -> Option<u64> {
    let rem = value % align;
    if rem == 0 {
        Some(value)
    } else {
        value.checked_add(align - rem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sector_sizes_are_512_or_4096() {
        assert_eq!("512".parse(), Ok(SectorSize::B512));
        assert_eq!(SectorSize::try_from(4096), Ok(SectorSize::B4096));
        assert_eq!(SectorSize::B4096.to_string(), "4096");
        let err = "1000".parse::<SectorSize>().unwrap_err().to_string();
        assert_eq!(err, "\"1000\" is not a supported sector size (512 or 4096)");
        assert!(serde_json::from_str::<SectorSize>("2048").is_err());
        assert_eq!(serde_json::to_string(&SectorSize::B512).unwrap(), "512");
    }

    #[test]
    fn gadget_sizes() {
        assert_eq!(parse_gadget_size("440"), Ok(440));
        assert_eq!(parse_gadget_size("1M"), Ok(MIB));
        assert_eq!(parse_gadget_size("2G"), Ok(2 * GIB));
        for bad in ["", "1K", "1.5M", "-1", "M", "1m", "1 M", "0x10"] {
            assert!(parse_gadget_size(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_gadget_size("99999999999999999999G"),
            Err(SizeError::Overflow(_))
        ));
    }

    #[test]
    fn cli_sizes() {
        assert_eq!(parse_cli_size("4096"), Ok(4096));
        assert_eq!(parse_cli_size("8K"), Ok(8 * KIB));
        assert_eq!(parse_cli_size("512MiB"), Ok(512 * MIB));
        assert_eq!(parse_cli_size("2g"), Ok(2 * GIB));
        assert!(parse_cli_size("big").is_err());
    }

    #[test]
    fn formatting_and_alignment() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 * MIB / 2), "1.5 MiB");
        assert_eq!(align_up(1, 512), Some(512));
        assert_eq!(align_up(1024, 512), Some(1024));
        assert_eq!(align_up(u64::MAX, 512), None);
    }
}
