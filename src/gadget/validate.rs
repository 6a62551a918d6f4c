//! gadget.yaml rules that span fields, structures or volumes, and the implicit values.
//!
//! Follows snapd's `gadget/validate.go` and `setImplicitForVolume` (spec §3): volume names,
//! schema and bootloader, unique names, labels and roles, role constraints, and the rules that
//! only apply once a model is known (a [`Ruleset`]). Offsets and overlap are checked by
//! [`super::layout()`], which computes them.

use super::raw::RawVolume;
use super::schema::{self, At, Bootloader, GadgetError, Role, StructureType};
use super::{Gadget, Ruleset, Volume};
use crate::plan::{FsKind, Schema};
use crate::units::MIB;
use std::collections::BTreeMap;

/// Converts and checks one volume on its own.
pub fn volume(name: &str, raw: &RawVolume) -> Result<Volume, GadgetError> {
    let at = At {
        volume: name,
        structure: None,
    };
    check_volume_name(&at, name)?;
    let schema = parse_schema(&at, raw.schema.as_deref())?;
    let bootloader = parse_bootloader(&at, raw.bootloader.as_deref())?;
    for p in &raw.partial {
        if !["size", "filesystem", "schema", "structure"].contains(&p.as_str()) {
            return Err(at.err("partial", format!("unknown partial property {p:?}")));
        }
    }
    let id = raw.id.as_ref().map(|v| v.text()).filter(|s| !s.is_empty());
    if let Some(id) = &id {
        volume_id(&at, schema, id)?;
    }
    let mut structures = Vec::new();
    for (index, raw_structure) in raw.structure.iter().enumerate() {
        structures.push(super::convert::structure(
            name,
            schema,
            index,
            raw_structure,
        )?);
    }
    let volume = Volume {
        name: name.to_string(),
        schema,
        bootloader,
        id,
        partial: raw.partial.clone(),
        structures,
    };
    structures_rules(&volume)?;
    Ok(volume)
}

/// Two or more letters, digits and dashes, starting with a letter or digit.
fn check_volume_name(at: &At, name: &str) -> Result<(), GadgetError> {
    let valid_name = name.len() >= 2
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphanumeric() || (i > 0 && b == b'-'));
    if !valid_name {
        return Err(at.err("", "invalid volume name: use two or more letters, digits and dashes, starting with a letter or digit"));
    }
    Ok(())
}

/// `schema:`: gpt (the default) or mbr.
fn parse_schema(at: &At, text: Option<&str>) -> Result<Schema, GadgetError> {
    match text {
        None | Some("") | Some("gpt") => Ok(Schema::Gpt),
        Some("mbr") => Ok(Schema::Mbr),
        Some("emmc") => Err(at.err("schema", "emmc volumes are not supported")),
        Some(other) => Err(at.err(
            "schema",
            format!("unknown schema {other:?}: expected gpt or mbr"),
        )),
    }
}

/// `bootloader:`, one of [`Bootloader::ALL`] when set.
fn parse_bootloader(at: &At, text: Option<&str>) -> Result<Option<Bootloader>, GadgetError> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => Bootloader::ALL
            .iter()
            .find(|(s, _)| *s == text)
            .map(|(_, b)| Some(*b))
            .ok_or_else(|| at.err("bootloader", format!("unknown bootloader {text:?}"))),
    }
}

/// A GPT disk GUID, or an MBR disk signature as 1 to 8 hex digits with an optional `0x`.
pub fn volume_id(at: &At, schema: Schema, id: &str) -> Result<(), GadgetError> {
    let ok = match schema {
        Schema::Gpt => uuid::Uuid::parse_str(id).is_ok() && id.len() == 36,
        Schema::Mbr => {
            let hex = id.strip_prefix("0x").unwrap_or(id);
            (1..=8).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(at.err(
            "id",
            format!("{id:?} is not a valid disk id for schema {schema:?}"),
        ))
    }
}

fn structures_rules(volume: &Volume) -> Result<(), GadgetError> {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for s in &volume.structures {
        let shown = s.display_name();
        let at = At {
            volume: &volume.name,
            structure: Some(&shown),
        };
        if let Some(name) = &s.name {
            if let Some(first) = names.insert(name, s.index) {
                return Err(at.err(
                    "name",
                    format!("duplicate name {name:?} (also structure #{first})"),
                ));
            }
            if volume.schema == Schema::Gpt && name.encode_utf16().count() > 36 {
                return Err(at.err("name", "longer than the 36 characters of a GPT name"));
            }
        }
        if let Some(id) = s.id
            && let Some(first) = ids.insert(id, s.index)
        {
            return Err(at.err("id", format!("duplicate id {id} (also structure #{first})")));
        }
        structure_rules(&at, s)?;
    }
    labels_unique(volume)
}

fn structure_rules(at: &At, s: &schema::Structure) -> Result<(), GadgetError> {
    if s.type_ == StructureType::Bare && s.filesystem.is_some() {
        return Err(at.err("filesystem", "a bare structure cannot have a filesystem"));
    }
    if s.label.is_some() && s.filesystem.is_none() {
        return Err(at.err(
            "filesystem-label",
            "set on a structure without a filesystem",
        ));
    }
    label_rules(at, s)?;
    preserve_rules(at, s)?;
    let is_mbr = s.role == Some(Role::Mbr) || s.type_ == StructureType::Mbr;
    if is_mbr {
        mbr_rules(at, s)?;
    }
    if s.role == Some(Role::SystemBootState) {
        boot_state_rules(at, s)?;
    }
    Ok(())
}

/// A filesystem label fits its filesystem's limit.
fn label_rules(at: &At, s: &schema::Structure) -> Result<(), GadgetError> {
    if let (Some(label), Some(fs)) = (&s.label, s.filesystem) {
        let max = if fs == FsKind::Ext4 { 16 } else { 11 };
        if label.len() > max {
            return Err(at.err(
                "filesystem-label",
                format!(
                    "{label:?} is longer than {max} bytes, the {} limit",
                    schema::fs_kind_str(fs)
                ),
            ));
        }
    }
    Ok(())
}

/// Preserved paths need a filesystem and are listed once.
fn preserve_rules(at: &At, s: &schema::Structure) -> Result<(), GadgetError> {
    if !s.update.preserve.is_empty() && s.filesystem.is_none() {
        return Err(at.err(
            "update.preserve",
            "only structures with a filesystem can preserve files",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in &s.update.preserve {
        if !seen.insert(p) {
            return Err(at.err("update.preserve", format!("duplicate path {p:?}")));
        }
    }
    Ok(())
}

/// system-boot-state: a bare structure of at least 1M at an explicit offset, with its type.
fn boot_state_rules(at: &At, s: &schema::Structure) -> Result<(), GadgetError> {
    if s.filesystem.is_some() {
        return Err(at.err("filesystem", "system-boot-state cannot have a filesystem"));
    }
    if s.min_size != s.size {
        return Err(at.err("min-size", "system-boot-state cannot have a min-size"));
    }
    if s.offset.is_none() {
        return Err(at.err("offset", "system-boot-state needs an explicit offset"));
    }
    if s.size < MIB {
        return Err(at.err("size", "system-boot-state needs at least 1M"));
    }
    if !matches!(s.type_, StructureType::Guid(g) | StructureType::Hybrid(_, g) if g == schema::BOOT_STATE_GUID)
    {
        return Err(at.err(
            "type",
            format!(
                "system-boot-state needs type {}",
                schema::BOOT_STATE_GUID
                    .hyphenated()
                    .to_string()
                    .to_uppercase()
            ),
        ));
    }
    Ok(())
}

fn mbr_rules(at: &At, s: &schema::Structure) -> Result<(), GadgetError> {
    if !matches!(s.type_, StructureType::Mbr | StructureType::Bare) {
        return Err(at.err("type", "the mbr role needs type mbr or bare"));
    }
    if s.size > 446 {
        return Err(at.err(
            "size",
            format!(
                "mbr structure is {} bytes, more than the 446 bytes before the partition table",
                s.size
            ),
        ));
    }
    if s.offset.is_some_and(|o| o != 0) {
        return Err(at.err("offset", "the mbr structure must be at offset 0"));
    }
    if s.filesystem.is_some() {
        return Err(at.err("filesystem", "the mbr structure cannot have a filesystem"));
    }
    if s.id.is_some() {
        return Err(at.err("id", "the mbr structure cannot have an id"));
    }
    if s.index != 0 && s.offset.is_none() {
        return Err(at.err("offset", "the mbr structure must be first (offset 0)"));
    }
    Ok(())
}

/// Labels are unique in a volume; vfat labels compare without case.
fn labels_unique(volume: &Volume) -> Result<(), GadgetError> {
    let labelled: Vec<_> = volume
        .structures
        .iter()
        .filter_map(|s| s.label.as_deref().map(|l| (s, l)))
        .collect();
    for (i, (a, la)) in labelled.iter().enumerate() {
        for (b, lb) in &labelled[..i] {
            let vfat = |s: &schema::Structure| s.filesystem.is_some_and(|f| f != FsKind::Ext4);
            let clash = la == lb || ((vfat(a) || vfat(b)) && la.eq_ignore_ascii_case(lb));
            if clash {
                let shown = a.display_name();
                let at = At {
                    volume: &volume.name,
                    structure: Some(&shown),
                };
                return Err(at.err(
                    "filesystem-label",
                    format!("{la:?} is also the label of structure {}", b.display_name()),
                ));
            }
        }
    }
    Ok(())
}

/// snapd's `setImplicitForVolume`: roles implied by types and labels, labels implied by roles.
pub fn apply_implicit(gadget: &mut Gadget, ruleset: Ruleset) {
    for volume in &mut gadget.volumes {
        for s in &mut volume.structures {
            if s.role.is_none() && s.type_ == StructureType::Mbr {
                s.role = Some(Role::Mbr);
                continue;
            }
            if ruleset == Ruleset::Uc16
                && s.role.is_none()
                && s.label.as_deref() == Some("system-boot")
            {
                s.role = Some(Role::SystemBoot);
                continue;
            }
            if s.label.is_none() {
                s.label = implied_label(s.role, ruleset).map(str::to_string);
            }
        }
    }
}

/// The label a role implies under a rule set.
pub fn implied_label(role: Option<Role>, ruleset: Ruleset) -> Option<&'static str> {
    match (ruleset, role?) {
        (Ruleset::Uc16, Role::SystemData) => Some("writable"),
        (Ruleset::Uc20, Role::SystemData) => Some("ubuntu-data"),
        (Ruleset::Uc20, Role::SystemSeed | Role::SystemSeedNull) => Some("ubuntu-seed"),
        (Ruleset::Uc20, Role::SystemBoot) => Some("ubuntu-boot"),
        (Ruleset::Uc20, Role::SystemSave) => Some("ubuntu-save"),
        _ => None,
    }
}

const RESERVED_LABELS: [&str; 4] = ["ubuntu-seed", "ubuntu-boot", "ubuntu-save", "ubuntu-data"];

/// Rules across volumes: one bootloader, unique roles, mode rules once a model is known.
pub fn gadget(gadget: &Gadget, ruleset: Ruleset) -> Result<(), GadgetError> {
    if gadget.volumes.is_empty() {
        return Err(GadgetError::top("volumes", "no volumes defined"));
    }
    let mut loaders = gadget.volumes.iter().filter(|v| v.bootloader.is_some());
    match (loaders.next(), loaders.next()) {
        (None, _) => {
            return Err(GadgetError::top(
                "bootloader",
                "no volume declares a bootloader",
            ));
        }
        (Some(a), Some(b)) => {
            let message = format!(
                "a second bootloader (volume {} already declares one)",
                a.name
            );
            return Err(b.at().err("bootloader", message));
        }
        (Some(_), None) => {}
    }
    let roles = unique_roles(gadget)?;
    if roles.contains_key(&Role::SystemSeed) && roles.contains_key(&Role::SystemSeedNull) {
        return Err(GadgetError::top(
            "role",
            "system-seed and system-seed-null cannot both be used",
        ));
    }
    mode_rules(gadget, ruleset, &roles)
}

/// Where each once-per-gadget role is (volume name); reserved labels need their role.
fn unique_roles(gadget: &Gadget) -> Result<BTreeMap<Role, &str>, GadgetError> {
    let mut roles: BTreeMap<Role, &str> = BTreeMap::new();
    for v in &gadget.volumes {
        for s in &v.structures {
            let shown = s.display_name();
            let at = At {
                volume: &v.name,
                structure: Some(&shown),
            };
            if s.role.is_none()
                && let Some(l) = &s.label
                && RESERVED_LABELS.contains(&l.as_str())
            {
                let message = format!("{l:?} is reserved for the structure with that role");
                return Err(at.err("filesystem-label", message));
            }
            let Some(role) = s.role else { continue };
            let unique = matches!(
                role,
                Role::SystemSeed
                    | Role::SystemSeedNull
                    | Role::SystemBoot
                    | Role::SystemData
                    | Role::SystemSave
                    | Role::SystemBootState
            );
            if unique && let Some(first) = roles.insert(role, &v.name) {
                let message = format!(
                    "duplicate role {} (already used in volume {first})",
                    role.as_str()
                );
                return Err(at.err("role", message));
            }
        }
    }
    Ok(roles)
}

fn mode_rules(
    gadget: &Gadget,
    ruleset: Ruleset,
    roles: &BTreeMap<Role, &str>,
) -> Result<(), GadgetError> {
    match ruleset {
        Ruleset::Unknown => Ok(()),
        Ruleset::Uc16 => uc16_rules(gadget, roles),
        Ruleset::Uc20 => uc20_rules(gadget, roles),
    }
}

/// A model without a grade: no recovery roles, no piboot.
fn uc16_rules(gadget: &Gadget, roles: &BTreeMap<Role, &str>) -> Result<(), GadgetError> {
    for role in [Role::SystemSeed, Role::SystemSeedNull, Role::SystemSave] {
        if let Some(v) = roles.get(&role) {
            let message = "needs a model with a grade (Ubuntu Core 20+)";
            return Err(role_err(gadget, v, role, message));
        }
    }
    if let Some(v) = gadget
        .volumes
        .iter()
        .find(|v| v.bootloader == Some(Bootloader::Piboot))
    {
        return Err(v.at().err(
            "bootloader",
            "piboot needs a model with a grade (Ubuntu Core 20+)",
        ));
    }
    Ok(())
}

/// A model with a grade: a seed with data, boot/data/save beside the seed, implied labels.
fn uc20_rules(gadget: &Gadget, roles: &BTreeMap<Role, &str>) -> Result<(), GadgetError> {
    let seed = roles
        .get(&Role::SystemSeed)
        .or(roles.get(&Role::SystemSeedNull));
    let Some(&seed_volume) = seed else {
        return Err(GadgetError::top(
            "role",
            "a model with a grade needs a system-seed or system-seed-null structure",
        ));
    };
    if !roles.contains_key(&Role::SystemData) {
        let at = At {
            volume: seed_volume,
            structure: None,
        };
        return Err(at.err("role", "system-seed needs a system-data structure"));
    }
    for role in [Role::SystemBoot, Role::SystemData, Role::SystemSave] {
        if let Some(v) = roles.get(&role)
            && *v != seed_volume
        {
            let message = format!("must be on the system-seed volume {seed_volume}");
            return Err(role_err(gadget, v, role, &message));
        }
    }
    for v in &gadget.volumes {
        for s in &v.structures {
            let implied = implied_label(s.role, Ruleset::Uc20);
            if let (Some(implied), Some(label), Some(role)) = (implied, &s.label, s.role)
                && label != implied
            {
                let message =
                    format!("filesystem-label {label:?} must be {implied:?} for this role");
                return Err(role_err(gadget, &v.name, role, &message));
            }
        }
    }
    Ok(())
}

fn role_err(gadget: &Gadget, volume: &str, role: Role, message: &str) -> GadgetError {
    let structure = gadget
        .volumes
        .iter()
        .filter(|v| v.name == volume)
        .flat_map(|v| &v.structures)
        .find(|s| s.role == Some(role))
        .map(|s| s.display_name());
    GadgetError {
        volume: Some(volume.to_string()),
        structure,
        field: "role".into(),
        message: format!("{}: {message}", role.as_str()),
    }
}
