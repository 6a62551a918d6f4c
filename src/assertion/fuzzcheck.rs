//! The codec's fuzzing property, shared by the cargo-fuzz target (`fuzz/`) and the bounded
//! deterministic mutation test (`tests/assertion_fuzz.rs`): any input either fails with an error
//! or decodes to assertions that re-encode and decode to themselves; typed readers and the
//! trust check never panic.

use super::{Model, decode, decode_stream, sign::check_type_rules, trust};

/// Runs the property on one input; panics only when the property is broken.
pub fn check_codec(data: &[u8]) {
    let Ok(all) = decode_stream(data) else {
        return;
    };
    for a in &all {
        let encoded = a.encode();
        let back = decode(&encoded).unwrap_or_else(|e| {
            panic!(
                "re-encoded assertion does not decode: {e}\n{}",
                String::from_utf8_lossy(&encoded)
            )
        });
        assert_eq!(&back, a, "decode(encode(a)) != a");
        // Canonical content decodes to the same headers.
        let _ = check_type_rules(a);
        let _ = Model::from_assertion(a);
    }
    let _ = trust::verify(&all, &all, time::OffsetDateTime::UNIX_EPOCH);
}
