//! Conversion of raw gadget.yaml structures into checked [`Structure`]s, field by field.
//!
//! Each failure names the volume, the structure and the field: sizes with the gadget's own
//! syntax, the type forms legal for the volume's schema, filesystems, offset-write and content
//! entries (files for filesystem structures, images for the others).

use super::raw::{RawContent, RawStructure, Scalar};
use super::schema::{
    At, Content, FileContent, GadgetError, ImageContent, OffsetWriteSpec, Role, Structure,
    StructureType, Update, display_name,
};
use crate::plan::{FsKind, Schema};
use crate::units::{self, GIB};
use uuid::Uuid;

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
