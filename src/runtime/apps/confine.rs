//! Strict confinement of one app process, entered in the child between fork and exec: a private
//! mount namespace whose root is the app's base (`/snap/<base>/<rev>`) with the host's /dev,
//! /proc, /sys, /snap, /var/snap and /writable bound in and a private /tmp (snap-confine's
//! layout: other snaps' data stays visible), then the snap's own unprivileged uid,
//! `no_new_privs`, a Landlock rule set (read/execute on its snap and the base, read/write on its
//! `SNAP_DATA` and `SNAP_COMMON`, nothing else of ubuntu-data) and a seccomp filter that
//! returns EPERM for the dangerous calls. devmode and classic snaps run unconfined.

use super::spawn::AppContext;
use crate::snap::apps::Confinement;
use anyhow::{Context, Result, bail};
use landlock::{
    ABI, Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::Path;

/// The Landlock ABI of Linux 6.1 (the example's Debian kernel).
const LANDLOCK_ABI: ABI = ABI::V2;

/// Host directories bound into the app's root (snap-confine binds more: these are the ones a
/// snapsmith base has).
const BINDS: [&str; 6] = ["dev", "proc", "sys", "snap", "var/snap", "writable"];

/// Top-level directories of the base that are not the base's own files: they hold other
/// mounts, and are granted one by one or not at all.
const NOT_BASE: [&str; 8] = [
    "dev", "proc", "sys", "snap", "var", "writable", "tmp", "run",
];

/// Everything [`enter`] needs, prepared before the fork.
pub struct Sandbox {
    strict: bool,
    uid: u32,
    root: String,
    snap_dir: String,
    data: String,
    common: String,
    seccomp: [BpfProgram; 2],
}

impl Sandbox {
    /// The sandbox of `ctx`'s snap (unconfined unless strict).
    pub fn for_app(ctx: &AppContext) -> Result<Sandbox> {
        Ok(Sandbox {
            strict: ctx.confinement == Confinement::Strict,
            uid: ctx.uid,
            root: ctx.base_root.clone(),
            snap_dir: format!("/snap/{}/{}", ctx.snap, ctx.revision),
            data: format!("/var/snap/{}/{}", ctx.snap, ctx.revision),
            common: format!("/var/snap/{}/common", ctx.snap),
            seccomp: seccomp_programs()?,
        })
    }
}

/// The seccomp filter: EPERM for mounts, module loading, kexec, ptrace and other processes'
/// memory, new user namespaces (unshare/clone with CLONE_NEWUSER), setns, pivot_root, chroot,
/// reboot, swap, BPF and keyrings; clone3 gets ENOSYS so that libc falls back to clone, whose
/// flags the filter can see (two programs: one filter has one action for its matches).
pub fn seccomp_programs() -> Result<[BpfProgram; 2]> {
    let newuser = u64::try_from(libc::CLONE_NEWUSER).context("CLONE_NEWUSER")?;
    let flag_rule = |arg| -> Result<SeccompRule> {
        let cond = SeccompCondition::new(
            arg,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(newuser),
            newuser,
        )?;
        Ok(SeccompRule::new(vec![cond])?)
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = [
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_setns,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_bpf,
        libc::SYS_add_key,
        libc::SYS_keyctl,
        libc::SYS_request_key,
        libc::SYS_open_by_handle_at,
        libc::SYS_userfaultfd,
        libc::SYS_acct,
    ]
    .into_iter()
    .map(|nr| (nr, Vec::new()))
    .collect();
    rules.insert(libc::SYS_unshare, vec![flag_rule(0)?]);
    rules.insert(libc::SYS_clone, vec![flag_rule(0)?]);
    let arch = seccompiler::TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| anyhow::anyhow!("seccomp for {}: {e}", std::env::consts::ARCH))?;
    let eperm = u32::try_from(libc::EPERM).context("EPERM")?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(eperm),
        arch,
    )?;
    let program: BpfProgram = filter.try_into()?;
    let enosys = u32::try_from(libc::ENOSYS).context("ENOSYS")?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(enosys),
        arch,
    )?;
    let clone3: BpfProgram = clone3.try_into()?;
    Ok([program, clone3])
}

fn apply_seccomp(programs: &[BpfProgram; 2]) -> Result<()> {
    for program in programs {
        seccompiler::apply_filter(program).context("installing the seccomp filter")?;
    }
    Ok(())
}

/// Enters the sandbox (in the child, before exec); a no-op for devmode and classic snaps.
pub fn enter(s: &Sandbox) -> Result<()> {
    if !s.strict {
        return Ok(());
    }
    private_root(&s.root)?;
    let rules = landlock_rules(s)?;
    drop_privileges(s.uid)?;
    let status = rules
        .restrict_self()
        .context("enforcing the Landlock rule set")?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        bail!(
            "the kernel does not fully enforce Landlock ({:?})",
            status.ruleset
        );
    }
    apply_seccomp(&s.seccomp)
}

fn sys(rc: libc::c_int, what: &str) -> Result<()> {
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| what.to_string());
    }
    Ok(())
}

fn c(path: &str) -> Result<CString> {
    CString::new(path).context("path contains a NUL byte")
}

/// `mount(2)` with optional source, type and data.
fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<()> {
    let (src, target) = (src.map(c).transpose()?, c(target)?);
    let (fstype, data) = (fstype.map(c).transpose()?, data.map(c).transpose()?);
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is null or a valid C string that outlives the call.
    let rc = unsafe {
        libc::mount(
            ptr(&src),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    sys(rc, &format!("mounting {}", target.to_string_lossy()))
}

/// A new mount namespace whose root is `root`, with [`BINDS`] and a private /tmp.
fn private_root(root: &str) -> Result<()> {
    // SAFETY: a plain system call.
    sys(
        unsafe { libc::unshare(libc::CLONE_NEWNS) },
        "unshare(CLONE_NEWNS)",
    )?;
    mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    let rbind = libc::MS_BIND | libc::MS_REC;
    mount(Some(root), root, None, rbind, None)?;
    for dir in BINDS {
        mount(
            Some(&format!("/{dir}")),
            &format!("{root}/{dir}"),
            None,
            rbind,
            None,
        )?;
    }
    mount(
        Some("tmpfs"),
        &format!("{root}/tmp"),
        Some("tmpfs"),
        0,
        Some("mode=1777"),
    )?;
    let (r, dot, slash) = (c(root)?, c(".")?, c("/")?);
    // SAFETY: plain system calls with valid C strings; pivot_root(".", ".") stacks the old
    // root under the new one, and the detach removes it.
    unsafe {
        sys(libc::chdir(r.as_ptr()), "entering the base")?;
        let rc = libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr());
        sys(i32::try_from(rc).unwrap_or(-1), "pivot_root into the base")?;
        sys(
            libc::umount2(dot.as_ptr(), libc::MNT_DETACH),
            "detaching the old root",
        )?;
        sys(libc::chdir(slash.as_ptr()), "entering /")?;
    }
    Ok(())
}

/// The rule set, built while the paths can still be opened as root.
fn landlock_rules(s: &Sandbox) -> Result<landlock::RulesetCreated> {
    let read = AccessFs::from_read(LANDLOCK_ABI);
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let mut grants: Vec<(String, landlock::BitFlags<AccessFs>)> = Vec::new();
    for entry in std::fs::read_dir("/").context("listing the base")? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !NOT_BASE.contains(&name.as_str()) {
            grants.push((format!("/{name}"), read));
        }
    }
    if let Ok(var) = std::fs::read_dir("/var") {
        for entry in var.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != "snap" {
                grants.push((format!("/var/{name}"), read));
            }
        }
    }
    grants.push((s.snap_dir.clone(), read));
    grants.push((s.data.clone(), all));
    grants.push((s.common.clone(), all));
    grants.push(("/tmp".into(), all));
    grants.push(("/proc".into(), read));
    grants.push(("/dev".into(), read | AccessFs::WriteFile));
    let mut ruleset = Ruleset::default()
        .handle_access(all)?
        .create()
        .context("creating the Landlock rule set")?;
    for (path, access) in grants {
        if !Path::new(&path).exists() {
            continue;
        }
        let fd = PathFd::new(&path).with_context(|| format!("opening {path} for Landlock"))?;
        ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
    }
    Ok(ruleset)
}

/// The snap's own uid and gid, no supplementary groups, and `no_new_privs`.
fn drop_privileges(uid: u32) -> Result<()> {
    // SAFETY: plain system calls; setgroups gets an empty list.
    unsafe {
        sys(libc::setgroups(0, std::ptr::null()), "setgroups")?;
        sys(libc::setgid(uid), "setgid")?;
        sys(libc::setuid(uid), "setuid")?;
        sys(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            "no_new_privs",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `probe` in a forked child under the seccomp filter; returns its exit code.
    fn under_filter(probe: fn() -> i32) -> i32 {
        let programs = seccomp_programs().unwrap();
        // SAFETY: the child only makes system calls and leaves with _exit.
        unsafe {
            let pid = libc::fork();
            if pid == 0 {
                let code = if apply_seccomp(&programs).is_ok() {
                    probe()
                } else {
                    100
                };
                libc::_exit(code);
            }
            let mut status = 0;
            libc::waitpid(pid, &raw mut status, 0);
            libc::WEXITSTATUS(status)
        }
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    #[test]
    fn seccomp_denies_user_namespaces_and_mounts_with_eperm() {
        let userns = under_filter(|| {
            // SAFETY: a plain system call.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWUSER) };
            if rc == 0 { 0 } else { errno() }
        });
        assert_eq!(userns, libc::EPERM);
        let mount = under_filter(|| {
            // SAFETY: a plain system call with valid C strings.
            let rc = unsafe {
                libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            if rc == 0 { 0 } else { errno() }
        });
        assert_eq!(mount, libc::EPERM);
        let clone3 = under_filter(|| {
            // SAFETY: clone3 with a null argument fails before doing anything.
            let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0) };
            if rc == 0 { 0 } else { errno() }
        });
        assert_eq!(clone3, libc::ENOSYS);
        let allowed = under_filter(|| {
            // SAFETY: getpid has no arguments; unshare of a mount namespace is not filtered.
            let pid = unsafe { libc::getpid() };
            if pid > 0 { 0 } else { 1 }
        });
        assert_eq!(allowed, 0, "ordinary calls pass the filter");
    }
}
