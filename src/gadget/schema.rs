//! Checked gadget.yaml types, and the per-field conversion from the raw document.
//!
//! Every field the spec defines has a typed home here. A conversion failure is a
//! [`GadgetError`] naming the volume, the structure and the field, so one message tells the
//! author where to look. Rules that involve more than one field or structure live in
//! [`super::validate`]; offsets are computed in [`super::layout()`].

use crate::plan::FsKind;
use std::fmt;
use thiserror::Error;
use uuid::Uuid;

/// A gadget.yaml problem at a precise place.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct GadgetError {
    pub volume: Option<String>,
    /// The structure's name, or `#<index>` for an unnamed one.
    pub structure: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for GadgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = &self.volume {
            write!(f, "volume {v}: ")?;
        }
        if let Some(s) = &self.structure {
            write!(f, "structure {s}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl GadgetError {
    /// An error about the gadget as a whole (no volume).
    pub fn top(field: &str, message: impl Into<String>) -> GadgetError {
        GadgetError {
            volume: None,
            structure: None,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Where an error is: a volume and optionally a structure in it.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub volume: &'a str,
    pub structure: Option<&'a str>,
}

impl At<'_> {
    pub fn err(&self, field: &str, message: impl Into<String>) -> GadgetError {
        GadgetError {
            volume: Some(self.volume.to_string()),
            structure: self.structure.map(str::to_string),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootloader {
    Grub,
    UBoot,
    AndroidBoot,
    Lk,
    Piboot,
}

impl Bootloader {
    pub const ALL: [(&'static str, Bootloader); 5] = [
        ("grub", Bootloader::Grub),
        ("u-boot", Bootloader::UBoot),
        ("android-boot", Bootloader::AndroidBoot),
        ("lk", Bootloader::Lk),
        ("piboot", Bootloader::Piboot),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, b)| *b == self)
            .map_or("", |(s, _)| s)
    }
}

/// Structure roles (spec §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Mbr,
    SystemSeed,
    SystemSeedNull,
    SystemBoot,
    SystemData,
    SystemSave,
    SystemBootState,
    SystemBootImage,
    SystemBootSelect,
    SystemSeedImage,
    SystemSeedSelect,
    Bootimg,
    Bootselect,
}

impl Role {
    pub const ALL: [(&'static str, Role); 13] = [
        ("mbr", Role::Mbr),
        ("system-seed", Role::SystemSeed),
        ("system-seed-null", Role::SystemSeedNull),
        ("system-boot", Role::SystemBoot),
        ("system-data", Role::SystemData),
        ("system-save", Role::SystemSave),
        ("system-boot-state", Role::SystemBootState),
        ("system-boot-image", Role::SystemBootImage),
        ("system-boot-select", Role::SystemBootSelect),
        ("system-seed-image", Role::SystemSeedImage),
        ("system-seed-select", Role::SystemSeedSelect),
        ("bootimg", Role::Bootimg),
        ("bootselect", Role::Bootselect),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("", |(s, _)| s)
    }

    pub fn parse(text: &str) -> Option<Role> {
        Self::ALL.iter().find(|(s, _)| *s == text).map(|(_, r)| *r)
    }
}

/// The GPT type of the system-boot-state role.
pub const BOOT_STATE_GUID: Uuid = Uuid::from_u128(0x3DE21764_95BD_54BD_A5C3_4ABE786F38A8);

/// A structure's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureType {
    /// No partition table entry.
    Bare,
    /// Legacy `type: mbr`: the MBR boot code area.
    Mbr,
    /// A two-hex-digit MBR partition type (MBR schema only).
    MbrByte(u8),
    /// A GPT partition type GUID (GPT schema only).
    Guid(Uuid),
    /// `XX,GUID`: the half that fits the schema is used.
    Hybrid(u8, Uuid),
}

impl StructureType {
    pub fn parse(text: &str) -> Option<StructureType> {
        match text {
            "bare" => return Some(StructureType::Bare),
            "mbr" => return Some(StructureType::Mbr),
            _ => {}
        }
        if let Some((byte, guid)) = text.split_once(',') {
            return Some(StructureType::Hybrid(mbr_byte(byte)?, guid_type(guid)?));
        }
        if text.len() == 2 {
            return mbr_byte(text).map(StructureType::MbrByte);
        }
        guid_type(text).map(StructureType::Guid)
    }

    /// The type as gadget.yaml spells it, GUIDs in upper case.
    pub fn text(&self) -> String {
        let guid = |g: &Uuid| g.hyphenated().to_string().to_ascii_uppercase();
        match self {
            StructureType::Bare => "bare".into(),
            StructureType::Mbr => "mbr".into(),
            StructureType::MbrByte(b) => format!("{b:02X}"),
            StructureType::Guid(g) => guid(g),
            StructureType::Hybrid(b, g) => format!("{b:02X},{}", guid(g)),
        }
    }

    /// True for types that get a partition table entry.
    pub fn is_partition(&self) -> bool {
        !matches!(self, StructureType::Bare | StructureType::Mbr)
    }
}

fn mbr_byte(text: &str) -> Option<u8> {
    (text.len() == 2 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u8::from_str_radix(text, 16).ok())
        .flatten()
}

fn guid_type(text: &str) -> Option<Uuid> {
    (text.len() == 36)
        .then(|| Uuid::parse_str(text).ok())
        .flatten()
}

/// `offset-write: [<name>+]<offset>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetWriteSpec {
    pub relative_to: Option<String>,
    pub offset: u64,
}

/// A `{source, target}` entry of a filesystem structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub source: String,
    pub target: String,
}

/// An `{image, offset?, size?}` entry of a raw structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageContent {
    pub image: String,
    pub offset: Option<u64>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Files(Vec<FileContent>),
    Images(Vec<ImageContent>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub edition: u32,
    pub preserve: Vec<String>,
}

/// One entry of a volume's `structure` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    /// Position in the YAML list (0-based).
    pub index: usize,
    pub name: Option<String>,
    /// `filesystem-label`, after implicit values.
    pub label: Option<String>,
    /// The explicit `offset`, if any (the computed one is in the layout).
    pub offset: Option<u64>,
    pub offset_write: Option<OffsetWriteSpec>,
    pub size: u64,
    pub min_size: u64,
    pub type_: StructureType,
    pub role: Option<Role>,
    pub id: Option<Uuid>,
    pub filesystem: Option<FsKind>,
    pub content: Content,
    pub update: Update,
}

impl Structure {
    /// How errors name this structure: its name, or `#<index>`.
    pub fn display_name(&self) -> String {
        display_name(self.name.as_deref(), self.index)
    }

    pub fn is_partition(&self) -> bool {
        self.type_.is_partition() && self.role != Some(Role::Mbr)
    }
}

pub fn display_name(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("#{index}"),
    }
}

pub fn fs_kind_str(kind: FsKind) -> &'static str {
    kind.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_forms() {
        let g = Uuid::parse_str("0FC63DAF-8483-4772-8E79-3D69D8477DE4").unwrap();
        assert_eq!(StructureType::parse("bare"), Some(StructureType::Bare));
        assert_eq!(
            StructureType::parse("0C"),
            Some(StructureType::MbrByte(0x0C))
        );
        assert_eq!(
            StructureType::parse("0fc63daf-8483-4772-8e79-3d69d8477de4"),
            Some(StructureType::Guid(g))
        );
        assert_eq!(
            StructureType::parse("83,0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
            Some(StructureType::Hybrid(0x83, g))
        );
        for bad in ["", "0", "ZZ", "83,", "83,xyz", "BARE", "123"] {
            assert_eq!(StructureType::parse(bad), None, "{bad}");
        }
        assert_eq!(
            StructureType::Hybrid(0x83, g).text(),
            "83,0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        );
    }
}
