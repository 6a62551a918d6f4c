//! Loading the model for a build: decode the model file and `--assertions`, verify everything
//! against the `--trusted` roots, and turn the verified values into what resolution and the
//! seed need ([`LoadedModel`]). Only the assertion layer parses or verifies; this is the glue.

use super::{BuildRequest, LoadedModel};
use crate::assertion::{self, Assertion, Grade as AGrade, Model, Presence};
use crate::seed::{AssertedRevision, Grade, ModelId, ModelSnap, ModelSpec};
use crate::snap::SnapType;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;

fn read_stream(path: &Path) -> Result<Vec<Assertion>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    assertion::decode_stream(&data).with_context(|| format!("decoding {}", path.display()))
}

/// Verifies the model's chain and the snap assertions, then types the model for resolution.
pub fn load_model(req: &BuildRequest) -> Result<LoadedModel> {
    let model_stream = read_stream(&req.model)?;
    let models: Vec<&Assertion> = model_stream
        .iter()
        .filter(|a| a.type_name() == "model")
        .collect();
    let [model_assertion] = models.as_slice() else {
        bail!(
            "{}: expected exactly one model assertion, found {}",
            req.model.display(),
            models.len()
        );
    };
    let model_assertion = (*model_assertion).clone();
    let mut all = model_stream.clone();
    for path in &req.assertions {
        all.extend(read_stream(path)?);
    }
    let mut trusted = Vec::new();
    for path in &req.trusted {
        trusted.extend(read_stream(path)?);
    }
    // Key expiry is judged now: an expired key must not sign a new image.
    let now = time::OffsetDateTime::now_utc();
    let verified = assertion::trust::verify(&all, &trusted, now)
        .with_context(|| format!("verifying the model {}", req.model.display()))?;
    let model = Model::from_assertion(&model_assertion)
        .with_context(|| format!("{}", req.model.display()))?;
    let shown = req.model.display().to_string();
    let spec = model_spec(&model, &shown)?;
    let id = ModelId {
        brand: model.brand_id.clone(),
        model: model.model.clone(),
        grade: spec.grade,
        sign_key_id: model.sign_key_id.clone(),
        base: spec.base.clone(),
    };
    let asserted = asserted_revisions(&verified);
    Ok(LoadedModel {
        spec,
        id,
        model: model_assertion.encode(),
        model_etc: model_etc(&all, &trusted),
        snap_streams: snap_streams(&all),
        asserted,
    })
}

/// The model as resolution sees it; legacy (UC16/18) and classic models are refused.
pub fn model_spec(model: &Model, shown: &str) -> Result<ModelSpec> {
    if model.legacy || model.classic {
        bail!("{shown}: only Ubuntu Core 20+ models (with `snaps`) can be built");
    }
    let grade = match model.grade {
        AGrade::Dangerous => Grade::Dangerous,
        AGrade::Signed => Grade::Signed,
        AGrade::Secured => Grade::Secured,
        AGrade::Unset => bail!("{shown}: header \"grade\" is missing"),
    };
    refuse_encryption(model, shown)?;
    let architecture = model
        .architecture
        .clone()
        .with_context(|| format!("{shown}: header \"architecture\" is missing"))?;
    let base = model
        .base
        .clone()
        .with_context(|| format!("{shown}: header \"base\" is missing"))?;
    let snaps = model
        .snaps
        .iter()
        .map(|s| ModelSnap {
            name: s.name.clone(),
            id: s.id.clone(),
            snap_type: snap_type(s.snap_type),
            required: s.presence == Presence::Required,
            modes: s.modes.clone(),
        })
        .collect();
    Ok(ModelSpec {
        architecture,
        base,
        grade,
        snaps,
    })
}

/// snapsmith does not encrypt yet: a model that requires encrypted storage is refused rather
/// than built unencrypted in silence.
fn refuse_encryption(model: &Model, shown: &str) -> Result<()> {
    if model.grade == AGrade::Secured {
        bail!(
            "{shown}: header \"grade\": secured models need encrypted storage, which snapsmith \
             does not write yet (build a signed or dangerous model)"
        );
    }
    if model.storage_safety == Some(assertion::StorageSafety::Encrypted) {
        bail!(
            "{shown}: header \"storage-safety\": encrypted is required, which snapsmith does not \
             write yet (use prefer-encrypted or prefer-unencrypted)"
        );
    }
    Ok(())
}

fn snap_type(t: assertion::SnapType) -> SnapType {
    match t {
        assertion::SnapType::App => SnapType::App,
        assertion::SnapType::Base => SnapType::Base,
        assertion::SnapType::Gadget => SnapType::Gadget,
        assertion::SnapType::Kernel => SnapType::Kernel,
        assertion::SnapType::Core => SnapType::Os,
        assertion::SnapType::Snapd => SnapType::Snapd,
    }
}

/// One fact per verified snap-revision, joined with its snap-declaration for the name.
fn asserted_revisions(v: &assertion::trust::Verified) -> Vec<AssertedRevision> {
    v.snap_revisions
        .values()
        .filter_map(|r| {
            let decl = v.snap_declarations.get(&r.snap_id)?;
            Some(AssertedRevision {
                snap_id: r.snap_id.clone(),
                snap_name: decl.snap_name.clone(),
                sha3_384: r.snap_sha3_384.clone(),
                size: r.snap_size,
                revision: r.snap_revision,
            })
        })
        .collect()
}

/// The model's prerequisites for the seed: the trusted roots (self-signed; the device verifies
/// its updates against them, see docs/update-disk.md), then every account and account-key
/// given, each once.
fn model_etc(all: &[Assertion], trusted: &[Assertion]) -> Vec<u8> {
    let mut chosen: Vec<Assertion> = Vec::new();
    for a in trusted.iter().chain(all) {
        if matches!(a.type_name(), "account" | "account-key") && !chosen.contains(a) {
            chosen.push(a.clone());
        }
    }
    assertion::encode_stream(&chosen)
}

/// Each snap-revision with its snap-declaration, encoded, by the revision's snap-sha3-384.
fn snap_streams(all: &[Assertion]) -> BTreeMap<String, Vec<u8>> {
    let declaration = |id: &str| {
        all.iter()
            .find(|a| a.type_name() == "snap-declaration" && a.header_str("snap-id") == Some(id))
    };
    let mut out = BTreeMap::new();
    for rev in all.iter().filter(|a| a.type_name() == "snap-revision") {
        let (Some(digest), Some(id)) = (rev.header_str("snap-sha3-384"), rev.header_str("snap-id"))
        else {
            continue;
        };
        let mut pair: Vec<Assertion> = declaration(id).into_iter().cloned().collect();
        pair.push(rev.clone());
        out.insert(digest.to_string(), assertion::encode_stream(&pair));
    }
    out
}

/// snapsmith implements no snap interface yet: a snap that declares plugs or slots, or a gadget
/// that asks for `connections:`, is refused instead of built with the interface ignored.
pub fn refuse_interfaces(
    snaps: &[crate::seed::SeedSnap],
    gadget: &crate::gadget::Gadget,
) -> Result<()> {
    for snap in snaps {
        if let Some(field) = crate::snap::apps::first_interface_field(&snap.info) {
            bail!(
                "{}: meta/snap.yaml field `{field}`: snap interfaces (plugs and slots) are not \
                 implemented by snapsmith yet",
                snap.path.display()
            );
        }
    }
    if let Some(c) = gadget.connections.first() {
        let g = snaps.iter().find(|s| s.snap_type == SnapType::Gadget);
        bail!(
            "{}: meta/gadget.yaml field `connections` ({}:{} to {}:{}): interface connections \
             are not implemented by snapsmith yet",
            g.map_or_else(
                || "the gadget".to_string(),
                |s| s.path.display().to_string()
            ),
            c.plug_snap_id,
            c.plug,
            c.slot_snap_id,
            c.slot
        );
    }
    Ok(())
}
