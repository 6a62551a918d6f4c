//! Checked gadget.yaml types, and the per-field conversion from the raw document.
//!
//! Every field the spec defines has a typed home here. A conversion failure is a
//! [`GadgetError`] naming the volume, the structure and the field, so one message tells the
//! author where to look. Rules that involve more than one field or structure live in
//! [`super::validate`]; offsets are computed in [`super::layout`].

use super::raw::{RawContent, RawStructure, Scalar};
use crate::plan::{FsKind, Schema};
use crate::units::{self, GIB};
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
    match kind {
        FsKind::Vfat => "vfat",
        FsKind::Vfat16 => "vfat-16",
        FsKind::Vfat32 => "vfat-32",
        FsKind::Ext4 => "ext4",
    }
}

/// Parses a gadget size or offset (`1234`, `10M`, `2G`).
pub fn size(at: &At, field: &str, value: &Scalar) -> Result<u64, GadgetError> {
    match value {
        Scalar::Int(n) => Ok(*n),
        Scalar::Str(s) => units::parse_gadget_size(s).map_err(|e| at.err(field, e.to_string())),
    }
}

fn opt_size(at: &At, field: &str, value: &Option<Scalar>) -> Result<Option<u64>, GadgetError> {
    value.as_ref().map(|v| size(at, field, v)).transpose()
}

/// Converts one raw structure; `schema` decides which type forms are legal.
pub fn structure(
    volume: &str,
    schema: Schema,
    index: usize,
    raw: &RawStructure,
) -> Result<Structure, GadgetError> {
    let shown = display_name(raw.name.as_deref(), index);
    let at = At {
        volume,
        structure: Some(&shown),
    };
    let role = match raw.role.as_deref() {
        None | Some("") => None,
        Some(r) => {
            Some(Role::parse(r).ok_or_else(|| at.err("role", format!("unknown role {r:?}")))?)
        }
    };
    let type_ = structure_type(&at, schema, raw, role)?;
    let filesystem = filesystem(&at, raw.filesystem.as_deref())?;
    let (size, min_size) = sizes(&at, raw)?;
    let id = match raw.id.as_deref() {
        None | Some("") => None,
        Some(_) if schema == Schema::Mbr => {
            return Err(at.err("id", "partition ids exist only in the gpt schema"));
        }
        Some(text) => Some(
            Uuid::parse_str(text).map_err(|_| at.err("id", format!("{text:?} is not a GUID")))?,
        ),
    };
    let update = raw
        .update
        .as_ref()
        .map_or_else(Update::default, |u| Update {
            edition: u.edition.unwrap_or(0),
            preserve: u.preserve.clone(),
        });
    Ok(Structure {
        index,
        name: raw.name.clone().filter(|n| !n.is_empty()),
        label: raw.filesystem_label.clone().filter(|l| !l.is_empty()),
        offset: opt_size(&at, "offset", &raw.offset)?,
        offset_write: offset_write(&at, raw.offset_write.as_ref())?,
        size,
        min_size,
        type_,
        role,
        id,
        filesystem,
        content: content(&at, filesystem.is_some(), &raw.content)?,
        update,
    })
}

fn sizes(at: &At, raw: &RawStructure) -> Result<(u64, u64), GadgetError> {
    let size = opt_size(at, "size", &raw.size)?;
    let min_size = opt_size(at, "min-size", &raw.min_size)?;
    let size = match (size, min_size) {
        (Some(s), _) => s,
        // A structure with only min-size takes that as its size.
        (None, Some(m)) => m,
        (None, None) => return Err(at.err("size", "missing (a size is required)")),
    };
    if size == 0 {
        return Err(at.err("size", "must be greater than zero"));
    }
    let min_size = min_size.unwrap_or(size);
    if min_size > size {
        return Err(at.err("min-size", format!("{min_size} is larger than size {size}")));
    }
    Ok((size, min_size))
}

fn structure_type(
    at: &At,
    schema: Schema,
    raw: &RawStructure,
    role: Option<Role>,
) -> Result<StructureType, GadgetError> {
    let Some(value) = &raw.type_ else {
        if role == Some(Role::Mbr) {
            return Ok(StructureType::Bare);
        }
        return Err(at.err("type", "missing (a type is required)"));
    };
    let text = match value {
        // `type: 83` is a YAML integer; it means the MBR type 0x83.
        Scalar::Int(n) if *n < 100 => format!("{n:02}"),
        other => other.text(),
    };
    let parsed = StructureType::parse(&text).ok_or_else(|| {
        at.err(
            "type",
            format!("invalid type {text:?}: expected bare, mbr, two hex digits, a GUID or XX,GUID"),
        )
    })?;
    match (parsed, schema) {
        (StructureType::MbrByte(_), Schema::Gpt) => Err(at.err(
            "type",
            format!("MBR partition type {text:?} in a volume with schema gpt"),
        )),
        (StructureType::Guid(_), Schema::Mbr) => Err(at.err(
            "type",
            format!("GPT partition type {text:?} in a volume with schema mbr"),
        )),
        _ => Ok(parsed),
    }
}

fn filesystem(at: &At, text: Option<&str>) -> Result<Option<FsKind>, GadgetError> {
    match text {
        None | Some("") | Some("none") => Ok(None),
        Some("vfat") => Ok(Some(FsKind::Vfat)),
        Some("vfat-16") => Ok(Some(FsKind::Vfat16)),
        Some("vfat-32") => Ok(Some(FsKind::Vfat32)),
        Some("ext4") => Ok(Some(FsKind::Ext4)),
        Some(other) => Err(at.err(
            "filesystem",
            format!("unknown filesystem {other:?}: expected ext4, vfat, vfat-16, vfat-32 or none"),
        )),
    }
}

fn offset_write(at: &At, value: Option<&Scalar>) -> Result<Option<OffsetWriteSpec>, GadgetError> {
    let Some(value) = value else { return Ok(None) };
    let text = value.text();
    let (relative_to, number) = match text.split_once('+') {
        Some((name, number)) if !name.is_empty() => (Some(name.to_string()), number),
        Some(_) => return Err(at.err("offset-write", format!("{text:?} has an empty name"))),
        None => (None, text.as_str()),
    };
    let offset = size(at, "offset-write", &Scalar::Str(number.to_string()))?;
    if offset > 4 * GIB {
        return Err(at.err("offset-write", format!("{text:?} is beyond 4G")));
    }
    Ok(Some(OffsetWriteSpec {
        relative_to,
        offset,
    }))
}

fn content(at: &At, has_fs: bool, raw: &[RawContent]) -> Result<Content, GadgetError> {
    if has_fs {
        let mut files = Vec::new();
        for (i, c) in raw.iter().enumerate() {
            let field = |f: &str| format!("content[{i}].{f}");
            if c.image.is_some() || c.offset.is_some() || c.size.is_some() {
                return Err(at.err(
                    &field("image"),
                    "image, offset and size are for structures without a filesystem",
                ));
            }
            let source = c.source.clone().filter(|s| !s.is_empty());
            let target = c.target.clone().filter(|s| !s.is_empty());
            match (source, target) {
                (Some(source), Some(target)) => files.push(FileContent { source, target }),
                (None, _) => return Err(at.err(&field("source"), "missing")),
                (_, None) => return Err(at.err(&field("target"), "missing")),
            }
        }
        return Ok(Content::Files(files));
    }
    let mut images = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let field = |f: &str| format!("content[{i}].{f}");
        if c.source.is_some() || c.target.is_some() {
            return Err(at.err(
                &field("source"),
                "source and target are for structures with a filesystem",
            ));
        }
        let image = c
            .image
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| at.err(&field("image"), "missing"))?;
        images.push(ImageContent {
            image,
            offset: opt_size(at, &field("offset"), &c.offset)?,
            size: opt_size(at, &field("size"), &c.size)?,
        });
    }
    Ok(Content::Images(images))
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
