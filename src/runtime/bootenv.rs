//! ubuntu-boot's grubenv, kept twice: `EFI/ubuntu/grubenv` (the first copy) and
//! `EFI/ubuntu/grubenv2`. Both GRUB and the runtime read the first copy when it decodes and the
//! second otherwise, so a copy torn by a power cut, or overwritten, leaves the other in charge.
//!
//! The order of the two writes decides when a change takes effect. Staging an update (a try)
//! writes the second copy first: the try takes effect only once the first copy holds it, at
//! the end. A commit, a rollback and a repair write the first copy first (the opposite order):
//! they take effect at once. So a cut between the two writes leaves a staged update untried
//! and a commit committed. After the boot settles, any copy that does not decode to the state
//! in force (unreadable, missing, or left behind by a cut) is rewritten and named in a marker.

use super::shared::{GRUBENV, MARKER, console, read_grubenv, write_grubenv, write_synced};
use crate::boot::grubcfg::{GRUB_DIR, GRUBENV_BACKUP};
use crate::boot::grubenv::{self, Grubenv};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The order of a write to both copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Staging a try: the second copy first.
    Staging,
    /// Commit, rollback and repair: the first copy first.
    Commit,
}

fn copies(boot: &Path) -> [PathBuf; 2] {
    [
        boot.join(GRUBENV),
        boot.join(format!("{GRUB_DIR}/{GRUBENV_BACKUP}")),
    ]
}

/// The state in force, read as GRUB reads it: the first copy that decodes. When copies exist
/// but neither decodes, GRUB booted its known-good default kernel with nothing tried, which is
/// `booted`: that state. `None` when ubuntu-boot has no grubenv at all (no GRUB).
pub fn read(boot: &Path, booted: &str) -> Result<Option<Grubenv>> {
    let paths = copies(boot);
    if let Some(env) = paths.iter().find_map(|p| read_grubenv(p).ok()) {
        return Ok(Some(env));
    }
    if !paths.iter().any(|p| p.exists()) {
        return Ok(None);
    }
    Ok(Some(Grubenv::decode(&crate::boot::grubcfg::run_env(
        booted,
    )?)?))
}

/// Writes `env` to both copies in `order`.
pub fn write(boot: &Path, env: &Grubenv, order: Order) -> Result<()> {
    let [first, second] = copies(boot);
    let paths = match order {
        Order::Staging => [second, first],
        Order::Commit => [first, second],
    };
    for path in &paths {
        write_copy(path, env)?;
    }
    Ok(())
}

/// Rewrites a copy in place (GRUB's save_env keeps its sectors), or creates it when it is
/// missing or not a 1024-byte block.
fn write_copy(path: &Path, env: &Grubenv) -> Result<()> {
    let in_place =
        std::fs::metadata(path).is_ok_and(|m| usize::try_from(m.len()).ok() == Some(grubenv::SIZE));
    if in_place {
        write_grubenv(path, env)
    } else {
        write_synced(path, &env.encode()?)
    }
}

/// The copies that do not decode to `env`, first copy first, each with why.
pub fn stale(boot: &Path, env: &Grubenv) -> Vec<(PathBuf, String)> {
    copies(boot)
        .into_iter()
        .filter_map(|path| {
            let why = match read_grubenv(&path) {
                Ok(have) if have == *env => return None,
                Ok(_) => "it held another state".to_string(),
                Err(e) => format!("{e:#}"),
            };
            Some((path, why))
        })
        .collect()
}

/// Rewrites the `stale` copies with `env`, in order; prints
/// `snapsmith: repaired <file>: <why>` for each.
pub fn repair(boot: &Path, env: &Grubenv, stale: &[(PathBuf, String)]) -> Result<()> {
    for (path, why) in stale {
        write_copy(path, env)?;
        let name = path.strip_prefix(boot).unwrap_or(path).display();
        console(&format!("{MARKER} repaired {name}: {why}"));
    }
    Ok(())
}
