//! The only place that spawns external processes.
//!
//! Every tool snapsmith drives (mke2fs, qemu-img, qemu-system-*, ...) goes through [`Cmd`]:
//! stdin is null unless bytes are given, the argv is logged at debug level, and a failure
//! carries the exit status and the tail of stderr. A missing tool is reported with the Debian
//! package that provides it.

use anyhow::{Context, Result, bail};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Tools snapsmith may run, with the Debian package that ships each.
const PACKAGES: &[(&str, &str)] = &[
    ("mke2fs", "e2fsprogs"),
    ("mkfs.ext4", "e2fsprogs"),
    ("e2fsck", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("dumpe2fs", "e2fsprogs"),
    ("blkid", "util-linux"),
    ("setpriv", "util-linux"),
    ("mksquashfs", "squashfs-tools"),
    ("unsquashfs", "squashfs-tools"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("qemu-img", "qemu-utils"),
    ("qemu-io", "qemu-utils"),
    ("grub-mkimage", "grub-common"),
    ("grub-editenv", "grub-common"),
    ("grub-script-check", "grub-common"),
    ("sfdisk", "fdisk"),
    ("fdisk", "fdisk"),
    ("fsck.vfat", "dosfstools"),
    ("mcopy", "mtools"),
    ("mdir", "mtools"),
    ("mmd", "mtools"),
    ("gpg", "gpg"),
    ("openssl", "openssl"),
    ("apt-get", "apt"),
    ("apt-cache", "apt"),
    ("dpkg", "dpkg"),
    ("xz", "xz-utils"),
    ("zstd", "zstd"),
    ("dpkg-deb", "dpkg"),
    ("dd", "coreutils"),
];

/// The Debian package that provides `tool`, when snapsmith knows it.
pub fn package_of(tool: &str) -> Option<&'static str> {
    PACKAGES.iter().find(|(t, _)| *t == tool).map(|(_, p)| *p)
}

/// Finds `tool` on PATH (also /usr/sbin and /sbin, where Debian puts mkfs tools).
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = [OsString::from("/usr/sbin"), OsString::from("/sbin")];
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// Resolves `tool` or fails with a message naming the package to install.
pub fn require(tool: &str) -> Result<PathBuf> {
    match which(tool) {
        Some(path) => Ok(path),
        None => match package_of(tool) {
            Some(pkg) => {
                bail!("required tool `{tool}` not found (install the Debian package `{pkg}`)")
            }
            None => bail!("required tool `{tool}` not found"),
        },
    }
}

/// A command to run: builder over [`std::process::Command`] with snapsmith's conventions.
#[derive(Debug)]
pub struct Cmd {
    program: String,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Feeds these bytes on stdin (otherwise stdin is null).
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The command line, for logs and error messages.
    pub fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    fn command(&self) -> Result<Command> {
        let path = require(&self.program)?;
        let mut cmd = Command::new(path);
        cmd.args(&self.args);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        Ok(cmd)
    }

    /// Runs to completion, capturing stdout and stderr; non-zero exit is an error.
    pub fn output(&self) -> Result<Output> {
        let out = self.output_any_status()?;
        if !out.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                self.display(),
                out.status,
                stderr_tail(&out.stderr)
            );
        }
        Ok(out)
    }

    /// Runs to completion, capturing stdout and stderr, whatever the exit status (for tools
    /// whose exit status is an answer, such as fsck). Only a failure to run is an error.
    pub fn output_any_status(&self) -> Result<Output> {
        let mut cmd = self.command()?;
        tracing::debug!(cmd = %self.display(), "running");
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting `{}`", self.display()))?;
        if let Some(bytes) = &self.stdin {
            let mut pipe = child.stdin.take().expect("stdin was piped");
            pipe.write_all(bytes)
                .with_context(|| format!("writing stdin of `{}`", self.program))?;
        }
        child
            .wait_with_output()
            .with_context(|| format!("waiting for `{}`", self.program))
    }

    /// Runs to completion and returns stdout as text.
    pub fn run_string(&self) -> Result<String> {
        let out = self.output()?;
        String::from_utf8(out.stdout)
            .with_context(|| format!("output of `{}` is not UTF-8", self.program))
    }

    /// Runs to completion, discarding output.
    pub fn run(&self) -> Result<()> {
        self.output().map(|_| ())
    }

    /// Starts the process with the given stdio, for long-running children such as QEMU.
    pub fn spawn(&self, stdout: Stdio, stderr: Stdio) -> Result<Child> {
        let mut cmd = self.command()?;
        tracing::debug!(cmd = %self.display(), "spawning");
        cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        cmd.spawn()
            .with_context(|| format!("starting `{}`", self.display()))
    }
}

/// The last kilobyte of a process's stderr, trimmed, for error messages.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let start = text.len().saturating_sub(1024);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    if text.is_empty() {
        "no error output".to_string()
    } else {
        text[start..].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_command_and_stderr() {
        let err = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run()
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn missing_tool_names_package() {
        let err = require("definitely-not-a-tool-xyz").unwrap_err();
        assert!(err.to_string().contains("not found"));
        assert_eq!(package_of("mke2fs"), Some("e2fsprogs"));
    }

    #[test]
    fn stdin_is_fed() {
        let out = Cmd::new("cat").stdin_bytes("hello").run_string().unwrap();
        assert_eq!(out, "hello");
    }
}
