//! Building and running the snapd conformance helper `tests/snapd/snapd-check`, shared by the
//! tests that hold snapsmith against snapd's own code (snapd_interop, snapd_codec,
//! snapd_gadget). The helper is built once per test binary with `go build` in GOPATH mode
//! against /usr/share/gocode (packages golang-go and golang-github-snapcore-snapd-dev, which
//! scripts/setup installs).

use snapsmith::exec::Cmd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const SNAPD_SRC: &str = "/usr/share/gocode/src/github.com/snapcore/snapd/asserts";

/// The built helper, or `None` when the test should be skipped (outside CI only).
pub fn helper() -> Option<PathBuf> {
    if !super::have_tools(&["go"]) {
        return None;
    }
    if !Path::new(SNAPD_SRC).is_dir() {
        super::skip_or_fail("snapd's Go sources are missing (golang-github-snapcore-snapd-dev)");
        return None;
    }
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    Some(
        BUILT
            .get_or_init(|| {
                let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("snapd-check");
                Cmd::new("go")
                    .args(["build", "-o"])
                    .arg(&out)
                    .arg("./tests/snapd/snapd-check")
                    .current_dir(super::repo())
                    .env("GO111MODULE", "off")
                    .env("GOPATH", "/usr/share/gocode")
                    .env(
                        "GOCACHE",
                        Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
                    )
                    .env("GOFLAGS", "")
                    .run()
                    .expect("building tests/snapd/snapd-check");
                out
            })
            .clone(),
    )
}

/// Runs the helper; `Ok(stdout)` on success, `Err(stderr)` on failure.
pub fn snapd(helper: &Path, args: &[&Path]) -> Result<String, String> {
    let mut cmd = std::process::Command::new(helper);
    cmd.args(args);
    let out = cmd.output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Runs snapsmith with the keyring `dir/keys`, a fixed `SOURCE_DATE_EPOCH` and `env`; stdout,
/// or stderr as the error.
pub fn in_keyring(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Vec<u8>, String> {
    let out = super::snapsmith()
        .args(args)
        .env("SNAPSMITH_KEYRING", dir.join("keys"))
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
