//! Model rules and defaults through the library: UC20+ (grade, storage safety, ids, essential
//! snaps, one kernel and gadget, base entry), legacy UC16/18 and classic models.

use serde_json::{Value as J, json};
use snapsmith::assertion::{Assertion, Grade, Model, Presence, SnapType, StorageSafety, sign};

fn model(headers: J) -> Result<Model, String> {
    let mut map = std::collections::BTreeMap::new();
    for (k, v) in headers.as_object().unwrap() {
        if let Some(v) = sign::json_to_value(k, v).unwrap() {
            map.insert(k.clone(), v);
        }
    }
    let a = Assertion::from_parts(map, Vec::new()).map_err(|e| e.to_string())?;
    Model::from_assertion(&a).map_err(|e| e.to_string())
}

fn uc20(extra: J) -> J {
    let mut base = json!({
        "type": "model", "authority-id": "b", "series": "16", "brand-id": "b", "model": "m",
        "architecture": "amd64", "base": "core22", "timestamp": "2024-01-01T00:00:00Z",
        "snaps": [
            {"name": "pc", "type": "gadget", "id": "gadgetid000000000000000000000000", "default-channel": "22/stable"},
            {"name": "pc-kernel", "type": "kernel", "id": "kernelid000000000000000000000000"},
            {"name": "app", "id": "appid000000000000000000000000000"}
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn err(headers: J) -> String {
    model(headers).expect_err("rule not enforced")
}

#[test]
fn uc20_defaults() {
    let m = model(uc20(json!({}))).unwrap();
    assert_eq!(m.grade, Grade::Signed);
    assert_eq!(m.storage_safety, Some(StorageSafety::PreferEncrypted));
    assert_eq!(m.display_name, "m");
    let app = m.snaps.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(
        (app.snap_type, app.presence),
        (SnapType::App, Presence::Required)
    );
    assert_eq!(
        (app.default_channel.as_str(), app.modes.clone()),
        ("latest/stable", vec!["run".to_string()])
    );
    let kernel = m.snap_of_type(SnapType::Kernel).unwrap();
    assert_eq!(kernel.modes, ["run", "ephemeral"]);
    // The unlisted base is synthesized with its well-known id.
    let base = m.snaps.iter().find(|s| s.name == "core22").unwrap();
    assert_eq!(base.id.as_deref(), Some("amcUKQILKXHHTlmSa7NMdnXSx02dNeeT"));
    let secured = model(uc20(json!({"grade": "secured"}))).unwrap();
    assert_eq!(secured.storage_safety, Some(StorageSafety::Encrypted));
}

#[test]
fn uc20_rules() {
    assert!(
        err(uc20(
            json!({"grade": "secured", "storage-safety": "prefer-encrypted"})
        ))
        .contains("encrypted")
    );
    assert!(err(uc20(json!({"grade": "nice"}))).contains("\"grade\""));
    assert!(err(uc20(json!({"base": "mybase"}))).contains("no well-known snap id"));
    assert!(err(uc20(json!({"gadget": "pc"}))).contains("\"gadget\""));
    assert!(err(uc20(json!({"architecture": null}))).contains("\"architecture\": required"));
    assert!(err(uc20(json!({"authority-id": "x"}))).contains("must equal brand-id"));
    assert!(err(uc20(json!({"model": "Big"}))).contains("\"model\""));
    let snaps = |list: J| uc20(json!({ "snaps": list }));
    let g = json!({"name": "pc", "type": "gadget", "id": "g0000000000000000000000000000000"});
    let k = json!({"name": "k", "type": "kernel", "id": "k0000000000000000000000000000000"});
    assert!(
        err(snaps(
            json!([g, k, {"name": "k2", "type": "kernel", "id": "k2000000000000000000000000000000"}])
        ))
        .contains("exactly one gadget and one kernel")
    );
    assert!(err(snaps(json!([g, k, {"name": "a"}]))).contains("snaps[a].id"));
    // Store ids are 32 letters and digits, as snapd's decoder wants.
    for id in [
        "pc-id",
        "a000000000000000000000000000000",
        "a000000000000000000000000000000-",
    ] {
        let e = err(snaps(json!([g, k, {"name": "a", "id": id}])));
        assert!(
            e.contains("snaps[a].id") && e.contains("is not a snap id"),
            "{e}"
        );
    }
    assert!(
        err(snaps(
            json!([g, k, {"name": "a", "id": "k0000000000000000000000000000000"}])
        ))
        .contains("listed twice")
    );
    assert!(
        err(snaps(
            json!([g, k, {"name": "a", "id": "a0000000000000000000000000000000", "default-channel": "stable"}])
        ))
        .contains("default-channel")
    );
    assert!(
        err(snaps(
            json!([g, {"name": "k", "type": "kernel", "id": "k0000000000000000000000000000000", "modes": ["run"]}])
        ))
        .contains("essential")
    );
    assert!(
        err(snaps(
            json!([g, k, {"name": "a", "id": "a0000000000000000000000000000000", "modes": []}])
        ))
        .contains("modes")
    );
    assert!(
        err(snaps(
            json!([g, k, {"name": "core22", "type": "app", "id": "c0000000000000000000000000000000"}])
        ))
        .contains("must be base")
    );
    // Dangerous models may leave ids out.
    let dangerous = uc20(json!({"grade": "dangerous", "snaps": [
        {"name": "pc", "type": "gadget"}, {"name": "k", "type": "kernel"},
        {"name": "a", "presence": "optional", "modes": ["run", "install"]}]}));
    let m = model(dangerous).unwrap();
    let a = m.snaps.iter().find(|s| s.name == "a").unwrap();
    assert_eq!((a.presence, a.modes.len()), (Presence::Optional, 2));
}

fn legacy(extra: J) -> J {
    let mut base = json!({
        "type": "model", "authority-id": "b", "series": "16", "brand-id": "b", "model": "m",
        "architecture": "armhf", "gadget": "pi=18-pi", "kernel": "pi-kernel",
        "required-snaps": ["app"], "timestamp": "2018-01-01T00:00:00Z"
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

#[test]
fn legacy_models() {
    let m = model(legacy(json!({}))).unwrap();
    assert!(m.legacy);
    assert_eq!(m.grade, Grade::Unset);
    let names: Vec<_> = m
        .snaps
        .iter()
        .map(|s| (s.name.as_str(), s.snap_type, s.default_channel.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("pi", SnapType::Gadget, "18-pi/stable"),
            ("pi-kernel", SnapType::Kernel, "latest/stable"),
            ("core", SnapType::Core, "latest/stable"),
            ("app", SnapType::App, "latest/stable"),
        ]
    );
    assert!(err(legacy(json!({"grade": "signed"}))).contains("\"grade\""));
    assert!(err(legacy(json!({"kernel": null}))).contains("\"kernel\": required"));
    assert!(err(legacy(json!({"gadget": "pi=stable"}))).contains("track"));
}

#[test]
fn classic_models() {
    let minimal = json!({"type": "model", "authority-id": "b", "series": "16", "brand-id": "b",
        "model": "c", "classic": "true", "timestamp": "2018-01-01T00:00:00Z"});
    let m = model(minimal.clone()).unwrap();
    assert!(m.classic && m.snaps.is_empty());
    let mut with_kernel = minimal.clone();
    with_kernel["kernel"] = json!("k");
    assert!(err(with_kernel).contains("not allowed in classic models"));
    let mut gadget_no_arch = minimal.clone();
    gadget_no_arch["gadget"] = json!("pc");
    assert!(err(gadget_no_arch).contains("\"architecture\""));
    let mut extended = minimal;
    extended["snaps"] =
        json!([{"name": "tool", "id": "t0000000000000000000000000000000", "classic": "true"}]);
    assert!(err(extended.clone()).contains("\"distribution\""));
    extended["distribution"] = json!("ubuntu");
    let m = model(extended).unwrap();
    assert!(m.snaps[0].classic);
}

/// Rules snapd's decoder has and snapsmith checks too (tests/snapd_codec.rs found them).
#[test]
fn names_and_times_as_snapd_checks_them() {
    let e = err(uc20(json!({"base": "Core22"})));
    assert!(
        e.contains("header \"base\"") && e.contains("not a valid snap name"),
        "{e}"
    );
    let ok = model(uc20(
        json!({"serial-authority": ["generic", "AbCdEfGhIjKlMnOpQrStUvWxYz012345"]}),
    ))
    .unwrap();
    assert_eq!(ok.brand_id, "b");
    for bad in [json!("b"), json!(["b", "Not_An_Id"]), json!(["x"])] {
        let e = err(uc20(json!({"serial-authority": bad})));
        assert!(
            e.contains("serial-authority") && e.contains("account ids"),
            "{e}"
        );
    }
    for bad in [
        "2024-01-01t00:00:00Z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00z",
    ] {
        let e = err(uc20(json!({ "timestamp": bad })));
        assert!(e.contains("is not an RFC 3339 time"), "{bad}: {e}");
    }
    model(uc20(json!({"timestamp": "2024-01-01T00:00:00+02:00"}))).unwrap();
}
