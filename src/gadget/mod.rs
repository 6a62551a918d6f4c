//! The gadget: gadget.yaml schema, implicit values, validation, layout, and the bridge from a
//! laid-out gadget to an [`crate::plan::ImagePlan`].
//!
//! Pure parts (schema, validation, layout) never touch files; [`load()`] reads a gadget.yaml, a
//! gadget source directory or a gadget `.snap`; [`content`] resolves content entries against a
//! gadget tree; [`bridge`] assembles the image plan that the disk writer executes.
//!
//! Typical use:
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use snapsmith::gadget::{self, Ruleset};
//! let loaded = gadget::load::load(std::path::Path::new("gadgets/pc"), Ruleset::Unknown)?;
//! let layout = gadget::layout::layout(&loaded.gadget, 512)?;
//! # Ok(()) }
//! ```

pub mod bridge;
pub mod content;
pub mod convert;
pub mod extras;
pub mod images;
pub mod layout;
pub mod load;
pub mod raw;
pub mod report;
pub mod schema;
pub mod tree;
pub mod validate;

pub use bridge::{
    PlanOptions, add_file, check_content, check_plan_fit, filesystem_for_role, image_plan,
};
pub use layout::{Layout, PlacedStructure, VolumeLayout, layout};
pub use load::{GadgetSource, LoadedGadget, load};
pub use schema::{Bootloader, Content, GadgetError, Role, Structure, StructureType};

use crate::plan::Schema;
use raw::RawGadget;
use schema::At;

/// Which of snapd's rule sets applies: it depends on the model, when one is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruleset {
    /// No model: layout rules only, no implicit labels (what ubuntu-image does).
    Unknown,
    /// A model without a grade (Ubuntu Core 16/18).
    Uc16,
    /// A model with a grade (Ubuntu Core 20+, with recovery modes).
    Uc20,
}

impl Ruleset {
    /// The rule set for a model with this grade (`None` for a legacy model).
    pub fn for_grade(grade: Option<&str>) -> Ruleset {
        if grade.is_some() {
            Ruleset::Uc20
        } else {
            Ruleset::Uc16
        }
    }
}

/// A parsed and validated gadget.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct Gadget {
    /// Volumes in the order of the file.
    pub volumes: Vec<Volume>,
    /// `defaults`: keyed by `system` or a snap id, in file order.
    pub defaults: Vec<(String, serde_yaml::Value)>,
    pub connections: Vec<Connection>,
    pub kernel_cmdline: Option<KernelCmdline>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub schema: Schema,
    pub bootloader: Option<Bootloader>,
    /// GPT disk GUID or MBR disk signature (`0x` + hex), as written.
    pub id: Option<String>,
    pub partial: Vec<String>,
    /// Structures in YAML order.
    pub structures: Vec<Structure>,
}

/// `connections` entry: `plug: <snap-id>:<plug>`, `slot: <snap-id|system>:<slot>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub plug_snap_id: String,
    pub plug: String,
    pub slot_snap_id: String,
    pub slot: String,
}

/// `kernel-cmdline`: arguments to append, remove and allow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelCmdline {
    pub append: Vec<String>,
    pub remove: Vec<String>,
    pub allow: Vec<String>,
}

impl Gadget {
    /// Parses gadget.yaml text, applies the implicit values of `ruleset` and every rule that
    /// needs no files. Content checks need the tree: see [`check_content`].
    pub fn parse(text: &str, ruleset: Ruleset) -> Result<Gadget, GadgetError> {
        let raw: RawGadget = serde_yaml::from_str(text).map_err(|e| GadgetError {
            volume: None,
            structure: None,
            field: String::new(),
            message: e.to_string(),
        })?;
        let mut volumes = Vec::new();
        for (name, raw_volume) in &raw.volumes.0 {
            if volumes.iter().any(|v: &Volume| &v.name == name) {
                return Err(GadgetError {
                    volume: Some(name.clone()),
                    structure: None,
                    field: String::new(),
                    message: "defined twice".into(),
                });
            }
            volumes.push(validate::volume(name, raw_volume)?);
        }
        let mut gadget = Gadget {
            volumes,
            defaults: raw.defaults.0.clone(),
            connections: extras::connections(&raw.connections)?,
            kernel_cmdline: extras::cmdline(raw.kernel_cmdline.as_ref())?,
        };
        validate::apply_implicit(&mut gadget, ruleset);
        validate::gadget(&gadget, ruleset)?;
        Ok(gadget)
    }

    /// The volume declaring the bootloader.
    pub fn boot_volume(&self) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.bootloader.is_some())
    }

    /// The structure with this role and its volume.
    pub fn structure_with_role(&self, role: Role) -> Option<(&Volume, &Structure)> {
        self.volumes.iter().find_map(|v| {
            v.structures
                .iter()
                .find(|s| s.role == Some(role))
                .map(|s| (v, s))
        })
    }

    /// `defaults.system`, flattened to dotted keys (`refresh.retain: 2`).
    pub fn system_defaults(&self) -> Vec<(String, serde_yaml::Value)> {
        let mut out = Vec::new();
        if let Some((_, value)) = self.defaults.iter().find(|(k, _)| k == "system") {
            flatten("", value, &mut out);
        }
        out
    }
}

fn flatten(prefix: &str, value: &serde_yaml::Value, out: &mut Vec<(String, serde_yaml::Value)>) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            for (k, v) in map {
                let key = match k {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let full = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&full, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

impl Volume {
    pub(crate) fn at(&self) -> At<'_> {
        At {
            volume: &self.name,
            structure: None,
        }
    }
}
