//! The boot disk's identity, pure: what the build records (the GPT disk GUID and the unique
//! partition UUIDs of ubuntu-seed, ubuntu-boot, ubuntu-save and ubuntu-data, lowercase, as
//! GRUB's `probe --part-uuid` prints them), the kernel arguments that carry it from GRUB to the
//! runtime, and a reader of GPT headers and entries (from bytes the runtime reads) with which
//! the runtime finds those partitions on that disk only. docs/boot-protocol.md describes it.

use uuid::Uuid;

/// Kernel argument: the boot disk's GPT disk GUID.
pub const ARG_DISK: &str = "snapsmith.disk";
/// Kernel arguments: the unique partition UUIDs, by role.
pub const ARG_SEED: &str = "snapsmith.seed-uuid";
pub const ARG_BOOT: &str = "snapsmith.boot-uuid";
pub const ARG_SAVE: &str = "snapsmith.save-uuid";
pub const ARG_DATA: &str = "snapsmith.data-uuid";

/// The identity of the boot disk, every GUID lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskIds {
    pub disk: String,
    pub seed: String,
    pub boot: String,
    /// `None` when the gadget has no ubuntu-save.
    pub save: Option<String>,
    pub data: String,
}

/// What GRUB needs besides [`DiskIds`]: which partition number of its own disk is ubuntu-boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootDisk {
    pub ids: DiskIds,
    /// ubuntu-boot's 1-based GPT partition number.
    pub boot_number: u32,
}

/// A GUID as the identity records it: lowercase, hyphenated.
pub fn guid(u: &Uuid) -> String {
    u.hyphenated().to_string()
}

impl DiskIds {
    /// The kernel arguments (each `key=value`, space-separated, no leading space).
    pub fn kernel_args(&self) -> String {
        let mut out = vec![
            format!("{ARG_DISK}={}", self.disk),
            format!("{ARG_SEED}={}", self.seed),
            format!("{ARG_BOOT}={}", self.boot),
        ];
        if let Some(save) = &self.save {
            out.push(format!("{ARG_SAVE}={save}"));
        }
        out.push(format!("{ARG_DATA}={}", self.data));
        out.join(" ")
    }

    /// The identity from a kernel command line: `None` without `snapsmith.disk=`; an error when
    /// a key repeats, a value is not a GUID, or a required partition is missing.
    pub fn from_cmdline(cmdline: &str) -> Result<Option<DiskIds>, String> {
        let mut ids = DiskIds::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in cmdline.split_whitespace().filter_map(|w| w.split_once('=')) {
            let slot = match key {
                ARG_DISK => &mut ids.disk,
                ARG_SEED => &mut ids.seed,
                ARG_BOOT => &mut ids.boot,
                ARG_DATA => &mut ids.data,
                ARG_SAVE => ids.save.get_or_insert_with(String::new),
                _ => continue,
            };
            if seen.contains(&key) {
                return Err(format!("{key}= is given twice on the kernel command line"));
            }
            seen.push(key);
            let parsed =
                Uuid::parse_str(value).map_err(|_| format!("{key}={value} is not a GUID"))?;
            *slot = guid(&parsed);
        }
        if !seen.contains(&ARG_DISK) {
            return match seen.first() {
                Some(key) => Err(format!("{key}= without {ARG_DISK}=")),
                None => Ok(None),
            };
        }
        for key in [ARG_SEED, ARG_BOOT, ARG_DATA] {
            if !seen.contains(&key) {
                return Err(format!("{ARG_DISK}= without {key}="));
            }
        }
        Ok(Some(ids))
    }
}

/// What a GPT header says about its disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptHeader {
    /// Lowercase disk GUID.
    pub disk_guid: String,
    pub entries_lba: u64,
    pub entries: u32,
    pub entry_size: u32,
}

/// One used GPT partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    /// 1-based partition number.
    pub number: u32,
    /// Lowercase partition type GUID.
    pub type_guid: String,
    /// Lowercase unique partition GUID.
    pub unique_guid: String,
    pub name: String,
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn mixed_guid(b: &[u8], at: usize) -> Option<String> {
    let bytes: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(guid(&Uuid::from_bytes_le(bytes)))
}

/// Parses the GPT header in `lba1` (the disk's second logical block); `None` when it is not
/// one (no `EFI PART` signature, or entries that do not fit the table sizes GRUB accepts).
pub fn parse_header(lba1: &[u8]) -> Option<GptHeader> {
    if lba1.get(..8)? != b"EFI PART" {
        return None;
    }
    let entries_lba = u64::from_le_bytes(lba1.get(72..80)?.try_into().ok()?);
    let entries = le_u32(lba1, 80)?;
    let entry_size = le_u32(lba1, 84)?;
    if !(128..=4096).contains(&entry_size) || entries > 1024 {
        return None;
    }
    Some(GptHeader {
        disk_guid: mixed_guid(lba1, 56)?,
        entries_lba,
        entries,
        entry_size,
    })
}

/// The used entries of the partition array `bytes` (`header.entries` of `header.entry_size`).
pub fn parse_entries(header: &GptHeader, bytes: &[u8]) -> Vec<GptEntry> {
    let size = header.entry_size as usize;
    (0..header.entries)
        .filter_map(|i| {
            let e = bytes.get(i as usize * size..(i as usize + 1) * size)?;
            if e[..16].iter().all(|&b| b == 0) {
                return None;
            }
            let units: Vec<u16> = e[56..128]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            Some(GptEntry {
                number: i + 1,
                type_guid: mixed_guid(e, 0)?,
                unique_guid: mixed_guid(e, 16)?,
                name: String::from_utf16_lossy(&units),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISK: &str = "6f1c2a4e-9d3b-4c55-8a71-0e5db2c493f7";
    const P: &str = "11111111-2222-3333-4444-555555555555";

    fn ids() -> DiskIds {
        DiskIds {
            disk: DISK.into(),
            seed: P.into(),
            boot: P.replace('1', "a"),
            save: None,
            data: P.replace('2', "b"),
        }
    }

    #[test]
    fn kernel_args_round_trip_lowercase() {
        let args = ids().kernel_args();
        assert!(args.starts_with(&format!("snapsmith.disk={DISK} snapsmith.seed-uuid={P}")));
        assert!(!args.contains("save"));
        let i = ids();
        let line = format!(
            "console=ttyS0 snapsmith.disk={} snapsmith.seed-uuid={} snapsmith.boot-uuid={} \
             snapsmith.data-uuid={} quiet",
            i.disk.to_uppercase(),
            i.seed.to_uppercase(),
            i.boot,
            i.data
        );
        assert_eq!(DiskIds::from_cmdline(&line).unwrap(), Some(ids()));
        assert_eq!(DiskIds::from_cmdline("console=ttyS0").unwrap(), None);
    }

    #[test]
    fn bad_identities_are_refused() {
        let args = ids().kernel_args();
        let twice = format!("{args} snapsmith.data-uuid={P}");
        assert!(DiskIds::from_cmdline(&twice).unwrap_err().contains("twice"));
        assert!(
            DiskIds::from_cmdline("snapsmith.disk=x")
                .unwrap_err()
                .contains("GUID")
        );
        let partial = format!("snapsmith.disk={DISK}");
        assert!(
            DiskIds::from_cmdline(&partial)
                .unwrap_err()
                .contains("seed-uuid")
        );
        let orphan = format!("snapsmith.data-uuid={P}");
        assert!(DiskIds::from_cmdline(&orphan).is_err());
    }

    #[test]
    fn reads_a_gpt_header_and_entries() {
        let disk = Uuid::parse_str(DISK).unwrap();
        let part = Uuid::parse_str(P).unwrap();
        let mut lba1 = vec![0u8; 512];
        lba1[..8].copy_from_slice(b"EFI PART");
        lba1[56..72].copy_from_slice(&disk.to_bytes_le());
        lba1[72..80].copy_from_slice(&2u64.to_le_bytes());
        lba1[80..84].copy_from_slice(&4u32.to_le_bytes());
        lba1[84..88].copy_from_slice(&128u32.to_le_bytes());
        let header = parse_header(&lba1).unwrap();
        assert_eq!(header.disk_guid, DISK);
        assert_eq!((header.entries_lba, header.entries), (2, 4));
        let mut table = vec![0u8; 4 * 128];
        let e = &mut table[128..256];
        e[..16].copy_from_slice(&part.to_bytes_le());
        e[16..32].copy_from_slice(&part.to_bytes_le());
        for (i, u) in "ubuntu-boot".encode_utf16().enumerate() {
            e[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
        }
        let entries = parse_entries(&header, &table);
        assert_eq!(
            entries,
            [GptEntry {
                number: 2,
                type_guid: P.into(),
                unique_guid: P.into(),
                name: "ubuntu-boot".into()
            }]
        );
        lba1[0] = b'X';
        assert_eq!(parse_header(&lba1), None);
    }
}
