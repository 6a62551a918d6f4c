//! Every refusal of [`super::TrustRoot::check_bytes`] and [`super::Verdict::check_yaml`], with
//! real keys, real signatures and a real seed trust root.

use super::*;
use crate::assertion::trust_fixtures::{
    self, BASE_ID, DIGEST, GADGET_ID, HELLO_ID, KERNEL_ID, keys, model, now, obj,
};
use crate::assertion::{PrivateKey, certify_key, encode_stream, sign};
use serde_json::{Value, json};

struct Seed {
    root: PrivateKey,
    brand: PrivateKey,
    trust: TrustRoot,
}

fn seed(grade: &str) -> Seed {
    let k = keys();
    let m = trust_fixtures::signed_model(&k, grade);
    let trust = TrustRoot::from_seed(&m.encode(), &encode_stream(&k.etc), now()).unwrap();
    Seed {
        root: k.root,
        brand: k.brand,
        trust,
    }
}

fn copy() -> Copied<'static> {
    Copied {
        sha3_384: DIGEST,
        size: 4096,
    }
}

/// The pair `snapsmith snap assert` makes, for a snap of [`DIGEST`].
fn asserted(key: &PrivateKey, account: &str, name: &str, id: &str, rev: u64) -> Vec<Assertion> {
    trust_fixtures::asserted(key, account, (name, id), rev, DIGEST)
}

fn installed_kernel(rev: u64) -> impl Fn(&str) -> Option<u64> {
    move |name| (name == "pc-kernel").then_some(rev)
}

fn check(s: &Seed, a: &[Assertion]) -> Result<Verdict, Refusal> {
    s.trust.check_bytes(a, &copy(), installed_kernel(1), now())
}

#[test]
fn a_newer_asserted_kernel_passes_both_steps() {
    let s = seed("signed");
    let a = asserted(&s.root, "root", "pc-kernel", KERNEL_ID, 2);
    let verdict = check(&s, &a).unwrap();
    let Verdict::Asserted { entry, revision } = &verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!((entry.name.as_str(), *revision), ("pc-kernel", 2));
    let entry = verdict
        .check_yaml(&s.trust.model, "pc-kernel", "kernel", None)
        .unwrap();
    assert_eq!(entry.id.as_deref(), Some(KERNEL_ID));
}

#[test]
fn an_app_of_the_model_is_updated_but_not_the_gadget_nor_downgraded() {
    let s = seed("signed");
    let a = asserted(&s.root, "root", "hello", HELLO_ID, 3);
    let installed = |name: &str| (name == "hello").then_some(2);
    let verdict = s.trust.check_bytes(&a, &copy(), installed, now()).unwrap();
    assert_eq!(
        verdict
            .check_yaml(&s.trust.model, "hello", "app", Some("core"))
            .unwrap()
            .name,
        "hello"
    );
    let same = |name: &str| (name == "hello").then_some(3);
    assert_eq!(
        s.trust.check_bytes(&a, &copy(), same, now()),
        Err(Refusal::NotNewer {
            offered: 3,
            installed: 3
        })
    );
    let gadget = asserted(&s.root, "root", "pc", GADGET_ID, 2);
    assert_eq!(check(&s, &gadget), Err(Refusal::NotInModel("pc".into())));
}

#[test]
fn unasserted_updates_only_for_dangerous_models() {
    let signed = seed("signed");
    assert_eq!(
        check(&signed, &[]),
        Err(Refusal::Unasserted("signed".into()))
    );
    let dangerous = seed("dangerous");
    let verdict = check(&dangerous, &[]).unwrap();
    assert_eq!(verdict, Verdict::Unasserted);
    let m = &dangerous.trust.model;
    assert_eq!(
        verdict.check_yaml(m, "core", "base", None).unwrap().name,
        "core"
    );
    assert_eq!(
        verdict.check_yaml(m, "hello", "app", None).unwrap().name,
        "hello",
        "the model's app snaps are updated like its kernel and base"
    );
    assert_eq!(
        verdict.check_yaml(m, "hello", "base", None),
        Err(Refusal::Type {
            name: "hello".into(),
            found: "base".into(),
            expected: "app".into()
        })
    );
    assert_eq!(
        verdict.check_yaml(m, "pc", "gadget", None),
        Err(Refusal::NotInModel("pc".into()))
    );
}

#[test]
fn keys_outside_the_chain_are_refused() {
    let s = seed("signed");
    let outsider = PrivateKey::from_seed([9; 32]);
    let err = check(&s, &asserted(&outsider, "root", "pc-kernel", KERNEL_ID, 2)).unwrap_err();
    assert!(matches!(err, Refusal::Untrusted(_)), "{err}");
    // The brand's key is in the chain but its account is not trusted to act as the store.
    let err = check(&s, &asserted(&s.brand, "dev", "pc-kernel", KERNEL_ID, 2)).unwrap_err();
    assert!(
        err.to_string()
            .contains("must be signed by a trusted root key"),
        "{err}"
    );
}

#[test]
fn another_key_of_the_root_account_may_sign() {
    let s = seed("signed");
    let store = PrivateKey::from_seed([3; 32]);
    let epoch = OffsetDateTime::UNIX_EPOCH;
    let cert = certify_key(
        &store.public(),
        "store",
        "root",
        &s.root,
        "root",
        epoch,
        None,
    )
    .unwrap();
    let mut a = vec![cert[1].clone()];
    a.extend(asserted(&store, "root", "pc-kernel", KERNEL_ID, 2));
    assert!(check(&s, &a).is_ok());
}

#[test]
fn bytes_that_differ_from_the_revision_are_refused() {
    let s = seed("signed");
    let a = asserted(&s.root, "root", "pc-kernel", KERNEL_ID, 2);
    let other = "A".repeat(64);
    let forged = Copied {
        sha3_384: &other,
        size: 4096,
    };
    assert_eq!(
        s.trust.check_bytes(&a, &forged, installed_kernel(1), now()),
        Err(Refusal::Digest(other.clone()))
    );
    let short = Copied {
        sha3_384: DIGEST,
        size: 4095,
    };
    assert_eq!(
        s.trust.check_bytes(&a, &short, installed_kernel(1), now()),
        Err(Refusal::Size {
            size: 4095,
            asserted: 4096
        })
    );
}

#[test]
fn names_and_ids_must_be_the_models() {
    let s = seed("signed");
    let a = asserted(&s.root, "root", "core24", BASE_ID, 2);
    assert_eq!(check(&s, &a), Err(Refusal::NotInModel("core24".into())));
    let a = asserted(&s.root, "root", "pc-kernel", BASE_ID, 2);
    assert!(matches!(check(&s, &a), Err(Refusal::SnapId { .. })));
    // The gadget is in the model but is not updated this way.
    let a = asserted(&s.root, "root", "pc", GADGET_ID, 2);
    assert_eq!(check(&s, &a), Err(Refusal::NotInModel("pc".into())));
}

#[test]
fn older_and_equal_revisions_are_refused() {
    let s = seed("signed");
    for rev in [1, 2] {
        let a = asserted(&s.root, "root", "pc-kernel", KERNEL_ID, rev);
        assert_eq!(
            s.trust.check_bytes(&a, &copy(), installed_kernel(2), now()),
            Err(Refusal::NotNewer {
                offered: rev,
                installed: 2
            })
        );
    }
    // An unasserted installed kernel (x1) is replaced by any asserted revision.
    let a = asserted(&s.root, "root", "pc-kernel", KERNEL_ID, 1);
    assert!(s.trust.check_bytes(&a, &copy(), |_| None, now()).is_ok());
}

#[test]
fn snap_yaml_must_fit_the_assertions_and_the_model() {
    let s = seed("signed");
    let verdict = check(&s, &asserted(&s.root, "root", "pc-kernel", KERNEL_ID, 2)).unwrap();
    let m = &s.trust.model;
    assert!(matches!(
        verdict.check_yaml(m, "evil", "kernel", None),
        Err(Refusal::Name { .. })
    ));
    assert!(matches!(
        verdict.check_yaml(m, "pc-kernel", "base", None),
        Err(Refusal::Type { .. })
    ));
    assert_eq!(
        verdict.check_yaml(m, "pc-kernel", "kernel", Some("core24")),
        Err(Refusal::Base {
            found: "core24".into(),
            expected: "core".into()
        })
    );
    assert!(
        verdict
            .check_yaml(m, "pc-kernel", "kernel", Some("core"))
            .is_ok()
    );
}

#[test]
fn delegated_provenance_needs_a_revision_authority() {
    let s = seed("signed");
    let delegated = |authority: Option<Value>| {
        let mut decl = obj(json!({"series": "16", "snap-id": KERNEL_ID,
            "snap-name": "pc-kernel", "publisher-id": "dev",
            "timestamp": "2026-01-01T00:00:00Z"}));
        if let Some(ra) = authority {
            decl.insert("revision-authority".into(), ra);
        }
        let rev = obj(json!({"snap-sha3-384": DIGEST, "provenance": "brand-build",
            "snap-id": KERNEL_ID, "snap-size": "4096", "snap-revision": "5",
            "developer-id": "dev", "timestamp": "2026-01-01T00:00:00Z"}));
        vec![
            sign("snap-declaration", &decl, &[], &s.root, "root").unwrap(),
            sign("snap-revision", &rev, &[], &s.brand, "dev").unwrap(),
        ]
    };
    let refused = |a: &[Assertion]| match check(&s, a) {
        Err(Refusal::Untrusted(m)) => assert!(m.contains("revision-authority"), "{m}"),
        other => panic!("{other:?}"),
    };
    refused(&delegated(None));
    let item = |account: &str, max: &str| json!([{"account-id": account, "provenance": ["brand-build"], "max-revision": max}]);
    refused(&delegated(Some(item("someone", "0"))));
    refused(&delegated(Some(item("dev", "4"))));
    let verdict = check(&s, &delegated(Some(item("dev", "0")))).unwrap();
    assert!(matches!(verdict, Verdict::Asserted { revision: 5, .. }));
}

#[test]
fn a_newer_account_key_revision_wins_in_any_order() {
    let s = seed("signed");
    let store = PrivateKey::from_seed([3; 32]);
    let key = |revision: &str, until: Option<&str>| {
        let mut h = obj(json!({"account-id": "root", "name": "store",
            "public-key-sha3-384": store.public().id(), "since": "1970-01-01T00:00:00Z",
            "revision": revision}));
        if let Some(u) = until {
            h.insert("until".into(), json!(u));
        }
        let body = store.public().encode_body();
        sign("account-key", &h, body.as_bytes(), &s.root, "root").unwrap()
    };
    // Revision 1 ends the key's validity before the assertions it signs.
    let (old, new) = (key("0", None), key("1", Some("2025-01-01T00:00:00Z")));
    let signed = asserted(&store, "root", "pc-kernel", KERNEL_ID, 2);
    for keys in [[old.clone(), new.clone()], [new, old.clone()]] {
        let mut a = keys.to_vec();
        a.extend(signed.clone());
        let err = check(&s, &a).unwrap_err();
        assert!(
            err.to_string()
                .contains("outside the signing key's validity"),
            "{err}"
        );
    }
    let mut a = vec![old];
    a.extend(signed);
    assert!(check(&s, &a).is_ok());
}

#[test]
fn a_seed_without_roots_is_no_trust_root() {
    let brand = PrivateKey::from_seed([2; 32]);
    let root = PrivateKey::from_seed([1; 32]);
    let epoch = OffsetDateTime::UNIX_EPOCH;
    let etc = certify_key(&brand.public(), "brand", "dev", &root, "root", epoch, None).unwrap();
    let m = sign("model", &model("signed"), &[], &brand, "dev").unwrap();
    let err = TrustRoot::from_seed(&m.encode(), &encode_stream(&etc), now()).unwrap_err();
    assert!(err.to_string().contains("no self-signed root"), "{err}");
}
