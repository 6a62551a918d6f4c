//! Snaps listed in a model: [`ModelSnap`] with its type, channel, presence and modes, the
//! parsing of one `snaps:` entry and of a legacy `gadget:`/`kernel:` value, and the name rules.

use super::model::{Grade, Model};
use super::types::Fields;
use super::{Result, Value};
use serde::Serialize;

/// Type of a snap listed in a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapType {
    /// An application (the default).
    App,
    /// A base (root filesystem).
    Base,
    /// The gadget.
    Gadget,
    /// The kernel.
    Kernel,
    /// The legacy `core` snap.
    Core,
    /// snapd.
    Snapd,
}

impl SnapType {
    fn parse(s: &str) -> Option<SnapType> {
        Some(match s {
            "app" => SnapType::App,
            "base" => SnapType::Base,
            "gadget" => SnapType::Gadget,
            "kernel" => SnapType::Kernel,
            "core" => SnapType::Core,
            "snapd" => SnapType::Snapd,
            _ => return None,
        })
    }

    /// The type as a model spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapType::App => "app",
            SnapType::Base => "base",
            SnapType::Gadget => "gadget",
            SnapType::Kernel => "kernel",
            SnapType::Core => "core",
            SnapType::Snapd => "snapd",
        }
    }

    /// Essential snaps may not set presence or modes.
    pub fn is_essential(self) -> bool {
        !matches!(self, SnapType::App)
    }
}

/// Whether a model snap must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    /// Must be installed (default).
    Required,
    /// May be left out.
    Optional,
}

/// One snap of the model, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ModelSnap {
    /// Snap name.
    pub name: String,
    /// Store snap id; `None` only in dangerous models and legacy entries.
    pub id: Option<String>,
    /// Snap type.
    #[serde(rename = "type")]
    pub snap_type: SnapType,
    /// Channel with a track, default `latest/stable`.
    pub default_channel: String,
    /// Presence, default required.
    pub presence: Presence,
    /// Modes, default `[run]`; essential snaps get `[run, ephemeral]`.
    pub modes: Vec<String>,
    /// Classic confinement (classic models only).
    pub classic: bool,
}

/// `^[a-zA-Z0-9](?:-?[a-zA-Z0-9])*$`, and lowercase only.
pub(crate) fn valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) fn valid_snap_name(name: &str) -> bool {
    valid_model_name(name) && name.bytes().any(|b| b.is_ascii_lowercase()) && name.len() <= 40
}

/// A channel must have a track: `track/risk[/branch]`, track not a risk name.
pub(crate) fn valid_channel(ch: &str) -> bool {
    let parts: Vec<&str> = ch.split('/').collect();
    let risks = ["stable", "candidate", "beta", "edge"];
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| !p.is_empty())
        && !risks.contains(&parts[0])
        && risks.contains(&parts[1])
}

pub(crate) fn valid_mode(m: &str) -> bool {
    let b = m.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b[1..].iter().all(|c| c.is_ascii_lowercase() || *c == b'-')
}

pub(crate) fn essential_modes() -> Vec<String> {
    vec!["run".into(), "ephemeral".into()]
}

/// `name` or `name=track` (legacy gadget/kernel), mapped to a snap entry.
pub(crate) fn legacy_snap(f: &Fields, header: &str, value: &str, t: SnapType) -> Result<ModelSnap> {
    let (name, track) = match value.split_once('=') {
        Some((n, tr)) => (n, Some(tr)),
        None => (value, None),
    };
    if !valid_snap_name(name) {
        return Err(f.err(header, format!("{name:?} is not a valid snap name")));
    }
    let risks = ["stable", "candidate", "beta", "edge"];
    if let Some(tr) = track
        && (tr.is_empty() || tr.contains('/') || risks.contains(&tr))
    {
        return Err(f.err(
            header,
            format!("track {tr:?} must be a track name, not a channel"),
        ));
    }
    Ok(ModelSnap {
        name: name.to_string(),
        id: None,
        snap_type: t,
        default_channel: format!("{}/stable", track.unwrap_or("latest")),
        presence: Presence::Required,
        modes: essential_modes(),
        classic: false,
    })
}

pub(crate) fn read_snap(f: &Fields, i: usize, item: &Value, m: &Model) -> Result<ModelSnap> {
    let here = format!("snaps[{i}]");
    let Value::Map(map) = item else {
        return Err(f.err(&here, "must be a map"));
    };
    let get = |k: &str| -> Result<Option<&str>> {
        match map.get(k) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(f.err(&format!("{here}.{k}"), "must be a string")),
        }
    };
    let name = get("name")?.ok_or_else(|| f.err(&format!("{here}.name"), "required"))?;
    if !valid_snap_name(name) {
        return Err(f.err(
            &format!("{here}.name"),
            format!("{name:?} is not a valid snap name"),
        ));
    }
    let here = format!("snaps[{name}]");
    let id = read_id(f, &here, get("id")?, m.grade)?;
    let t = get("type")?.unwrap_or("app");
    let snap_type = SnapType::parse(t)
        .ok_or_else(|| f.err(&format!("{here}.type"), format!("{t:?} is not a snap type")))?;
    let channel = get("default-channel")?.unwrap_or("latest/stable");
    if !valid_channel(channel) {
        return Err(f.err(
            &format!("{here}.default-channel"),
            format!("{channel:?} must name a track and risk, e.g. latest/stable"),
        ));
    }
    let essential = snap_type.is_essential() || m.base.as_deref() == Some(name);
    if essential && (map.contains_key("presence") || map.contains_key("modes")) {
        return Err(f.err(&here, "essential snaps may not set presence or modes"));
    }
    let presence = read_presence(f, &here, get("presence")?)?;
    let modes = read_modes(f, &here, map.get("modes"), essential)?;
    let classic = match get("classic")? {
        None | Some("false") => false,
        Some("true") if m.classic && snap_type == SnapType::App && modes == ["run"] => true,
        Some(_) => {
            return Err(f.err(
                &format!("{here}.classic"),
                "only app snaps of classic models, run mode only",
            ));
        }
    };
    Ok(ModelSnap {
        name: name.to_string(),
        id,
        snap_type,
        default_channel: channel.to_string(),
        presence,
        modes,
        classic,
    })
}

fn read_presence(f: &Fields, here: &str, v: Option<&str>) -> Result<Presence> {
    match v {
        None | Some("required") => Ok(Presence::Required),
        Some("optional") => Ok(Presence::Optional),
        Some(o) => Err(f.err(
            &format!("{here}.presence"),
            format!("{o:?} is not required or optional"),
        )),
    }
}

pub(crate) fn read_modes(
    f: &Fields,
    here: &str,
    v: Option<&Value>,
    essential: bool,
) -> Result<Vec<String>> {
    let Some(v) = v else {
        return Ok(if essential {
            essential_modes()
        } else {
            vec!["run".into()]
        });
    };
    let err = || {
        f.err(
            &format!("{here}.modes"),
            "must be a list of mode names like run",
        )
    };
    let items = v.as_list().ok_or_else(err)?;
    let mut modes = Vec::new();
    for item in items {
        let mode = item.as_str().filter(|m| valid_mode(m)).ok_or_else(err)?;
        if modes.iter().any(|m| m == mode) {
            return Err(f.err(&format!("{here}.modes"), format!("mode {mode:?} repeated")));
        }
        modes.push(mode.to_string());
    }
    if modes.is_empty() {
        return Err(err());
    }
    Ok(modes)
}

/// The snap's store `id` at `here`: 32 letters and digits, required unless grade is dangerous.
fn read_id(f: &Fields, here: &str, id: Option<&str>, grade: Grade) -> Result<Option<String>> {
    match id {
        Some(id) if !valid_snap_id(id) => Err(f.err(
            &format!("{here}.id"),
            format!("{id:?} is not a snap id (32 letters and digits)"),
        )),
        None if grade != Grade::Dangerous => {
            Err(f.err(&format!("{here}.id"), "required unless grade is dangerous"))
        }
        id => Ok(id.map(String::from)),
    }
}

/// A store snap id: 32 ASCII letters and digits (snapd's `naming.ValidSnapID`).
pub(crate) fn valid_snap_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}
