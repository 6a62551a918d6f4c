//! How one app process (a daemon or a hook) is started: snapd's environment
//! (`snap/snapenv/snapenv.go`, `snap-confine`), snap-exec's command line (`$SNAP/<command>`
//! with `$VAR` expanded in the arguments) and, for strict snaps, the confinement applied in the
//! child between fork and exec ([`super::confine`]).

use super::confine::{self, Sandbox};
use crate::snap::apps::Confinement;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// What an app process needs to know of its snap.
#[derive(Debug, Clone)]
pub struct AppContext {
    pub snap: String,
    pub version: String,
    pub revision: String,
    pub confinement: Confinement,
    /// The unprivileged uid (and gid) a strict snap runs as.
    pub uid: u32,
    /// The base's root as mounted for the app: /snap/<base>/current, or `/` for the running base.
    pub base_root: String,
}

/// The dpkg name of this machine's architecture (`SNAP_ARCH`).
pub fn dpkg_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        other => other,
    }
}

/// snapd's environment for an app of `ctx`, with the snap's and the app's `environment:` on top.
pub fn environment(ctx: &AppContext, extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let snap = format!("/snap/{}/{}", ctx.snap, ctx.revision);
    let data = format!("/var/snap/{}/{}", ctx.snap, ctx.revision);
    let mut env: BTreeMap<String, String> = [
        ("SNAP", snap.clone()),
        ("SNAP_NAME", ctx.snap.clone()),
        ("SNAP_INSTANCE_NAME", ctx.snap.clone()),
        ("SNAP_INSTANCE_KEY", String::new()),
        ("SNAP_VERSION", ctx.version.clone()),
        ("SNAP_REVISION", ctx.revision.clone()),
        ("SNAP_ARCH", dpkg_arch().to_string()),
        ("SNAP_DATA", data.clone()),
        ("SNAP_COMMON", format!("/var/snap/{}/common", ctx.snap)),
        (
            "SNAP_LIBRARY_PATH",
            "/var/lib/snapd/lib/gl:/var/lib/snapd/lib/gl32:/var/lib/snapd/void".to_string(),
        ),
        ("HOME", data),
        ("TMPDIR", "/tmp".to_string()),
        (
            "PATH",
            format!(
                "{snap}/usr/sbin:{snap}/usr/bin:{snap}/sbin:{snap}/bin:/usr/local/sbin:\
                 /usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        let expanded = expand(v, &env);
        env.insert(k.clone(), expanded);
    }
    env
}

/// Expands `$VAR` and `${VAR}` from `env` (unknown names become empty, as snap-exec does).
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => ("", after),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(env.get(name).map_or("", String::as_str));
        }
        rest = next;
    }
    out.push_str(rest);
    out
}

/// The program and arguments snap-exec would run for `command` (relative to `$SNAP`).
pub fn argv(command: &str, env: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut words = command.split_whitespace();
    let Some(program) = words.next() else {
        bail!("empty command")
    };
    let snap = env.get("SNAP").context("SNAP is not set")?;
    let mut out = vec![format!("{snap}/{}", program.trim_start_matches('/'))];
    out.extend(words.map(|w| expand(w, env)));
    Ok(out)
}

/// Starts `command` of the snap in `ctx`, confined as its snap says; output goes to the console.
pub fn start(ctx: &AppContext, command: &str, extra: &BTreeMap<String, String>) -> Result<u32> {
    let env = environment(ctx, extra);
    let argv = argv(command, &env)?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(&env)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let sandbox = Sandbox::for_app(ctx)?;
    // SAFETY: the closure runs in the forked child before exec; the supervisor that forks is
    // single-threaded, so the allocations and system calls in it cannot deadlock.
    unsafe {
        cmd.pre_exec(move || {
            // The supervisor blocks SIGCHLD and SIGTERM to wait for them: the app starts with
            // an empty mask and default dispositions.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &raw const set, std::ptr::null_mut());
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            // Its own session and process group, which the supervisor signals as a whole.
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            confine::enter(&sandbox).map_err(std::io::Error::other)
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {} of snap {}", argv[0], ctx.snap))?;
    Ok(child.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> AppContext {
        AppContext {
            snap: "counter".into(),
            version: "1.0".into(),
            revision: "x1".into(),
            confinement: Confinement::Strict,
            uid: 70001,
            base_root: "/".into(),
        }
    }

    #[test]
    fn environment_is_snapds() {
        let extra = BTreeMap::from([("STATE".to_string(), "$SNAP_DATA/state".to_string())]);
        let env = environment(&ctx(), &extra);
        assert_eq!(env["SNAP"], "/snap/counter/x1");
        assert_eq!(env["SNAP_DATA"], "/var/snap/counter/x1");
        assert_eq!(env["SNAP_COMMON"], "/var/snap/counter/common");
        assert_eq!(env["SNAP_REVISION"], "x1");
        assert_eq!(env["SNAP_INSTANCE_NAME"], "counter");
        assert_eq!(env["SNAP_INSTANCE_KEY"], "");
        assert_eq!(env["SNAP_ARCH"], dpkg_arch());
        assert!(env["PATH"].starts_with("/snap/counter/x1/usr/sbin:"));
        assert_eq!(env["STATE"], "/var/snap/counter/x1/state");
    }

    #[test]
    fn command_runs_from_the_snap_with_arguments_expanded() {
        let env = environment(&ctx(), &BTreeMap::new());
        let got = argv("bin/run --dir $SNAP_COMMON ${SNAP_NAME}x $NOPE", &env).unwrap();
        assert_eq!(
            got,
            [
                "/snap/counter/x1/bin/run",
                "--dir",
                "/var/snap/counter/common",
                "counterx",
                ""
            ]
        );
        assert!(argv("   ", &env).is_err());
        assert_eq!(expand("a$", &env), "a$");
    }
}
