//! The boot files of a build ([`BootAssets`]): on ubuntu-seed the GRUB EFI image, the seed
//! `grub.cfg` and its `grubenv`; on ubuntu-boot the run-mode `grub.cfg`, its `grubenv` (twice:
//! `grubenv` and `grubenv2`) and the
//! current kernel snap's assets extracted under `EFI/ubuntu/<kernel>_<rev>.snap/` (vfat has no
//! symlinks, so GRUB picks the directory by the grubenv's kernel variables).
//!
//! The gadget decides the bootloader: only `grub` gets assets; a gadget that ships its own
//! `EFI/boot/bootx64.efi` on the seed keeps it.

use super::BootAssets;
use super::grub_efi::{self, BOOT_EFI_PATH};
use crate::boot::diskid::{BootDisk, DiskIds, guid};
use crate::boot::grubcfg::{self, GRUB_DIR, RunConfig, SeedConfig};
use crate::boot::seedcfg;
use crate::gadget::Gadget;
use crate::gadget::extras::CmdlineFile;
use crate::gadget::schema::Bootloader;
use crate::plan::{
    DiskId, FileEntry, FileSource, ImagePlan, PartitionEntry, PartitionKind, StructureContent,
};
use crate::seed::{self, ModelId, ROLE_BOOT, ROLE_DATA, ROLE_SAVE, ROLE_SEED, SeedSnap};
use crate::snap::{SnapFile, SnapType};
use anyhow::{Context, Result, bail};

/// Files of a kernel snap GRUB boots, by preference: `vmlinuz` with `initrd.img`, or a unified
/// `kernel.efi`.
pub const KERNEL_ASSETS: &[&str] = &["vmlinuz", "initrd.img", "kernel.efi"];

/// Everything the boot assets are made from.
#[derive(Debug, Clone, Copy)]
pub struct BootInputs<'a> {
    pub gadget: &'a Gadget,
    /// The gadget's plan, with the gadget's own content already on each structure.
    pub plan: &'a ImagePlan,
    pub snaps: &'a [SeedSnap],
    pub label: &'a str,
    /// Every recovery system on the seed, `label` among them.
    pub systems: &'a [String],
    pub model: &'a ModelId,
    /// The unpacked gadget snap, for its `cmdline.extra`.
    pub gadget_dir: Option<&'a std::path::Path>,
}

/// The boot assets of a preinstalled image; empty when the gadget's bootloader is not GRUB.
pub fn for_build(inputs: &BootInputs) -> Result<BootAssets> {
    let bootloader = inputs.gadget.boot_volume().and_then(|v| v.bootloader);
    if bootloader != Some(Bootloader::Grub) {
        return Ok(BootAssets::default());
    }
    let modeenv = seed::initial_modeenv(inputs.label, inputs.model, inputs.snaps)?;
    let kernel_file = modeenv
        .current_kernels
        .first()
        .context("no kernel for run mode")?;
    let kernel = inputs
        .snaps
        .iter()
        .find(|s| s.snap_type == SnapType::Kernel && &s.file_name() == kernel_file)
        .context("the run-mode kernel is not among the image's snaps")?;
    let extra_args = gadget_args(inputs)?;

    let mut seed_files = Vec::new();
    if !seed_has(inputs.plan, BOOT_EFI_PATH) {
        seed_files.push(bytes(BOOT_EFI_PATH, grub_efi::grub_x64_image()?));
    }
    let seed_cfg = grubcfg::seed_config(&SeedConfig {
        label: inputs.label.to_string(),
        systems: inputs.systems.to_vec(),
        extra_args: extra_args.clone(),
        disk: boot_disk(inputs.plan)?,
    })?;
    for system in inputs.systems {
        seed_files.push(bytes(
            &format!("systems/{system}/{}", seedcfg::SYSTEM_GRUBENV),
            grubcfg::system_env(&seed::seed_path(system, kernel))?,
        ));
    }
    seed_files.push(bytes(
        &format!("{GRUB_DIR}/grub.cfg"),
        seed_cfg.into_bytes(),
    ));
    seed_files.push(bytes(
        &format!("{GRUB_DIR}/grubenv"),
        grubcfg::seed_env(inputs.label)?,
    ));

    // The run-mode init takes the base from the modeenv, never from the command line.
    let run_cfg = grubcfg::run_config(&RunConfig {
        extra_args,
        legacy_base: None,
        disk: boot_disk(inputs.plan)?,
        default_kernel: Some(kernel_file.clone()),
    })?;
    let env = grubcfg::run_env(kernel_file)?;
    let mut boot_files = vec![
        bytes(&format!("{GRUB_DIR}/grub.cfg"), run_cfg.into_bytes()),
        bytes(&format!("{GRUB_DIR}/grubenv"), env.clone()),
        bytes(&format!("{GRUB_DIR}/{}", grubcfg::GRUBENV_BACKUP), env),
    ];
    boot_files.extend(kernel_assets(&kernel.path, kernel_file)?);
    Ok(BootAssets {
        seed: seed_files,
        boot: boot_files,
    })
}

/// The boot disk's identity as the plan records it: the GPT disk GUID of the volume with
/// ubuntu-boot and the unique GUIDs of its seed, boot, save and data partitions. `None` for an
/// MBR volume (GRUB then searches by label).
pub fn boot_disk(plan: &ImagePlan) -> Result<Option<BootDisk>> {
    let Some(volume) = plan.volumes.iter().find(|v| {
        v.structures
            .iter()
            .any(|s| s.role.as_deref() == Some(ROLE_BOOT))
    }) else {
        return Ok(None);
    };
    let DiskId::Gpt(disk) = volume.disk_id else {
        return Ok(None);
    };
    let part = |role: &str| {
        volume.structures.iter().find_map(|s| match &s.partition {
            Some(PartitionEntry {
                number,
                kind: PartitionKind::Gpt { unique_guid, .. },
            }) if s.role.as_deref() == Some(role) => Some((*number, guid(unique_guid))),
            _ => None,
        })
    };
    let need = |role: &str| {
        part(role)
            .with_context(|| format!("the boot volume {} has no {role} partition", volume.name))
    };
    let (boot_number, boot) = need(ROLE_BOOT)?;
    Ok(Some(BootDisk {
        ids: DiskIds {
            disk: guid(&disk),
            seed: need(ROLE_SEED)?.1,
            boot,
            save: part(ROLE_SAVE).map(|p| p.1),
            data: need(ROLE_DATA)?.1,
        },
        boot_number,
    }))
}

/// The gadget's kernel arguments: gadget.yaml `kernel-cmdline: append`, then `cmdline.extra`.
/// `cmdline.full` would replace the arguments the boot protocol needs, so it is refused.
fn gadget_args(inputs: &BootInputs) -> Result<Vec<String>> {
    let mut args = inputs
        .gadget
        .kernel_cmdline
        .as_ref()
        .map(|c| c.append.clone())
        .unwrap_or_default();
    grubcfg::check_args(&args).context("gadget.yaml kernel-cmdline append")?;
    if let Some(dir) = inputs.gadget_dir {
        match crate::gadget::extras::cmdline_file(dir)? {
            Some(CmdlineFile::Extra(extra)) => {
                grubcfg::check_args(&extra).context("the gadget's cmdline.extra")?;
                args.extend(extra);
            }
            Some(CmdlineFile::Full(_)) => bail!(
                "the gadget's cmdline.full is not supported: it would replace the arguments \
                 snapsmith's boot needs (use cmdline.extra or kernel-cmdline append)"
            ),
            None => {}
        }
    }
    Ok(args)
}

/// A kernel snap's boot files as entries under `EFI/ubuntu/<file_name>/`.
pub fn kernel_assets(snap: &std::path::Path, file_name: &str) -> Result<Vec<FileEntry>> {
    let file = SnapFile::open(snap)?;
    let present: Vec<&str> = KERNEL_ASSETS
        .iter()
        .copied()
        .filter(|a| file.has_file(a))
        .collect();
    let linux = present.contains(&"vmlinuz") && present.contains(&"initrd.img");
    if !linux && !present.contains(&"kernel.efi") {
        bail!(
            "kernel snap {}: has neither vmlinuz with initrd.img nor kernel.efi for GRUB to boot",
            snap.display()
        );
    }
    present
        .iter()
        .map(|asset| {
            let data = file
                .read_file(asset)
                .with_context(|| format!("kernel snap {}", snap.display()))?;
            Ok(bytes(&format!("{GRUB_DIR}/{file_name}/{asset}"), data))
        })
        .collect()
}

fn bytes(path: &str, data: Vec<u8>) -> FileEntry {
    FileEntry {
        path: path.to_string(),
        source: FileSource::Bytes(data),
    }
}

/// True when the gadget's content already puts `path` on ubuntu-seed (FAT names compare
/// without case).
fn seed_has(plan: &ImagePlan, path: &str) -> bool {
    plan.volumes
        .iter()
        .flat_map(|v| &v.structures)
        .filter(|s| s.role.as_deref() == Some(ROLE_SEED))
        .any(|s| match &s.content {
            StructureContent::Filesystem(fs) => {
                fs.files.iter().any(|f| f.path.eq_ignore_ascii_case(path))
            }
            _ => false,
        })
}
