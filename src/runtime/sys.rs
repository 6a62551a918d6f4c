//! Thin wrappers over the Linux system calls the init needs and std does not offer: module
//! loading, reboot, chroot into a moved root, and re-attaching the console.

use anyhow::{Context, Result, bail};
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).context("path contains a NUL byte")
}

/// Loads a kernel module from a file with `finit_module`. Already loaded is not an error.
pub fn load_module(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let params = c"";
    // SAFETY: the fd is open for the call's duration and params is a NUL-terminated string.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), 0) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EEXIST) {
            return Err(err).with_context(|| format!("loading module {}", path.display()));
        }
    }
    Ok(())
}

/// Points stdin, stdout and stderr at /dev/console (the kernel may have found no console node).
pub fn attach_console() {
    if let Ok(console) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this process.
            unsafe { libc::dup2(console.as_raw_fd(), fd) };
        }
    }
}

/// Flushes filesystems and restarts the machine; returns only if the kernel refused.
pub fn reboot() {
    // SAFETY: plain system calls without pointers.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_AUTOBOOT);
    }
}

/// Makes `new_root` (a mount point) the root: moves it onto `/`, chroots and changes into it.
pub fn switch_root(new_root: &Path) -> Result<()> {
    std::env::set_current_dir(new_root)
        .with_context(|| format!("entering {}", new_root.display()))?;
    sys_mount::Mount::builder()
        .fstype("none")
        .flags(sys_mount::MountFlags::MOVE)
        .mount(".", "/")
        .context("moving the new root onto /")?;
    std::os::unix::fs::chroot(".").context("chroot into the new root")?;
    std::env::set_current_dir("/").context("entering the new root")?;
    Ok(())
}

/// Replaces this process with `program` (argv[0] = program). Returns only on failure.
pub fn exec(program: &str) -> anyhow::Error {
    let c = match cstring(Path::new(program)) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let argv = [c.as_ptr(), std::ptr::null()];
    // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call.
    unsafe { libc::execv(c.as_ptr(), argv.as_ptr()) };
    anyhow::Error::new(std::io::Error::last_os_error()).context(format!("executing {program}"))
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Fails unless `path` exists, possibly as a dangling symlink (absolute links in a base
/// resolve only after the switch).
pub fn require_entry(path: &Path, what: &str) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        bail!("{what} {} not found", path.display());
    }
    Ok(())
}

/// Flushes filesystems and powers the machine off; returns only if the kernel refused.
pub fn poweroff() {
    // SAFETY: plain system calls without pointers.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
}

/// Remounts the filesystem at `target` read-only or read-write. Read-only, the next boot needs
/// no journal recovery, and a FAT filesystem's dirty bit is cleared.
pub fn remount(target: &Path, readonly: bool) -> Result<()> {
    let c = cstring(target)?;
    let flags = libc::MS_REMOUNT | if readonly { libc::MS_RDONLY } else { 0 };
    // SAFETY: valid C strings; a remount passes no source, type or data.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            c.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let how = if readonly { "read-only" } else { "read-write" };
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("remounting {} {how}", target.display()));
    }
    Ok(())
}

/// Runs `f` with the filesystem at `dir` (when there is one) writable, and makes it read-only
/// again afterwards, whatever `f` returned: a reset or power cut outside these windows finds
/// it clean.
pub fn writable<T>(dir: Option<&Path>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if let Some(dir) = dir {
        remount(dir, false)?;
    }
    let result = f();
    if let Some(dir) = dir {
        let back = remount(dir, true);
        if result.is_ok() {
            back?;
        }
    }
    result
}

/// Reaps the children that have exited, without waiting.
pub fn reap_exited() {
    // SAFETY: waitpid with a null status pointer is allowed.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// Reaps exited children forever (PID 1's duty once it has nothing else to do).
pub fn reap_forever() -> ! {
    loop {
        // SAFETY: waitpid with a null status pointer is allowed.
        let rc = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
        if rc < 0 {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}
