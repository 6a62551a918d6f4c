//! cargo-fuzz target for the assertion codec: decode any bytes; whatever decodes must re-encode
//! and decode to itself, and typed readers and the trust check must not panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snapsmith::assertion::fuzzcheck::check_codec(data);
});
