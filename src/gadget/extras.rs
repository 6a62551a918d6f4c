//! The gadget-wide sections: `connections` and `kernel-cmdline`.

use super::raw::{RawCmdline, RawConnection};
use super::schema::GadgetError;
use super::{Connection, KernelCmdline};

pub fn connections(raw: &[RawConnection]) -> Result<Vec<Connection>, GadgetError> {
    let mut out = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let err = |f: &str, m: String| GadgetError {
            volume: None,
            structure: None,
            field: format!("connections[{i}].{f}"),
            message: m,
        };
        let plug = c
            .plug
            .as_deref()
            .ok_or_else(|| err("plug", "missing".into()))?;
        let Some((plug_snap_id, plug_name)) = plug
            .split_once(':')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        else {
            return Err(err("plug", format!("{plug:?} is not <snap-id>:<plug>")));
        };
        let slot = c
            .slot
            .clone()
            .unwrap_or_else(|| format!("system:{plug_name}"));
        let Some((slot_snap_id, slot_name)) = slot
            .split_once(':')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        else {
            return Err(err(
                "slot",
                format!("{slot:?} is not <snap-id|system>:<slot>"),
            ));
        };
        out.push(Connection {
            plug_snap_id: plug_snap_id.into(),
            plug: plug_name.into(),
            slot_snap_id: slot_snap_id.into(),
            slot: slot_name.into(),
        });
    }
    Ok(out)
}

pub fn cmdline(raw: Option<&RawCmdline>) -> Result<Option<KernelCmdline>, GadgetError> {
    let Some(raw) = raw else { return Ok(None) };
    for (i, arg) in raw.append.iter().enumerate() {
        if let Some(bad) = banned_arg(arg) {
            return Err(GadgetError {
                volume: None,
                structure: None,
                field: format!("kernel-cmdline.append[{i}]"),
                message: format!("{bad:?} may not be set by a gadget"),
            });
        }
    }
    Ok(Some(KernelCmdline {
        append: raw.append.clone(),
        remove: raw.remove.clone(),
        allow: raw.allow.clone(),
    }))
}

/// Kernel arguments a gadget may not set, by parameter name.
pub fn banned_arg(arg: &str) -> Option<&str> {
    let name = arg.split_once('=').map_or(arg, |(n, _)| n).trim();
    let banned = ["root", "nfsroot", "init"].contains(&name)
        || (name.starts_with("snapd") && !["snapd_system_disk", "snapd.debug"].contains(&name));
    banned.then_some(name)
}
