//! Fixtures shared by the integration tests: named fixture files under `tests/fixtures/`, files written into a scratch tree, JSON printed by
//! the CLI, partition tables read back with `sfdisk --json`, and bytes read back from an image,
//! directly or out of a vfat filesystem with mtools.

use serde_json::Value;
use snapsmith::exec::Cmd;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub const MIB: u64 = 1 << 20;

/// The gadget.yaml fixture `tests/fixtures/gadgets/NAME.yaml`.
pub fn gadget_yaml(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gadgets")
        .join(format!("{name}.yaml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A TEST-ONLY RSA key from `tests/fixtures/keys/NAME.pkcs8.b64`.
pub fn fixture_key(name: &str) -> snapsmith::assertion::PrivateKey {
    use base64::Engine;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/keys/{name}.pkcs8.b64"));
    let text = std::fs::read_to_string(path).unwrap().replace('\n', "");
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    snapsmith::assertion::PrivateKey::from_pkcs8_der(&der).unwrap()
}

/// Writes `bytes` to `root/rel`, creating the parent directories.
pub fn write_file(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Runs `snapsmith ARGS... PATH`, asserts success (showing stderr when not) and parses stdout.
pub fn cli_json(args: &[&str], path: &Path) -> Value {
    let out = super::snapsmith().args(args).arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `partitiontable` object of `sfdisk --json IMAGE`.
pub fn sfdisk_table(image: &Path) -> Value {
    let text = Cmd::new("sfdisk")
        .arg("--json")
        .arg(image)
        .run_string()
        .unwrap_or_else(|e| panic!("{e:#}"));
    serde_json::from_str::<Value>(&text).unwrap()["partitiontable"].clone()
}

/// `len` bytes at `offset` of `image`.
pub fn read_at(image: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    std::fs::File::open(image)
        .unwrap()
        .read_exact_at(&mut buf, offset)
        .unwrap();
    buf
}

/// The file at `path` (absolute inside the filesystem) of the vfat filesystem that starts at
/// byte `offset` of `image`, copied out with mcopy; panics with mcopy's error when it fails.
pub fn vfat_file(image: &Path, offset: u64, path: &str) -> Vec<u8> {
    let device = format!("{}@@{offset}", image.display());
    let inside = format!("::{}", path.trim_start_matches("::"));
    Cmd::new("mcopy")
        .args(["-n", "-i", &device, &inside, "-"])
        .output()
        .unwrap_or_else(|e| panic!("{e:#}"))
        .stdout
}

/// The JSON document in the file at `path`.
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The object of the JSON array `list` whose `key` is `value`; panics naming both when absent.
pub fn entry<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {list}"))
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no entry with {key}={value:?} in {list}"))
}
