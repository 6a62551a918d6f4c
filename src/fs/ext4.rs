//! ext4 built in place with `mke2fs -d`: the plan's tree is staged in a temporary directory with
//! normalised times and modes, then mke2fs writes the filesystem straight into the image at the
//! partition's byte offset (`-E offset=`) with an explicit block count, so nothing outside the
//! partition is touched.
//!
//! Reproducibility: e2fsprogs 1.47.0 has no SOURCE_DATE_EPOCH, so the build time goes in
//! through `E2FSPROGS_FAKE_TIME` and onto every staged file; the UUID (`-U`) and directory hash
//! seed (`-E hash_seed=`) come from the plan; the feature set comes from snapsmith's own
//! mke2fs.conf, not the host's. `-d` also copies owners and change times from the staged
//! files, which cannot be chosen there, so debugfs resets them afterwards to 0:0 and the build
//! time (`-E root_owner=` only covers `/`).

use super::FsOptions;
use crate::exec::Cmd;
use crate::plan::{FileSource, FilesystemPlan};
use anyhow::{Context, Result, bail};
use std::ffi::CString;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// ext4 block size used for every filesystem (also right for 4096-byte sector disks).
pub const BLOCK_SIZE: u64 = 4096;
/// Smallest ext4 snapsmith makes: mke2fs needs room for the journal and metadata.
pub const MIN_SIZE: u64 = 2 * 1024 * 1024;

/// The features snapsmith's ext4 filesystems get, whatever the host's /etc/mke2fs.conf says.
/// No `metadata_csum_seed` or `orphan_file`: GRUB 2.06 refuses the former.
const MKE2FS_CONF: &str = "[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384

[fs_types]
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
";

/// Checks size and label before anything is written.
pub fn check(size: u64, fs: &FilesystemPlan) -> Result<()> {
    if size < MIN_SIZE {
        bail!("a {size}-byte partition is too small for ext4 (at least {MIN_SIZE} bytes)");
    }
    if let Some(label) = &fs.label
        && label.len() > 16
    {
        bail!("ext4 label {label:?} is longer than 16 bytes");
    }
    let mut blocks = 0u64;
    for entry in &fs.files {
        if let FileSource::File(path) = &entry.source {
            let len = fs::metadata(path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            blocks += len.div_ceil(BLOCK_SIZE);
        }
    }
    // Files plus the journal already exceed the partition: say so before mke2fs gets to fail
    // (its "Could not allocate block" names neither file nor amount).
    let journal = journal_blocks(size / BLOCK_SIZE);
    let total = size / BLOCK_SIZE;
    if blocks + journal > total {
        bail!(
            "the files need {} plus a {} journal, {} more than the {} partition",
            crate::units::human(blocks * BLOCK_SIZE),
            crate::units::human(journal * BLOCK_SIZE),
            crate::units::human((blocks + journal - total) * BLOCK_SIZE),
            crate::units::human(size)
        );
    }
    Ok(())
}

/// The journal mke2fs 1.47 makes for a filesystem of `blocks` blocks (ext2fs_default_journal_size).
fn journal_blocks(blocks: u64) -> u64 {
    match blocks {
        b if b < 2048 => 0,
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    }
}

/// Creates the filesystem in `image` at `offset`, `size` bytes long.
pub fn write(
    image: &Path,
    offset: u64,
    size: u64,
    plan: &FilesystemPlan,
    opts: &FsOptions,
) -> Result<()> {
    check(size, plan)?;
    let work = tempfile::tempdir().context("creating a staging directory for ext4")?;
    let tree = work.path().join("tree");
    fs::create_dir(&tree)?;
    stage(&tree, plan, opts)?;
    let conf = work.path().join("mke2fs.conf");
    fs::write(&conf, MKE2FS_CONF)?;
    let blocks = size / BLOCK_SIZE;
    // The image is fresh (all zero) where the filesystem goes, so skipping the zeroing of
    // inode tables and journal is correct and keeps the file sparse.
    let extended = format!(
        "offset={offset},hash_seed={},root_owner=0:0,nodiscard,\
         lazy_itable_init=1,lazy_journal_init=1",
        plan.hash_seed
    );
    let mut cmd = Cmd::new("mke2fs")
        .env("MKE2FS_CONFIG", &conf)
        .env("E2FSPROGS_FAKE_TIME", opts.build_time.to_string())
        .args(["-q", "-F", "-t", "ext4", "-b", "4096"])
        .args(["-U", &plan.uuid.to_string()])
        .args(["-E", &extended])
        .arg("-d")
        .arg(&tree);
    if let Some(label) = &plan.label {
        cmd = cmd.args(["-L", label]);
    }
    cmd.arg(image)
        .arg(blocks.to_string())
        .run()
        .context("creating ext4 with mke2fs")?;
    normalise_inodes(image, offset, plan, opts)
}

/// Writes the plan's tree under `tree` with modes and times that do not depend on the host.
fn stage(tree: &Path, plan: &FilesystemPlan, opts: &FsOptions) -> Result<()> {
    let mut dirs = vec![tree.to_path_buf()];
    for entry in &plan.files {
        crate::interrupt::check()?;
        let target = tree.join(&entry.path);
        let context = || format!("staging {} for ext4", entry.path);
        match &entry.source {
            FileSource::Directory => {
                fs::create_dir_all(&target).with_context(context)?;
                dirs.push(target.clone());
            }
            FileSource::File(source) => {
                // std::io::copy uses copy_file_range here: no buffer in this process.
                let mut input =
                    File::open(source).with_context(|| format!("opening {}", source.display()))?;
                let mut out = File::create(&target).with_context(context)?;
                let n = std::io::copy(&mut input, &mut out).with_context(context)?;
                (opts.progress)(n);
                let mode = input.metadata()?.permissions().mode() & 0o7777;
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
            }
            FileSource::Bytes(bytes) => {
                fs::write(&target, bytes).with_context(context)?;
                fs::set_permissions(&target, fs::Permissions::from_mode(0o644))?;
                (opts.progress)(u64::try_from(bytes.len())?);
            }
            FileSource::Symlink(to) => {
                std::os::unix::fs::symlink(to, &target).with_context(context)?;
            }
        }
        set_times(&target, opts.build_time).with_context(context)?;
    }
    // Directory times last: adding entries changed them.
    for dir in dirs.iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
        set_times(dir, opts.build_time)?;
    }
    Ok(())
}

/// Sets access and modification time of `path` itself (not a symlink's target).
fn set_times(path: &Path, epoch: i64) -> Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    let stamp = libc::timespec {
        tv_sec: epoch,
        tv_nsec: 0,
    };
    let times = [stamp, stamp];
    // SAFETY: a valid NUL-terminated path and a two-element timespec array, as utimensat needs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setting the times of {}", path.display()));
    }
    Ok(())
}

/// Sets what `mke2fs -d` copied from the staged files but cannot be chosen there: the change
/// time (the kernel stamps it with the wall clock) and the owner (the user running snapsmith).
fn normalise_inodes(
    image: &Path,
    offset: u64,
    plan: &FilesystemPlan,
    opts: &FsOptions,
) -> Result<()> {
    let mut script = String::new();
    let time = opts.build_time;
    for entry in &plan.files {
        let path = format!("/{}", entry.path);
        if path.contains(['"', '\n']) {
            bail!("path {path:?} cannot be passed to debugfs");
        }
        for (field, value) in [
            ("uid", "0".to_string()),
            ("gid", "0".to_string()),
            ("ctime", format!("@{time}")),
            ("ctime_extra", "0".to_string()),
        ] {
            script.push_str(&format!("sif \"{path}\" {field} {value}\n"));
        }
    }
    let device: PathBuf = format!("{}?offset={offset}", image.display()).into();
    let out = Cmd::new("debugfs")
        .env("E2FSPROGS_FAKE_TIME", opts.build_time.to_string())
        .args(["-w", "-f", "-"])
        .arg(&device)
        .stdin_bytes(script)
        .output()
        .context("normalising owners and change times with debugfs")?;
    // debugfs exits 0 even when a command fails; anything but its banner on stderr is an error.
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(problem) = stderr.lines().find(|l| !l.starts_with("debugfs ")) {
        bail!("normalising owners and change times with debugfs: {problem}");
    }
    Ok(())
}
