//! Update installation from the mounted `snapsmith-update` filesystem, in try mode: each listed
//! kernel or base snap that is neither applied before (digest in
//! `system-data/var/lib/snapsmith/applied`) nor already installed is copied into ubuntu-data's
//! snaps directory as the next local revision; a kernel's `vmlinuz` and `initrd.img` go to
//! ubuntu-boot `EFI/ubuntu/<file>/`, then modeenv and grubenv ask the next boot to try it
//! (states from [`crate::boot::state`]). The digest is recorded at staging, so a bad update is
//! tried once, not after every rollback.

use super::shared::{
    GRUBENV, MARKER, WRITABLE, console, copy_synced, with_mounted, write_grubenv, write_synced,
};
use crate::boot::grubenv::Grubenv;
use crate::boot::modeenv::Modeenv;
use crate::boot::state;
use crate::boot::update::{self, Manifest};
use crate::snap::{SnapInfo, SnapType};
use anyhow::{Context as _, Result, bail};
use std::path::Path;

/// Where things are.
pub struct Context<'a> {
    pub update_dir: &'a Path,
    pub boot_dir: Option<&'a Path>,
    pub modeenv_path: &'a Path,
    /// A directory for temporary mount points.
    pub scratch: &'a Path,
}

/// Stages every pending snap of `m`; returns how many were staged (a reboot is then due).
pub fn stage_all(
    ctx: &Context,
    m: &Manifest,
    mut env: Modeenv,
    mut grub: Option<Grubenv>,
) -> Result<usize> {
    let applied_path = Path::new(WRITABLE).join(update::APPLIED_PATH);
    let snaps_dir = Path::new(WRITABLE).join(crate::seed::DATA_SNAPS_DIR);
    let mut applied = update::applied(&std::fs::read_to_string(&applied_path).unwrap_or_default());
    let mut staged = 0;
    for file in &m.snaps {
        let source = ctx.update_dir.join(file);
        let digest = match m.digests.get(file) {
            Some(sha3_384) => crate::snap::SnapDigest {
                sha3_384: sha3_384.clone(),
                size: std::fs::metadata(&source)
                    .with_context(|| format!("reading {}", source.display()))?
                    .len(),
            },
            None => crate::snap::digest(&source)?,
        };
        if applied.contains(&digest.sha3_384) {
            continue;
        }
        // Recorded first: an update that fails to stage is not retried after the reboot.
        applied.push(digest.sha3_384.clone());
        write_synced(
            &applied_path,
            format!("{}\n", applied.join("\n")).as_bytes(),
        )?;
        let incoming = snaps_dir.join(".incoming.snap");
        let result = stage_one(ctx, file, &source, &digest, &mut env, &mut grub);
        let _ = std::fs::remove_file(&incoming);
        if let Some((kind, target)) = result? {
            console(&format!(
                "{MARKER} update staged {}={target}",
                kind.as_str()
            ));
            staged += 1;
        }
    }
    Ok(staged)
}

/// Installs one update snap in try mode; `None` when it is installed already or of a type
/// updates do not install. A kernel whose assets cannot be written is removed again.
fn stage_one(
    ctx: &Context,
    file: &str,
    source: &Path,
    digest: &crate::snap::SnapDigest,
    env: &mut Modeenv,
    grub: &mut Option<Grubenv>,
) -> Result<Option<(SnapType, String)>> {
    let snaps_dir = Path::new(WRITABLE).join(crate::seed::DATA_SNAPS_DIR);
    // Read from ubuntu-data, not from the update medium: what is installed is what is checked.
    let incoming = snaps_dir.join(".incoming.snap");
    copy_synced(source, &incoming)?;
    let mount = ctx.scratch.join("snap");
    let info = with_mounted(&incoming, &mount, |root| {
        let yaml = root.join("meta/snap.yaml");
        let bytes =
            std::fs::read(&yaml).with_context(|| format!("reading {file}: meta/snap.yaml"))?;
        SnapInfo::parse(&bytes).with_context(|| format!("{file}: meta/snap.yaml"))
    })?;
    let existing = list_dir(&snaps_dir)?;
    if installed_same(&snaps_dir, &existing, &info.name, digest)? {
        return Ok(None);
    }
    let kind = info.snap_type;
    if !matches!(kind, SnapType::Kernel | SnapType::Base) {
        console(&format!(
            "{MARKER} update ignored {file}: type {} is not installed by updates",
            kind.as_str()
        ));
        return Ok(None);
    }
    let target = state::next_local_file(&info.name, &existing);
    let snap_path = snaps_dir.join(&target);
    std::fs::rename(&incoming, &snap_path).with_context(|| format!("installing {target}"))?;
    if kind == SnapType::Base {
        *env = state::stage_base(env, &target);
        write_synced(ctx.modeenv_path, env.encode().as_bytes())?;
        return Ok(Some((kind, target)));
    }
    stage_kernel(ctx, &snap_path, &target, env, grub)?;
    Ok(Some((kind, target)))
}

/// Puts the installed kernel snap `target`'s assets on ubuntu-boot and asks the next boot to
/// try it; the assets and the snap are removed again when the assets cannot be written.
fn stage_kernel(
    ctx: &Context,
    snap_path: &Path,
    target: &str,
    env: &mut Modeenv,
    grub: &mut Option<Grubenv>,
) -> Result<()> {
    let boot = ctx
        .boot_dir
        .context("no ubuntu-boot partition to stage a kernel on")?;
    let g = grub
        .as_ref()
        .context("ubuntu-boot has no EFI/ubuntu/grubenv to stage a kernel with")?;
    let assets = boot.join("EFI/ubuntu").join(target);
    let mount = ctx.scratch.join("snap");
    if let Err(err) = with_mounted(snap_path, &mount, |root| extract_kernel(root, &assets)) {
        let _ = std::fs::remove_dir_all(&assets);
        let _ = std::fs::remove_file(snap_path);
        return Err(err.context(format!("staging {target}")));
    }
    let (next_env, next_grub) = state::stage_kernel(env, g, target)?;
    write_synced(ctx.modeenv_path, next_env.encode().as_bytes())?;
    write_grubenv(&boot.join(GRUBENV), &next_grub)?;
    (*env, *grub) = (next_env, Some(next_grub));
    Ok(())
}

fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// True when an installed file of snap `name` has the same digest (sizes compared first).
fn installed_same(
    dir: &Path,
    existing: &[String],
    name: &str,
    digest: &crate::snap::SnapDigest,
) -> Result<bool> {
    let prefix = format!("{name}_");
    for file in existing.iter().filter(|f| f.starts_with(&prefix)) {
        let path = dir.join(file);
        if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(digest.size) {
            continue;
        }
        if crate::snap::digest(&path)?.sha3_384 == digest.sha3_384 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Copies the mounted kernel snap's boot assets into `dir` on ubuntu-boot.
fn extract_kernel(root: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in ["vmlinuz", "initrd.img"] {
        let from = root.join(name);
        if !from.is_file() {
            bail!("kernel snap has no {name}");
        }
        copy_synced(&from, &dir.join(name))?;
    }
    Ok(())
}
