//! The run-mode boot state machine as pure functions: which base the initramfs boots and what it
//! writes first (`base_status` try -> trying -> rollback), whether the booted kernel may run
//! (the `current_kernels` gate), what a good boot commits and what a rolled-back try leaves to
//! clean up, and how an update is staged. The runtime does only the reading and writing around
//! these; docs/agent.md describes the protocol they implement.
//!
//! The kernel's state lives in ubuntu-boot's grubenv (`kernel_status`, `snap_kernel`,
//! `snap_try_kernel`; GRUB turns `try` into `trying` and `trying` into empty), the base's in
//! modeenv (`base_status`, `base`, `try_base`; the initramfs does the same two steps).

use super::grubenv::{Grubenv, GrubenvError};
use super::modeenv::Modeenv;
use thiserror::Error;

/// grubenv key: `""`, `try` or `trying`.
pub const KERNEL_STATUS: &str = "kernel_status";
/// grubenv key: the committed kernel snap file name.
pub const SNAP_KERNEL: &str = "snap_kernel";
/// grubenv key: the kernel snap file under trial.
pub const SNAP_TRY_KERNEL: &str = "snap_try_kernel";
/// Status: an update was staged and the next boot tries it.
pub const TRY: &str = "try";
/// Status: the try boot is under way; seeing it again at boot means it never committed.
pub const TRYING: &str = "trying";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StateError {
    #[error("kernel {0} is not in current_kernels")]
    KernelNotCurrent(String),
    #[error("modeenv names no base")]
    NoBase,
    #[error("modeenv base_status is {0} but try_base is empty")]
    NoTryBase(String),
    #[error("modeenv base_status {0:?} is not empty, try or trying")]
    BadStatus(String),
    #[error(transparent)]
    Grubenv(#[from] GrubenvError),
}

/// How the initramfs boots the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseBoot {
    /// The base snap file to loop-mount.
    pub base: String,
    /// The modeenv to write (and fsync) before mounting it, when the state moves.
    pub write: Option<Modeenv>,
}

/// The initramfs's kernel gate: the booted kernel must be one modeenv knows.
pub fn check_kernel(env: &Modeenv, kernel: &str) -> Result<(), StateError> {
    if env.current_kernels.iter().any(|k| k == kernel) {
        Ok(())
    } else {
        Err(StateError::KernelNotCurrent(kernel.to_string()))
    }
}

/// The initramfs's base step: `try` -> write `trying`, boot try_base; `trying` (the try boot
/// never committed) -> write empty, boot base; otherwise boot base.
pub fn choose_base(env: &Modeenv) -> Result<BaseBoot, StateError> {
    if env.base.is_empty() {
        return Err(StateError::NoBase);
    }
    let with_status = |status: &str| {
        let mut next = env.clone();
        next.base_status = status.to_string();
        Some(next)
    };
    match env.base_status.as_str() {
        "" => Ok(BaseBoot {
            base: env.base.clone(),
            write: None,
        }),
        TRY if env.try_base.is_empty() => Err(StateError::NoTryBase(TRY.into())),
        TRY => Ok(BaseBoot {
            base: env.try_base.clone(),
            write: with_status(TRYING),
        }),
        TRYING => Ok(BaseBoot {
            base: env.base.clone(),
            write: with_status(""),
        }),
        other => Err(StateError::BadStatus(other.to_string())),
    }
}

/// Something the agent did to the boot state; each has its console marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    CommitKernel(String),
    CommitBase(String),
    RollbackKernel { tried: String, running: String },
    RollbackBase { tried: String, running: String },
}

impl Event {
    /// The marker text after `snapsmith: `.
    pub fn marker(&self) -> String {
        match self {
            Event::CommitKernel(k) => format!("commit kernel={k}"),
            Event::CommitBase(b) => format!("commit base={b}"),
            Event::RollbackKernel { tried, running } => {
                format!("rollback kernel={tried} running={running}")
            }
            Event::RollbackBase { tried, running } => {
                format!("rollback base={tried} running={running}")
            }
        }
    }
}

/// True when this boot tries something: the booted kernel is the one grubenv has `trying`, or
/// the booted base the one modeenv has `trying`. Only a try boot has something to fall back to.
pub fn is_try_boot(env: &Modeenv, grubenv: Option<&Grubenv>, kernel: &str, base: &str) -> bool {
    let kernel_try = grubenv.is_some_and(|g| {
        g.get(KERNEL_STATUS) == Some(TRYING) && g.get(SNAP_TRY_KERNEL) == Some(kernel)
    });
    kernel_try || (env.base_status == TRYING && env.try_base == base)
}

/// What a healthy boot writes: grubenv first, then modeenv (the order the contract fixes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settle {
    pub grubenv: Option<Grubenv>,
    pub modeenv: Option<Modeenv>,
    pub events: Vec<Event>,
}

/// Commit of a good boot and cleanup after a rollback, given the booted kernel and base.
/// `grubenv` is `None` where there is no ubuntu-boot grubenv (the kernel state is then left
/// alone).
pub fn settle(env: &Modeenv, grubenv: Option<&Grubenv>, kernel: &str, base: &str) -> Settle {
    let mut out = Settle::default();
    let mut modeenv = env.clone();
    if let Some(g) = grubenv {
        let status = g.get(KERNEL_STATUS).unwrap_or("");
        let tried = g.get(SNAP_TRY_KERNEL).unwrap_or("").to_string();
        let mut next = g.clone();
        let mut set = |k: &str, v: &str| {
            // Keys come from constants, which are valid names.
            let _ = next.set(k, v);
        };
        if status == TRYING && tried == kernel {
            set(SNAP_KERNEL, kernel);
            set(SNAP_TRY_KERNEL, "");
            set(KERNEL_STATUS, "");
            modeenv.current_kernels = vec![kernel.to_string()];
            out.events.push(Event::CommitKernel(kernel.to_string()));
        } else if status != TRY && !tried.is_empty() && tried != kernel {
            // GRUB went back to snap_kernel (or a trying boot ran the old kernel).
            set(SNAP_TRY_KERNEL, "");
            set(KERNEL_STATUS, "");
            modeenv.current_kernels.retain(|k| *k != tried);
            out.events.push(Event::RollbackKernel {
                tried,
                running: kernel.to_string(),
            });
        }
        if next != *g {
            out.grubenv = Some(next);
        }
    }
    match modeenv.base_status.as_str() {
        TRYING if modeenv.try_base == base => {
            modeenv.base = base.to_string();
            modeenv.try_base.clear();
            modeenv.base_status.clear();
            out.events.push(Event::CommitBase(base.to_string()));
        }
        "" if !modeenv.try_base.is_empty() => {
            let tried = std::mem::take(&mut modeenv.try_base);
            out.events.push(Event::RollbackBase {
                tried,
                running: base.to_string(),
            });
        }
        _ => {}
    }
    if modeenv != *env {
        out.modeenv = Some(modeenv);
    }
    out
}

/// Stages a kernel snap file already on ubuntu-data with its assets on ubuntu-boot: modeenv
/// first lists it in current_kernels (so the gate lets it boot), then grubenv asks GRUB to try it.
pub fn stage_kernel(
    env: &Modeenv,
    grubenv: &Grubenv,
    file: &str,
) -> Result<(Modeenv, Grubenv), StateError> {
    let mut modeenv = env.clone();
    if !modeenv.current_kernels.iter().any(|k| k == file) {
        modeenv.current_kernels.push(file.to_string());
    }
    let mut g = grubenv.clone();
    g.set(SNAP_TRY_KERNEL, file)?;
    g.set(KERNEL_STATUS, TRY)?;
    Ok((modeenv, g))
}

/// Stages a base snap file already on ubuntu-data: the next initramfs tries it.
pub fn stage_base(env: &Modeenv, file: &str) -> Modeenv {
    let mut modeenv = env.clone();
    modeenv.try_base = file.to_string();
    modeenv.base_status = TRY.to_string();
    modeenv
}

/// The file name a newly installed local snap gets: `<name>_x<N+1>.snap`, N the highest local
/// revision among `existing` file names of that snap (0 when none).
pub fn next_local_file(name: &str, existing: &[String]) -> String {
    let prefix = format!("{name}_x");
    let highest = existing
        .iter()
        .filter_map(|f| f.strip_prefix(&prefix)?.strip_suffix(".snap"))
        .filter_map(|n| n.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("{name}_x{}.snap", highest.saturating_add(1))
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
