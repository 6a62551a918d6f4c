//! Conformance against real model assertions: every `.model` of the corpus parses and re-encodes
//! to its exact signed content (their RSA signatures are reported as unsupported), and every
//! `.json` signs with a test key and verifies through a test root.

mod support;

use snapsmith::assertion::{self, Error, Model, PrivateKey, trust};
use std::path::PathBuf;
use time::OffsetDateTime;

fn corpus_files(ext: &str) -> Option<Vec<PathBuf>> {
    let dir = support::corpus()?.join("models");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus models dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .{ext} files in {}", dir.display());
    Some(files)
}

#[test]
fn every_corpus_model_reencodes_exactly() {
    let Some(files) = corpus_files("model") else {
        return;
    };
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let a = assertion::decode(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            String::from_utf8_lossy(&a.encode_content()),
            String::from_utf8_lossy(a.signed_content()),
            "{}: re-encoding differs from the signed content",
            path.display()
        );
        assert_eq!(
            a.encode(),
            data,
            "{}: full re-encoding differs",
            path.display()
        );
        let model = Model::from_assertion(&a).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(model.snap_of_type(assertion::SnapType::Kernel).is_some());
        assert!(model.snap_of_type(assertion::SnapType::Gadget).is_some());
        // RSA is supported: what stops verification now is the missing chain (Canonical's
        // account-key for the model's signing key is not in the corpus).
        let err = trust::verify(&[a], &[], OffsetDateTime::now_utc()).unwrap_err();
        assert!(
            !matches!(err, Error::UnsupportedAlgorithm(_))
                && err.to_string().contains("is unknown"),
            "{}: {err}",
            path.display()
        );
    }
}

#[test]
fn legacy_models_map_into_snaps() {
    let Some(files) = corpus_files("model") else {
        return;
    };
    let pi = files
        .iter()
        .find(|p| p.ends_with("ubuntu-core-18-pi3.model"))
        .unwrap();
    let m =
        Model::from_assertion(&assertion::decode(&std::fs::read(pi).unwrap()).unwrap()).unwrap();
    assert!(m.legacy);
    let names: Vec<(&str, &str)> = m
        .snaps
        .iter()
        .map(|s| (s.name.as_str(), s.default_channel.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("pi", "18-pi3/stable"),
            ("pi-kernel", "18-pi3/stable"),
            ("core18", "latest/stable")
        ]
    );
    assert_eq!(m.grade, assertion::Grade::Unset);
}

#[test]
fn every_corpus_json_signs_and_verifies() {
    let Some(files) = corpus_files("json") else {
        return;
    };
    for path in files {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let headers = json.as_object().unwrap();
        let brand = headers["authority-id"].as_str().unwrap();
        let root = PrivateKey::from_seed([1; 32]);
        let brand_key = PrivateKey::from_seed([2; 32]);
        let epoch = OffsetDateTime::UNIX_EPOCH;
        let trusted = assertion::certify_key(
            &root.public(),
            "root",
            "test-root",
            &root,
            "test-root",
            epoch,
            None,
        )
        .unwrap();
        let chain = assertion::certify_key(
            &brand_key.public(),
            "models",
            brand,
            &root,
            "test-root",
            epoch,
            None,
        )
        .unwrap();
        let type_name = headers["type"].as_str().unwrap();
        let model = assertion::sign(type_name, headers, &[], &brand_key, brand)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The signed text decodes back to the same assertion.
        let back = assertion::decode(&model.encode()).unwrap();
        assert_eq!(back, model);
        let mut all = chain.clone();
        all.push(back);
        let v = trust::verify(&all, &trusted, OffsetDateTime::now_utc())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(v.models.len(), 1);
        assert_eq!(v.models[0].model, headers["model"].as_str().unwrap());
    }
}
