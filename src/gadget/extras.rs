//! The gadget-wide sections: `connections` and `kernel-cmdline`, and the kernel command line
//! files a gadget tree may ship instead (`cmdline.extra` appends, `cmdline.full` replaces).

use super::raw::{RawCmdline, RawConnection};
use super::schema::GadgetError;
use super::{Connection, KernelCmdline};
use anyhow::{Context, Result, bail};
use std::path::Path;

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

/// Kernel arguments a gadget may not set, by parameter name: snapd's, and snapsmith's own
/// (`snapsmith.*`: the boot disk's identity, the mode and the kernel are the boot's to say).
pub fn banned_arg(arg: &str) -> Option<&str> {
    let name = arg.split_once('=').map_or(arg, |(n, _)| n).trim();
    let banned = ["root", "nfsroot", "init"].contains(&name)
        || name.starts_with("snapsmith")
        || (name.starts_with("snapd") && !["snapd_system_disk", "snapd.debug"].contains(&name));
    banned.then_some(name)
}

/// Kernel arguments from the gadget tree's `cmdline.extra` or `cmdline.full`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdlineFile {
    /// Appended to the default command line.
    Extra(Vec<String>),
    /// Replaces the default command line.
    Full(Vec<String>),
}

/// Reads `cmdline.extra` or `cmdline.full` from a gadget tree (never both); `#` lines are
/// comments; banned arguments are refused. A symlink is followed only when it stays inside the
/// gadget tree; one that leads out of it (or dangles) is refused.
pub fn cmdline_file(root: &Path) -> Result<Option<CmdlineFile>> {
    let extra = root.join("cmdline.extra");
    let full = root.join("cmdline.full");
    let present = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    let (path, wrap): (_, fn(Vec<String>) -> CmdlineFile) = match (present(&extra), present(&full))
    {
        (true, true) => {
            bail!("the gadget ships both cmdline.extra and cmdline.full; only one is allowed")
        }
        (true, false) => (extra, CmdlineFile::Extra),
        (false, true) => (full, CmdlineFile::Full),
        (false, false) => return Ok(None),
    };
    inside_tree(root, &path)?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let args: Vec<String> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(str::to_string)
        .collect();
    if let Some(bad) = args.iter().find_map(|a| banned_arg(a)) {
        bail!("{}: {bad:?} may not be set by a gadget", path.display());
    }
    Ok(Some(wrap(args)))
}

/// Refuses `path` unless it resolves to a regular file inside `root`.
fn inside_tree(root: &Path, path: &Path) -> Result<()> {
    let resolved = std::fs::canonicalize(path)
        .with_context(|| format!("{}: a link that leads nowhere", path.display()))?;
    let root = std::fs::canonicalize(root).with_context(|| format!("{}", root.display()))?;
    if !resolved.starts_with(&root) || !resolved.is_file() {
        bail!(
            "{}: not a file of the gadget tree (it leads to {})",
            path.display(),
            resolved.display()
        );
    }
    Ok(())
}
