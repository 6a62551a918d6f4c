//! vfat written in place through the `fatfs` crate: format the partition's byte window, then
//! create the plan's directories and files with timestamps fixed to the build time.
//!
//! The FAT type follows from the cluster count alone (under 4085 FAT12, under 65525 FAT16, else
//! FAT32), so the writer picks the cluster size that yields the type asked for: `vfat-32` and
//! `vfat` (when big enough) get FAT32 with fatfs's customary cluster sizes (one sector up to
//! 260 MiB), `vfat-16` and small `vfat` get FAT16. A type that cannot fit is refused with the
//! minimum size. The label goes, in the same case, into both the boot sector and the root
//! directory's volume label entry (blkid and findfs read the latter). The volume id is the
//! first four bytes of the plan's uuid, big-endian, so it prints as the uuid's first 8 digits.
//! While fatfs fills the filesystem its tables live in memory (the private `fat_cache` module).

use super::FsOptions;
use super::fat_cache::CachedWindow;
use crate::interrupt;
use crate::plan::{FileSource, FilesystemPlan, FsKind};
use crate::units::MIB;
use crate::window::{COPY_BUFFER, Window};
use anyhow::{Context, Result, bail};
use fatfs::{FatType, FileSystem, FormatVolumeOptions};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

const FAT16_MIN_CLUSTERS: u64 = 4085;
const FAT32_MIN_CLUSTERS: u64 = 65525;
const FAT16_ROOT_ENTRIES: u64 = 512;

/// The parameters a FAT filesystem is formatted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub fat32: bool,
    pub total_sectors: u32,
    pub bytes_per_cluster: u32,
}

/// Picks FAT type and cluster size for `size` bytes, or says why the size does not fit.
pub fn geometry(kind: FsKind, size: u64, sector_size: u64) -> Result<Geometry> {
    let total_sectors = u32::try_from(size / sector_size)
        .context("partition is too large for FAT (more than 2^32 sectors)")?;
    let fat32 = || {
        let cluster = fat32_cluster(size).max(sector_size);
        (clusters(total_sectors.into(), sector_size, cluster, true) >= FAT32_MIN_CLUSTERS)
            .then_some(cluster)
    };
    let fat16 = || {
        [fat16_cluster(size).max(sector_size), sector_size]
            .into_iter()
            .find(|c| {
                let n = clusters(total_sectors.into(), sector_size, *c, false);
                (FAT16_MIN_CLUSTERS..FAT32_MIN_CLUSTERS).contains(&n)
            })
    };
    let (is32, cluster) = match kind {
        FsKind::Vfat32 => match fat32() {
            Some(c) => (true, c),
            None => bail!(
                "a {} partition is too small for FAT32 (at least {} clusters): vfat-32 needs at \
                 least {} with {sector_size}-byte sectors",
                crate::units::human(size),
                FAT32_MIN_CLUSTERS,
                crate::units::human(fat32_min_size(sector_size)),
            ),
        },
        FsKind::Vfat16 => match fat16() {
            Some(c) => (false, c),
            None => bail!(
                "a {} partition does not fit FAT16 ({}..{} clusters): vfat-16 needs at least {} \
                 and at most 2 GiB",
                crate::units::human(size),
                FAT16_MIN_CLUSTERS,
                FAT32_MIN_CLUSTERS - 1,
                crate::units::human(fat16_min_size(sector_size)),
            ),
        },
        FsKind::Vfat => match (fat32(), fat16()) {
            (Some(c), _) => (true, c),
            (None, Some(c)) => (false, c),
            (None, None) => bail!(
                "a {} partition is too small for FAT16: vfat needs at least {}",
                crate::units::human(size),
                crate::units::human(fat16_min_size(sector_size)),
            ),
        },
        FsKind::Ext4 => bail!("ext4 is not a FAT filesystem"),
    };
    Ok(Geometry {
        fat32: is32,
        total_sectors,
        bytes_per_cluster: u32::try_from(cluster)?,
    })
}

/// fatfs's FAT32 cluster size for a volume size.
fn fat32_cluster(size: u64) -> u64 {
    match size {
        s if s <= 260 * MIB => 512,
        s if s <= 8192 * MIB => 4096,
        s if s <= 16384 * MIB => 8192,
        s if s <= 32768 * MIB => 16384,
        _ => 32768,
    }
}

/// fatfs's FAT16 cluster size for a volume size.
fn fat16_cluster(size: u64) -> u64 {
    match size {
        s if s <= 16 * MIB => 1024,
        s if s <= 128 * MIB => 2048,
        s if s <= 256 * MIB => 4096,
        s if s <= 512 * MIB => 8192,
        s if s <= 1024 * MIB => 16384,
        _ => 32768,
    }
}

/// Data clusters left after the reserved sectors (fatfs: 8 for FAT32, 1 else), two FATs and the
/// FAT16 root directory. Slightly pessimistic: the FATs are sized for all sectors.
fn clusters(total_sectors: u64, sector_size: u64, cluster: u64, fat32: bool) -> u64 {
    let per_cluster = cluster / sector_size;
    let (reserved, root, entry) = if fat32 {
        (8, 0, 4)
    } else {
        (1, (FAT16_ROOT_ENTRIES * 32).div_ceil(sector_size), 2)
    };
    let upper = total_sectors / per_cluster + 2;
    let fat_sectors = (upper * entry).div_ceil(sector_size);
    total_sectors
        .saturating_sub(reserved + root + 2 * fat_sectors)
        .checked_div(per_cluster)
        .unwrap_or(0)
}

/// Smallest FAT32 volume, rounded up to a MiB.
pub fn fat32_min_size(sector_size: u64) -> u64 {
    let fat = ((FAT32_MIN_CLUSTERS + 2) * 4).div_ceil(sector_size);
    let bytes = (8 + 2 * fat) * sector_size + FAT32_MIN_CLUSTERS * sector_size.max(512);
    bytes.div_ceil(MIB) * MIB
}

/// Smallest FAT16 volume, rounded up to a MiB.
pub fn fat16_min_size(sector_size: u64) -> u64 {
    let fat = ((FAT16_MIN_CLUSTERS + 2) * 2).div_ceil(sector_size);
    let root = (FAT16_ROOT_ENTRIES * 32).div_ceil(sector_size);
    let bytes = (1 + root + 2 * fat) * sector_size + FAT16_MIN_CLUSTERS * sector_size;
    bytes.div_ceil(MIB) * MIB
}

/// Checks that the plan's files fit: each file takes whole clusters, each directory whole
/// clusters for its entries (fatfs gives every name a long-name entry, 13 characters per slot,
/// and leaves two slots beside `.` and `..`).
pub fn check_fits(geo: &Geometry, sector_size: u64, plan: &FilesystemPlan) -> Result<()> {
    let cluster = u64::from(geo.bytes_per_cluster);
    let available = clusters(geo.total_sectors.into(), sector_size, cluster, geo.fat32);
    let mut slots: BTreeMap<&str, u64> = BTreeMap::from([("", 1)]);
    let mut needed = 0u64;
    for entry in &plan.files {
        let (parent, name) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
        let units = u64::try_from(name.encode_utf16().count())?;
        *slots.entry(parent).or_default() += 1 + units.div_ceil(13);
        let bytes = match &entry.source {
            FileSource::Directory => {
                slots.entry(&entry.path).or_default();
                0
            }
            FileSource::File(path) => std::fs::metadata(path)
                .with_context(|| format!("reading {}", path.display()))?
                .len(),
            FileSource::Bytes(bytes) => u64::try_from(bytes.len())?,
            FileSource::Symlink(_) => bail!("{}: vfat cannot hold symbolic links", entry.path),
        };
        needed += bytes.div_ceil(cluster);
    }
    for (dir, n) in &slots {
        if dir.is_empty() && !geo.fat32 {
            if *n > FAT16_ROOT_ENTRIES {
                bail!("the root directory needs {n} entries; FAT16 holds {FAT16_ROOT_ENTRIES}");
            }
            continue;
        }
        let dots = if dir.is_empty() { 0 } else { 4 };
        needed += ((n + dots) * 32).div_ceil(cluster).max(1);
    }
    if needed > available {
        let human = |clusters: u64| crate::units::human(clusters * cluster);
        bail!(
            "the files need {} ({needed} clusters of {cluster} bytes), {} more than the {} the \
             filesystem holds",
            human(needed),
            human(needed - available),
            human(available)
        );
    }
    Ok(())
}

/// The 11-byte label field, space padded, case kept; `None` without a label.
pub fn label_bytes(label: Option<&str>) -> Result<Option<[u8; 11]>> {
    let Some(label) = label else { return Ok(None) };
    const FORBIDDEN: &[u8] = b"\"*+,./:;<=>?[\\]|";
    if label.len() > 11 {
        bail!("FAT label {label:?} is longer than 11 bytes");
    }
    if let Some(c) = label
        .bytes()
        .find(|c| !c.is_ascii_graphic() && *c != b' ' || FORBIDDEN.contains(c))
    {
        bail!(
            "FAT label {label:?} contains the character {:?}",
            char::from(c)
        );
    }
    let mut field = [b' '; 11];
    field[..label.len()].copy_from_slice(label.as_bytes());
    Ok(Some(field))
}

/// Directory entries' times: the build time, as a DOS date (UTC, clamped to 1980..=2107).
#[derive(Debug)]
struct FixedTime(fatfs::DateTime);

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        self.0
    }
}

/// fatfs wants a time provider that lives for 'static: one per distinct build time, kept for
/// the life of the process (a handful of bytes, not one per filesystem written).
fn clock_for(epoch: i64) -> Result<&'static FixedTime> {
    static CLOCKS: Mutex<BTreeMap<i64, &'static FixedTime>> = Mutex::new(BTreeMap::new());
    let mut clocks = CLOCKS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(clock) = clocks.get(&epoch) {
        return Ok(clock);
    }
    let clock: &'static FixedTime = Box::leak(Box::new(FixedTime(dos_time(epoch)?)));
    clocks.insert(epoch, clock);
    Ok(clock)
}

fn dos_time(epoch: i64) -> Result<fatfs::DateTime> {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch)
        .with_context(|| format!("build time {epoch} is out of range"))?;
    let (year, month, day) = t.to_calendar_date();
    let year = u16::try_from(year.clamp(1980, 2107))?;
    let (min_year, max_year) = (year == 1980 && t.year() < 1980, t.year() > 2107);
    let date = fatfs::Date {
        year,
        month: if min_year { 1 } else { u8::from(month).into() },
        day: if min_year { 1 } else { day.into() },
    };
    let time = if min_year || max_year {
        fatfs::Time {
            hour: 0,
            min: 0,
            sec: 0,
            millis: 0,
        }
    } else {
        fatfs::Time {
            hour: t.hour().into(),
            min: t.minute().into(),
            sec: t.second().into(),
            millis: 0,
        }
    };
    Ok(fatfs::DateTime { date, time })
}

/// Formats `size` bytes at `offset` of `file` and fills them with the plan's files.
pub fn write(
    file: &File,
    offset: u64,
    size: u64,
    sector_size: u64,
    plan: &FilesystemPlan,
    opts: &FsOptions,
) -> Result<()> {
    let geo = geometry(plan.kind, size, sector_size)?;
    let mut format = FormatVolumeOptions::new()
        .bytes_per_sector(u16::try_from(sector_size)?)
        .total_sectors(geo.total_sectors)
        .bytes_per_cluster(geo.bytes_per_cluster)
        .fat_type(if geo.fat32 {
            FatType::Fat32
        } else {
            FatType::Fat16
        })
        .volume_id(u32::from_be_bytes(plan.uuid.as_bytes()[..4].try_into()?));
    if let Some(label) = label_bytes(plan.label.as_deref())? {
        format = format.volume_label(label);
    }
    fatfs::format_volume(Window::new(file, offset, size), format).context("formatting FAT")?;
    let clock = clock_for(opts.build_time)?;
    let tables = super::fat_cache::load(file, offset)?;
    let fs = FileSystem::new(
        CachedWindow::new(Window::new(file, offset, size), &tables),
        fatfs::FsOptions::new().time_provider(clock),
    )
    .context("opening the new FAT filesystem")?;
    let made = fs.fat_type();
    if (made == FatType::Fat32) != geo.fat32 {
        bail!("fatfs produced {made:?} where {geo:?} was planned");
    }
    add_files(&fs, plan, opts)?;
    // Counting the free clusters fills FAT32's FSInfo sector, which fsck.fat wants set.
    fs.stats().context("counting free clusters")?;
    fs.unmount().context("closing the FAT filesystem")?;
    super::fat_cache::write_back(file, offset, &tables)?;
    super::fat_dots::repair(file, offset)?;
    set_hidden_sectors(file, offset, sector_size, geo.fat32)
}

/// Records the partition's start sector in the boot sector (and FAT32's backup copy at sector
/// 6), as mkfs.fat does for partitions; fatfs formats as if the volume started at sector 0.
fn set_hidden_sectors(file: &File, offset: u64, sector_size: u64, fat32: bool) -> Result<()> {
    let hidden = u32::try_from(offset / sector_size)
        .unwrap_or(0)
        .to_le_bytes();
    let copies: &[u64] = if fat32 { &[0, 6] } else { &[0] };
    for sector in copies {
        file.write_all_at(&hidden, offset + sector * sector_size + 0x1C)
            .context("writing the hidden sectors field")?;
    }
    Ok(())
}

fn add_files(fs: &FileSystem<CachedWindow>, plan: &FilesystemPlan, opts: &FsOptions) -> Result<()> {
    let root = fs.root_dir();
    let mut buf = vec![0u8; COPY_BUFFER];
    for entry in &plan.files {
        interrupt::check()?;
        let path = entry.path.as_str();
        let result = match &entry.source {
            FileSource::Directory => root.create_dir(path).map(|_| ()).map_err(Into::into),
            FileSource::Bytes(bytes) => root
                .create_file(path)
                .and_then(|mut f| {
                    f.truncate()?;
                    f.write_all(bytes)?;
                    f.flush()
                })
                .map_err(Into::into)
                .map(|()| (opts.progress)(u64::try_from(bytes.len()).unwrap_or(0))),
            FileSource::File(source) => {
                let mut input =
                    File::open(source).with_context(|| format!("opening {}", source.display()))?;
                let mut out = root.create_file(path)?;
                out.truncate()?;
                loop {
                    interrupt::check()?;
                    let n = input
                        .read(&mut buf)
                        .with_context(|| format!("reading {}", source.display()))?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])?;
                    (opts.progress)(u64::try_from(n)?);
                }
                out.flush().map_err(Into::into)
            }
            FileSource::Symlink(_) => Err(anyhow::anyhow!("vfat cannot hold symbolic links")),
        };
        result.with_context(|| format!("adding {path} to the FAT filesystem"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_type_follows_size() {
        let g = geometry(FsKind::Vfat, 64 * MIB, 512).unwrap();
        assert!(g.fat32 && g.bytes_per_cluster == 512);
        let g = geometry(FsKind::Vfat16, 64 * MIB, 512).unwrap();
        assert!(!g.fat32 && g.bytes_per_cluster == 2048);
        let g = geometry(FsKind::Vfat, 16 * MIB, 512).unwrap();
        assert!(!g.fat32);
        let g = geometry(FsKind::Vfat16, 3 * MIB, 512).unwrap();
        assert_eq!(g.bytes_per_cluster, 512);
    }

    #[test]
    fn too_small_fat32_names_the_minimum() {
        assert_eq!(fat32_min_size(512), 33 * MIB);
        assert_eq!(fat32_min_size(4096), 257 * MIB);
        let err = geometry(FsKind::Vfat32, 32 * MIB, 512).unwrap_err();
        assert!(err.to_string().contains("at least 33 MiB"), "{err}");
        let err = geometry(FsKind::Vfat32, 128 * MIB, 4096).unwrap_err();
        assert!(err.to_string().contains("at least 257 MiB"), "{err}");
        assert!(geometry(FsKind::Vfat32, 33 * MIB, 512).unwrap().fat32);
        assert!(geometry(FsKind::Vfat16, MIB, 512).is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(
            &label_bytes(Some("ubuntu-boot")).unwrap().unwrap(),
            b"ubuntu-boot"
        );
        assert_eq!(&label_bytes(Some("EFI")).unwrap().unwrap(), b"EFI        ");
        assert!(label_bytes(Some("ubuntu-boot2")).is_err());
        assert!(label_bytes(Some("a.b")).is_err());
        assert_eq!(label_bytes(None).unwrap(), None);
    }

    #[test]
    fn dos_times() {
        let t = dos_time(1_700_000_000).unwrap();
        assert_eq!((t.date.year, t.date.month, t.date.day), (2023, 11, 14));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (22, 13, 20));
        assert_eq!(dos_time(0).unwrap().date.year, 1980);
    }
}
