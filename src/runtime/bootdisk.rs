//! Where the runtime's partitions come from. With the boot disk's identity on the kernel command
//! line (`snapsmith.disk=` and the partition UUIDs GRUB passes, docs/boot-protocol.md), ubuntu-seed,
//! ubuntu-boot and ubuntu-data are taken only from the one disk whose GPT carries that
//! disk GUID, each by the unique partition UUID the build recorded: a second disk with partitions
//! of the same names is never read. Two disks with the boot disk's GUID refuse the boot. Without
//! an identity (a direct kernel boot) partitions are found by GPT name, as before.
//!
//! The update disk is found by its partition type GUID, on any disk, and only mounted read-only.
//! The GPT is read from the device nodes and parsed by [`crate::boot::diskid`]; sysfs maps an
//! entry's number to the kernel's partition device. Leaf of the runtime beside `shared`.

use super::cmdline::Options;
use super::shared::{block_uevents, find_partition};
use crate::boot::diskid::{self, DiskIds, GptEntry};
use anyhow::{Context, Result, bail};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use sys_mount::{Mount, MountFlags};

/// The partitions of the boot disk the runtime uses (it does not use ubuntu-save yet; the
/// identity carries its UUID for when it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Seed,
    Boot,
    Data,
}

impl Role {
    /// The GPT name a boot without identity looks for.
    pub fn name(self, opts: &Options) -> &str {
        match self {
            Role::Seed => "ubuntu-seed",
            Role::Boot => &opts.boot_partition,
            Role::Data => &opts.data_partition,
        }
    }

    fn uuid(self, ids: &DiskIds) -> &str {
        match self {
            Role::Seed => &ids.seed,
            Role::Boot => &ids.boot,
            Role::Data => &ids.data,
        }
    }
}

/// The whole disks sysfs lists (loop and RAM disks left out), sorted.
fn disks() -> Vec<String> {
    let mut out: Vec<String> = block_uevents()
        .iter()
        .filter(|u| u.lines().any(|l| l == "DEVTYPE=disk"))
        .filter_map(|u| u.lines().find_map(|l| l.strip_prefix("DEVNAME=")))
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram"))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// The disk GUID and used entries of the GPT on `/dev/<disk>`; `None` when it has none.
fn read_gpt(disk: &str) -> Option<(String, Vec<GptEntry>)> {
    let sector =
        std::fs::read_to_string(format!("/sys/class/block/{disk}/queue/logical_block_size"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(512);
    let file = std::fs::File::open(Path::new("/dev").join(disk)).ok()?;
    let mut lba1 = vec![0u8; usize::try_from(sector).ok()?];
    file.read_exact_at(&mut lba1, sector).ok()?;
    let header = diskid::parse_header(&lba1)?;
    let mut table = vec![0u8; header.entries as usize * header.entry_size as usize];
    file.read_exact_at(&mut table, header.entries_lba.checked_mul(sector)?)
        .ok()?;
    Some((
        header.disk_guid.clone(),
        diskid::parse_entries(&header, &table),
    ))
}

/// The kernel's device name of partition `number` of `disk`, once it exists.
fn partition_node(disk: &str, number: u32) -> Option<String> {
    let dir = std::fs::read_dir(format!("/sys/class/block/{disk}")).ok()?;
    dir.filter_map(|e| e.ok())
        .find(|e| {
            std::fs::read_to_string(e.path().join("partition"))
                .is_ok_and(|n| n.trim() == number.to_string())
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| Path::new("/dev").join(name).exists())
}

/// The boot disk and its GPT entries: the one disk whose GUID is `ids.disk`; `None` when no
/// disk has it yet; an error when two have.
fn boot_disk(ids: &DiskIds) -> Result<Option<(String, Vec<GptEntry>)>> {
    let mut found: Vec<(String, Vec<GptEntry>)> = disks()
        .into_iter()
        .filter_map(|d| read_gpt(&d).map(|(guid, entries)| (d, guid, entries)))
        .filter(|(_, guid, _)| *guid == ids.disk)
        .map(|(d, _, entries)| (d, entries))
        .collect();
    if found.len() > 1 {
        let names: Vec<&str> = found.iter().map(|(d, _)| d.as_str()).collect();
        bail!(
            "disks {} all carry the boot disk's GUID {}: refusing to choose",
            names.join(" "),
            ids.disk
        );
    }
    Ok(found.pop())
}

/// The device node of `role`: on the boot disk by its recorded UUID, or (no identity) the
/// partition of that GPT name on any disk. `None` while it has not appeared.
pub fn locate(opts: &Options, role: Role) -> Result<Option<PathBuf>> {
    let name = role.name(opts);
    let Some(ids) = &opts.disk else {
        let uevents = block_uevents();
        let dev = find_partition(uevents.iter().map(String::as_str), name);
        return Ok(dev.map(|d| Path::new("/dev").join(d)));
    };
    let uuid = role.uuid(ids);
    let Some((disk, entries)) = boot_disk(ids)? else {
        return Ok(None);
    };
    let entry = entries
        .iter()
        .find(|e| e.unique_guid == uuid)
        .with_context(|| format!("the boot disk {disk} has no partition {uuid} ({name})"))?;
    Ok(partition_node(&disk, entry.number).map(|n| Path::new("/dev").join(n)))
}

/// [`locate`], polled until the partition appears or `timeout` passes.
pub fn wait(opts: &Options, role: Role, timeout: Duration) -> Result<PathBuf> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(node) = locate(opts, role)? {
            return Ok(node);
        }
        if Instant::now() >= deadline {
            let seen = disks().join(" ");
            let seen = if seen.is_empty() { "none" } else { &seen };
            let name = role.name(opts);
            let what = match &opts.disk {
                Some(ids) => format!("no partition {name} on the boot disk {}", ids.disk),
                None => format!("no partition named {name}"),
            };
            bail!("{what} after {} s (disks: {seen})", timeout.as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first partition (in disk name order) of the update disk's type, on any disk.
pub fn update_partition() -> Option<PathBuf> {
    disks().iter().find_map(|d| {
        let (_, entries) = read_gpt(d)?;
        let wanted = diskid::guid(&crate::boot::update::PARTITION_TYPE);
        let entry = entries.iter().find(|e| e.type_guid == wanted)?;
        partition_node(d, entry.number).map(|n| Path::new("/dev").join(n))
    })
}

/// Mounts the vfat filesystem on `dev` at `target`.
pub fn mount_vfat(dev: &Path, target: &Path, readonly: bool) -> Result<PathBuf> {
    std::fs::create_dir_all(target)?;
    let flags = if readonly {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    Mount::builder()
        .fstype("vfat")
        .flags(flags)
        .mount(dev, target)
        .with_context(|| format!("mounting {} as vfat", dev.display()))?;
    Ok(target.to_path_buf())
}

/// Mounts `role`'s vfat partition (see [`locate`]) on `target`, when there is one.
pub fn mount_role(
    opts: &Options,
    role: Role,
    target: &Path,
    readonly: bool,
) -> Result<Option<PathBuf>> {
    match locate(opts, role)? {
        Some(dev) => mount_vfat(&dev, target, readonly)
            .with_context(|| role.name(opts).to_string())
            .map(Some),
        None => Ok(None),
    }
}
