//! The typed `model` assertion and its rules: the UC20+ form (`snaps:`), the legacy UC16/18
//! form (`gadget:`/`kernel:`), and classic models, all mapped into one list of [`ModelSnap`]
//! with snapd's defaults filled in (grade `signed`, channel `latest/stable`, presence
//! `required`, modes `[run]`, essential snaps `[run, ephemeral]`).

use super::model_snap::{
    ModelSnap, Presence, SnapType, essential_modes, legacy_snap, read_snap, valid_model_name,
    valid_snap_name,
};
use super::types::{Fields, format_time, valid_account_id};
use super::{Assertion, Result, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Model grade: how strictly the device is locked down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grade {
    /// Legacy UC16/18 and classic models without `snaps` have no grade.
    Unset,
    /// Development: unasserted snaps and channel overrides allowed.
    Dangerous,
    /// The default for UC20+ models.
    Signed,
    /// Strictest; requires encrypted storage.
    Secured,
}

impl Grade {
    /// The grade as a model spells it (`unset` when it has none).
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Unset => "unset",
            Grade::Dangerous => "dangerous",
            Grade::Signed => "signed",
            Grade::Secured => "secured",
        }
    }
}

/// Storage safety of a UC20+ model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageSafety {
    /// Must encrypt.
    Encrypted,
    /// Encrypt when possible.
    PreferEncrypted,
    /// Prefer not to encrypt.
    PreferUnencrypted,
}

/// A typed model assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Model {
    /// `series` (16).
    pub series: String,
    /// `brand-id`, equal to `authority-id`.
    pub brand_id: String,
    /// `model`.
    pub model: String,
    /// `display-name`, defaults to the model name.
    pub display_name: String,
    /// `architecture`; absent only in classic models without a gadget.
    pub architecture: Option<String>,
    /// `base`; legacy models without one run on `core`.
    pub base: Option<String>,
    /// Grade, default signed (UC20+), unset for legacy models.
    pub grade: Grade,
    /// Storage safety (UC20+ only).
    pub storage_safety: Option<StorageSafety>,
    /// `classic: true`.
    pub classic: bool,
    /// `distribution` (extended classic models).
    pub distribution: Option<String>,
    /// `store`.
    pub store: Option<String>,
    /// True for the UC16/18 form (`gadget:`/`kernel:`, no `snaps:`).
    pub legacy: bool,
    /// Snaps: the `snaps` list, or legacy gadget/kernel/base/required-snaps mapped into it.
    pub snaps: Vec<ModelSnap>,
    /// `sign-key-sha3-384`.
    #[serde(rename = "sign-key-sha3-384")]
    pub sign_key_id: String,
    /// `timestamp`.
    #[serde(serialize_with = "ser_time")]
    pub timestamp: OffsetDateTime,
}

fn ser_time<S: serde::Serializer>(
    t: &OffsetDateTime,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// Well-known store ids of bases, used when a model lists a base only in `base:`.
fn well_known_base_id(name: &str) -> Option<&'static str> {
    Some(match name {
        "core" => "99T7MUlRhtI3U0QFgl5mXXESAiSwt776",
        "core18" => "CSO04Jhav2yK0uz97cr0ipQRyqg0qQL6",
        "core20" => "DLqre5XGLbDqg9jPtiAhRRjDuPVa5X1q",
        "core22" => "amcUKQILKXHHTlmSa7NMdnXSx02dNeeT",
        "core24" => "dwTAh7MZZ01zyriOZErqd1JynQLiOGvM",
        _ => return None,
    })
}

impl Model {
    /// Reads a model and checks every rule of its form; fills defaults. Does not check the
    /// signature (that is [`super::trust::verify`]).
    pub fn from_assertion(a: &Assertion) -> Result<Model> {
        let f = Fields::new(a, "model")?;
        let brand_id = f.req("brand-id")?;
        if a.authority_id() != brand_id {
            return Err(f.err(
                "authority-id",
                format!("{:?} must equal brand-id {brand_id:?}", a.authority_id()),
            ));
        }
        let model = f.req("model")?;
        if !valid_model_name(&model) {
            return Err(f.err(
                "model",
                format!("{model:?} is not a valid lowercase model name"),
            ));
        }
        let series = f.req("series")?;
        if series != "16" {
            return Err(f.err(
                "series",
                format!("{series:?} is not supported, expected \"16\""),
            ));
        }
        let classic = f.flag("classic")?;
        let mut m = Model {
            series,
            display_name: f.opt("display-name")?.unwrap_or_else(|| model.clone()),
            brand_id,
            model,
            architecture: f.opt("architecture")?,
            base: f.opt("base")?,
            grade: Grade::Unset,
            storage_safety: None,
            classic,
            distribution: f.opt("distribution")?,
            store: f.opt("store")?,
            legacy: a.header("snaps").is_none(),
            snaps: Vec::new(),
            sign_key_id: a.sign_key_id().to_string(),
            timestamp: f.time("timestamp")?,
        };
        m.check_names(&f)?;
        if m.legacy {
            m.read_legacy(&f)?;
        } else {
            m.read_extended(&f)?;
        }
        Ok(m)
    }

    /// snapd's rules on names in headers: `base` is a snap name, `serial-authority` a list of
    /// account ids.
    fn check_names(&self, f: &Fields) -> Result<()> {
        if let Some(base) = self.base.as_deref()
            && !valid_snap_name(base)
        {
            return Err(f.err("base", format!("{base:?} is not a valid snap name")));
        }
        match f.a.header("serial-authority") {
            None => Ok(()),
            Some(Value::List(ids))
                if ids
                    .iter()
                    .all(|v| matches!(v, Value::Str(s) if valid_account_id(s))) =>
            {
                Ok(())
            }
            Some(_) => Err(f.err("serial-authority", "must be a list of account ids")),
        }
    }

    /// The snap of a given type (first one), e.g. the gadget or kernel.
    pub fn snap_of_type(&self, t: SnapType) -> Option<&ModelSnap> {
        self.snaps.iter().find(|s| s.snap_type == t)
    }

    /// As JSON, defaults filled in.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn read_legacy(&mut self, f: &Fields) -> Result<()> {
        for forbidden in ["grade", "storage-safety"] {
            if f.a.header(forbidden).is_some() {
                return Err(f.err(forbidden, "only allowed in models with a snaps list"));
            }
        }
        if self.distribution.is_some() {
            return Err(f.err("distribution", "only allowed in classic models with snaps"));
        }
        let gadget = f.opt("gadget")?;
        let kernel = f.opt("kernel")?;
        if self.classic {
            if kernel.is_some() {
                return Err(f.err("kernel", "not allowed in classic models"));
            }
            if gadget.is_some() && self.architecture.is_none() {
                return Err(f.err("architecture", "required when a classic model has a gadget"));
            }
        } else {
            for name in ["architecture", "gadget", "kernel"] {
                f.req(name)?;
            }
        }
        if let Some(g) = gadget {
            self.snaps
                .push(legacy_snap(f, "gadget", &g, SnapType::Gadget)?);
        }
        if let Some(k) = kernel {
            self.snaps
                .push(legacy_snap(f, "kernel", &k, SnapType::Kernel)?);
        }
        if !self.classic {
            let (base, t) = match &self.base {
                Some(b) => (b.clone(), SnapType::Base),
                None => ("core".to_string(), SnapType::Core),
            };
            let mut snap = legacy_snap(f, "base", &base, t)?;
            snap.id = well_known_base_id(&base).map(String::from);
            self.snaps.push(snap);
        }
        for name in string_list(f, "required-snaps")? {
            if !valid_snap_name(&name) {
                return Err(f.err(
                    "required-snaps",
                    format!("{name:?} is not a valid snap name"),
                ));
            }
            if self.snaps.iter().any(|s| s.name == name) {
                continue;
            }
            self.snaps.push(ModelSnap {
                name,
                id: None,
                snap_type: SnapType::App,
                default_channel: "latest/stable".into(),
                presence: Presence::Required,
                modes: vec!["run".into()],
                classic: false,
            });
        }
        Ok(())
    }

    fn read_extended(&mut self, f: &Fields) -> Result<()> {
        for forbidden in ["gadget", "kernel", "required-snaps"] {
            if f.a.header(forbidden).is_some() {
                return Err(f.err(
                    forbidden,
                    "not allowed in models with a snaps list (use snaps)",
                ));
            }
        }
        if !self.classic {
            f.req("architecture")?;
            f.req("base")?;
            if self.distribution.is_some() {
                return Err(f.err("distribution", "only allowed in classic models"));
            }
        } else if self.distribution.is_none() {
            return Err(f.err("distribution", "required in classic models with snaps"));
        }
        self.grade = match f.opt("grade")?.as_deref() {
            None | Some("signed") => Grade::Signed,
            Some("dangerous") => Grade::Dangerous,
            Some("secured") => Grade::Secured,
            Some(other) => {
                return Err(f.err(
                    "grade",
                    format!("{other:?} is not secured, signed or dangerous"),
                ));
            }
        };
        self.storage_safety = Some(match (f.opt("storage-safety")?.as_deref(), self.grade) {
            (None, Grade::Secured) | (Some("encrypted"), _) => StorageSafety::Encrypted,
            (Some(_), Grade::Secured) => {
                return Err(f.err("storage-safety", "grade secured requires encrypted"));
            }
            (None, _) | (Some("prefer-encrypted"), _) => StorageSafety::PreferEncrypted,
            (Some("prefer-unencrypted"), _) => StorageSafety::PreferUnencrypted,
            (Some(other), _) => {
                return Err(f.err(
                    "storage-safety",
                    format!("{other:?} is not a storage safety"),
                ));
            }
        });
        let Some(Value::List(items)) = f.a.header("snaps") else {
            return Err(f.err("snaps", "must be a list of maps"));
        };
        for (i, item) in items.iter().enumerate() {
            let snap = read_snap(f, i, item, self)?;
            self.snaps.push(snap);
        }
        self.check_snap_set(f)
    }

    fn check_snap_set(&mut self, f: &Fields) -> Result<()> {
        let mut names = BTreeMap::new();
        let mut ids = BTreeMap::new();
        for s in &self.snaps {
            if names.insert(s.name.clone(), ()).is_some() {
                return Err(f.err("snaps", format!("snap {:?} is listed twice", s.name)));
            }
            if let Some(id) = &s.id
                && ids.insert(id.clone(), ()).is_some()
            {
                return Err(f.err("snaps", format!("snap id {id:?} is listed twice")));
            }
        }
        let count = |t| self.snaps.iter().filter(|s| s.snap_type == t).count();
        let (gadgets, kernels, snapds) = (
            count(SnapType::Gadget),
            count(SnapType::Kernel),
            count(SnapType::Snapd),
        );
        if !self.classic && (gadgets != 1 || kernels != 1) {
            return Err(f.err(
                "snaps",
                format!("needs exactly one gadget and one kernel, found {gadgets} and {kernels}"),
            ));
        }
        if self.classic && (gadgets > 1 || kernels > 1) {
            return Err(f.err("snaps", "at most one gadget and one kernel"));
        }
        if snapds > 1 {
            return Err(f.err("snaps", "at most one snapd snap"));
        }
        self.add_base(f)
    }

    /// Checks the base entry, or synthesizes it when only `base:` names it.
    fn add_base(&mut self, f: &Fields) -> Result<()> {
        let Some(base) = self.base.clone() else {
            return Ok(());
        };
        if let Some(entry) = self.snaps.iter().find(|s| s.name == base) {
            if entry.snap_type != SnapType::Base {
                return Err(f.err(
                    "snaps",
                    format!("entry {base:?} is the base, so its type must be base"),
                ));
            }
            return Ok(());
        }
        let id = well_known_base_id(&base).map(String::from);
        if id.is_none() && self.grade != Grade::Dangerous {
            return Err(f.err(
                "base",
                format!("{base:?} is not listed in snaps and has no well-known snap id"),
            ));
        }
        self.snaps.push(ModelSnap {
            name: base,
            id,
            snap_type: SnapType::Base,
            default_channel: "latest/stable".into(),
            presence: Presence::Required,
            modes: essential_modes(),
            classic: false,
        });
        Ok(())
    }
}

fn string_list(f: &Fields, name: &str) -> Result<Vec<String>> {
    match f.a.header(name) {
        None => Ok(Vec::new()),
        Some(Value::List(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| f.err(name, "must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(f.err(name, "must be a list")),
    }
}
