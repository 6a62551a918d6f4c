//! Update installation from the mounted `snapsmith-update` filesystem, in try mode, after the
//! update proved itself against the device's own trust root (the seed's model and chain, see
//! [`super::trust`] and [`crate::assertion::snap_trust`]). For each listed snap, in order:
//! its assertions (`<stem>.assert` beside it) are read; it is copied to ubuntu-data and the
//! copy hashed in the same pass; the copy's digest and size, the signatures and chain, the
//! name and snap-id against the model and the revision (newer than the installed one) are
//! checked; only then is the copy mounted read-only and its snap.yaml's name, type and base
//! checked against the model. Any refusal prints one `update refused <file>: <reason>` marker,
//! removes the copy and changes nothing. An accepted snap becomes `<name>_<rev>.snap` (an
//! unasserted one, on a dangerous model only, the next local revision); a kernel's `vmlinuz`
//! and `initrd.img` go to ubuntu-boot `EFI/ubuntu/<file>/`, then modeenv and grubenv ask the
//! next boot to try it (states from [`crate::boot::state`]); an app snap is only installed
//! and returned to the caller, which refreshes it at once (see the runtime's `apps` module). The record in
//! `system-data/var/lib/snapsmith/applied` ([`update::Record`]) counts each staging begun and
//! marks the digest done once the try state is written, so a bad update is tried once; a
//! staging cut short (power, I/O) is begun again from scratch on the next boot, at most
//! [`update::MAX_STAGING_ATTEMPTS`] times, and its half-staged files are removed first.

use super::bootenv::{self, Order};
use super::cmdline::Options;
use super::shared::{MARKER, WRITABLE, console, copy_synced, with_mounted, write_synced};
use super::trust;
use crate::assertion::snap_trust::{Copied, Refusal, TrustRoot, Verdict};
use crate::boot::grubenv::Grubenv;
use crate::boot::modeenv::Modeenv;
use crate::boot::state;
use crate::boot::update;
use crate::snap::{SnapInfo, SnapType};
use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};

/// Where things are.
pub struct Context<'a> {
    pub update_dir: &'a Path,
    pub boot_dir: Option<&'a Path>,
    pub modeenv_path: &'a Path,
    /// A directory for temporary mount points.
    pub scratch: &'a Path,
    /// Where the boot disk is (the seed's trust root is read from it).
    pub opts: &'a Options,
}

/// Why one update snap is not staged: refused (a marker, nothing changed) or already done.
enum Skip {
    Refused(String),
    Done,
}

impl From<Refusal> for Skip {
    fn from(r: Refusal) -> Skip {
        Skip::Refused(r.to_string())
    }
}

/// The staging of one run: the trust root, the applied digests and the boot state so far.
struct Run<'a> {
    ctx: &'a Context<'a>,
    root: TrustRoot,
    record: update::Record,
    env: Modeenv,
    grub: Option<Grubenv>,
}

fn snaps_dir() -> PathBuf {
    Path::new(WRITABLE).join(crate::seed::DATA_SNAPS_DIR)
}

/// What a run of the installer staged.
#[derive(Debug, Default)]
pub struct Staged {
    /// Kernels and bases staged for the next boot to try: a reboot is due when not 0.
    pub reboot: usize,
    /// App snaps installed on ubuntu-data (`<name>_<rev>.snap`), to be refreshed now.
    pub apps: Vec<String>,
}

/// Stages every pending snap of the update medium. Files that are neither snaps nor their
/// assertions are reported and not read.
pub fn stage_all(ctx: &Context, env: Modeenv, grub: Option<Grubenv>) -> Result<Staged> {
    let listing = update::listing(&list_dir(ctx.update_dir)?);
    for file in &listing.ignored {
        console(&format!(
            "{MARKER} update ignored {file}: an update disk holds only snaps and their assertions"
        ));
    }
    let mut staged = Staged::default();
    if listing.snaps.is_empty() {
        return Ok(staged);
    }
    let root = match trust::load_root(ctx.scratch, ctx.opts, &env.recovery_system) {
        Ok(root) => root,
        Err(err) => {
            for file in &listing.snaps {
                refused(file, &format!("no trust root: {err:#}"));
            }
            return Ok(staged);
        }
    };
    let applied_path = Path::new(WRITABLE).join(update::APPLIED_PATH);
    let record =
        update::Record::decode(&std::fs::read_to_string(&applied_path).unwrap_or_default());
    let mut run = Run {
        ctx,
        root,
        record,
        env,
        grub,
    };
    for file in &listing.snaps {
        let incoming = snaps_dir().join(".incoming.snap");
        let result = run.stage_one(file, &incoming);
        let _ = std::fs::remove_file(&incoming);
        match result? {
            Ok((kind, target)) => {
                console(&format!(
                    "{MARKER} update staged {}={target}",
                    kind.as_str()
                ));
                if kind == SnapType::App {
                    staged.apps.push(target);
                } else {
                    staged.reboot += 1;
                }
            }
            Err(Skip::Refused(reason)) => refused(file, &reason),
            Err(Skip::Done) => {}
        }
    }
    Ok(staged)
}

fn refused(file: &str, reason: &str) {
    console(&format!("{MARKER} update refused {file}: {reason}"));
}

/// The store revision of the installed snap `name`: a kernel's or base's from the boot state,
/// an app's from its `current` link; `None` when it is installed with a local revision.
fn installed_revision(env: &Modeenv, name: &str) -> Option<u64> {
    std::iter::once(&env.base)
        .chain(&env.current_kernels)
        .find_map(|f| update::revision_of(f, name))
        .or_else(|| super::apps::active_revision(name)?.parse().ok())
}

impl Run<'_> {
    /// Verifies and installs one update snap in try mode. The outer error is an I/O failure
    /// (the init reports it and reboots); the inner one a refusal or an update done before.
    fn stage_one(
        &mut self,
        file: &str,
        incoming: &Path,
    ) -> Result<Result<(SnapType, String), Skip>> {
        let source = self.ctx.update_dir.join(file);
        let assertions = match trust::read_assertions(&source) {
            Ok(a) => a,
            Err(err) => return Ok(Err(Skip::Refused(format!("{err:#}")))),
        };
        let known = |a: &crate::assertion::Assertion| {
            a.header_str("snap-sha3-384")
                .is_some_and(|d| self.record.is_done(d))
        };
        if assertions.iter().any(known) {
            return Ok(Err(Skip::Done));
        }
        // Copied first and hashed while copying: the bytes checked are the bytes installed.
        let digest = trust::copy_hashed(&source, incoming)?;
        if self.record.is_done(&digest.sha3_384) {
            return Ok(Err(Skip::Done));
        }
        let copy = Copied {
            sha3_384: &digest.sha3_384,
            size: digest.size,
        };
        let env = &self.env;
        let now = time::OffsetDateTime::now_utc();
        let verdict =
            match self
                .root
                .check_bytes(&assertions, &copy, |n| installed_revision(env, n), now)
            {
                Ok(v) => v,
                Err(r) => return Ok(Err(r.into())),
            };
        let mount = self.ctx.scratch.join("snap");
        let info = with_mounted(incoming, &mount, |root| {
            let bytes = std::fs::read(root.join("meta/snap.yaml"))
                .with_context(|| format!("reading {file}: meta/snap.yaml"))?;
            Ok(SnapInfo::parse(&bytes).map_err(|e| format!("meta/snap.yaml: {e:#}")))
        })?;
        let info = match info {
            Ok(info) => info,
            Err(reason) => return Ok(Err(Skip::Refused(reason))),
        };
        if let Err(r) = verdict.check_yaml(
            &self.root.model,
            &info.name,
            info.snap_type.as_str(),
            info.base.as_deref(),
        ) {
            return Ok(Err(r.into()));
        }
        if let Verdict::Unasserted = verdict {
            console(&format!(
                "{MARKER} update unasserted {file}: accepted because the model's grade is dangerous"
            ));
        }
        self.install(file, incoming, &info, &verdict, &digest)
    }

    /// Installs the verified copy `incoming` of `file` under its final name and stages it.
    /// The staging is counted as begun first and recorded as done once the try state is
    /// written; what an unfinished earlier staging left is removed before it begins again.
    fn install(
        &mut self,
        file: &str,
        incoming: &Path,
        info: &SnapInfo,
        verdict: &Verdict,
        digest: &crate::snap::SnapDigest,
    ) -> Result<Result<(SnapType, String), Skip>> {
        let snaps_dir = snaps_dir();
        let in_use = self.in_use();
        let mut existing = list_dir(&snaps_dir)?;
        for same in installed_same(&snaps_dir, &existing, &info.name, digest)? {
            if in_use.contains(&same) {
                return Ok(Err(Skip::Done));
            }
            // Installed but neither booted nor tried: a staging that did not finish.
            console(&format!(
                "{MARKER} update restaging {file}: {same} was left half-staged"
            ));
            self.remove_staged(&snaps_dir, &same);
        }
        existing = list_dir(&snaps_dir)?;
        let begun = self.record.begin(&digest.sha3_384);
        self.write_record()?;
        if !begun {
            return Ok(Err(Skip::Refused(format!(
                "its staging did not finish in {} attempts; given up",
                update::MAX_STAGING_ATTEMPTS
            ))));
        }
        let revision = match verdict {
            Verdict::Asserted { revision, .. } => Some(*revision),
            Verdict::Unasserted => None,
        };
        let target = update::update_file(&info.name, revision, &existing);
        let snap_path = snaps_dir.join(&target);
        std::fs::rename(incoming, &snap_path)
            .with_context(|| format!("installing {file} as {target}"))?;
        let kind = info.snap_type;
        match kind {
            SnapType::Base => {
                self.env = state::stage_base(&self.env, &target);
                write_synced(self.ctx.modeenv_path, self.env.encode().as_bytes())?;
            }
            // Refreshed by the caller once staged: the record makes it a one-time attempt.
            SnapType::App => {}
            _ => stage_kernel(self.ctx, &snap_path, &target, &mut self.env, &mut self.grub)?,
        }
        self.record.finish(&digest.sha3_384);
        self.write_record()?;
        Ok(Ok((kind, target)))
    }

    /// Snap files the boot state names: booted, committed or being tried.
    fn in_use(&self) -> Vec<String> {
        let env = &self.env;
        let mut files: Vec<String> = [&env.base, &env.try_base, &env.gadget]
            .into_iter()
            .chain(&env.current_kernels)
            .cloned()
            .collect();
        if let Some(g) = &self.grub {
            files.extend(
                ["snap_kernel", "snap_try_kernel"]
                    .iter()
                    .filter_map(|k| g.get(k))
                    .map(str::to_string),
            );
        }
        files.retain(|f| !f.is_empty());
        files
    }

    /// Removes an installed snap file nothing boots and the kernel assets staged for it.
    fn remove_staged(&self, snaps_dir: &Path, file: &str) {
        let _ = std::fs::remove_file(snaps_dir.join(file));
        if let Some(boot) = self.ctx.boot_dir {
            let _ = std::fs::remove_dir_all(boot.join("EFI/ubuntu").join(file));
        }
    }

    fn write_record(&self) -> Result<()> {
        let path = Path::new(WRITABLE).join(update::APPLIED_PATH);
        write_synced(&path, self.record.encode().as_bytes())
    }
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
    bootenv::write(boot, &next_grub, Order::Staging)?;
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

/// The installed files of snap `name` with the same digest (sizes compared first).
fn installed_same(
    dir: &Path,
    existing: &[String],
    name: &str,
    digest: &crate::snap::SnapDigest,
) -> Result<Vec<String>> {
    let prefix = format!("{name}_");
    let mut same = Vec::new();
    for file in existing.iter().filter(|f| f.starts_with(&prefix)) {
        let path = dir.join(file);
        if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(digest.size) {
            continue;
        }
        if crate::snap::digest(&path)?.sha3_384 == digest.sha3_384 {
            same.push(file.clone());
        }
    }
    Ok(same)
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
