//! Fetches the current Debian kernel image package with `apt-get download` into a cache
//! directory, so the example kernel snap needs no manual download. The `linux-image-<arch>`
//! meta package names the real package (its version moves on with Debian's updates).

use crate::exec::Cmd;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The real kernel package the `linux-image-<arch>` meta package depends on, from
/// `apt-cache depends` output.
pub fn kernel_package_from_depends(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-"))
        .map(str::to_string)
}

/// The candidate `Version:` of a package from `apt-cache show --no-all-versions` output.
pub fn version_from_show(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(|v| v.trim().to_string())
}

/// Returns the cached package file for the current Debian kernel, downloading it if needed.
pub fn debian_kernel_deb(cache: &Path) -> Result<PathBuf> {
    let arch = Cmd::new("dpkg").arg("--print-architecture").run_string()?;
    let arch = arch.trim();
    let meta = format!("linux-image-{arch}");
    let depends = Cmd::new("apt-cache")
        .args(["depends", &meta])
        .run_string()?;
    let Some(package) = kernel_package_from_depends(&depends) else {
        bail!("apt-cache names no kernel package for {meta} (run apt-get update?)");
    };
    let show = Cmd::new("apt-cache")
        .args(["show", "--no-all-versions", &package])
        .run_string()?;
    let version = version_from_show(&show)
        .with_context(|| format!("apt-cache shows no version for {package}"))?;
    let file = cache.join(format!(
        "{package}_{}_{arch}.deb",
        version.replace(':', "%3a")
    ));
    if file.is_file() {
        return Ok(file);
    }
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    // Download into a private directory first so a failed download leaves nothing behind.
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache)
        .with_context(|| format!("creating a download directory in {}", cache.display()))?;
    Cmd::new("apt-get")
        .args(["download", &format!("{package}={version}")])
        .current_dir(tmp.path())
        .run()
        .with_context(|| format!("downloading {package} {version}"))?;
    let name = file.file_name().context("package file name")?;
    std::fs::rename(tmp.path().join(name), &file)
        .with_context(|| format!("apt-get download did not produce {}", file.display()))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apt_cache_output() {
        let depends = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n";
        assert_eq!(
            kernel_package_from_depends(depends).as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        assert_eq!(kernel_package_from_depends("x\n  Depends: foo\n"), None);
        let show = "Package: linux-image-6.1.0-56-amd64\nVersion: 6.1.192-2\n";
        assert_eq!(version_from_show(show).as_deref(), Some("6.1.192-2"));
    }
}
