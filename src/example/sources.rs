//! The example device's sources, compiled in from this repository: the busybox base
//! (`examples/core`), the apps (`examples/hello`; `examples/neighbour` and `examples/tinker`,
//! a strict and a devmode confinement probe), the gadget (`gadgets/pc`), the signed model
//! with its brand chain and trusted root (`models/`), and the TEST-ONLY keys that signed them
//! (`models/test-keys`). Compiling them in makes `snapsmith example` independent of the working
//! directory, and the file modes explicit instead of whatever a checkout's umask left.

/// One file of a snap tree.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile {
    /// Path inside the snap.
    pub path: &'static str,
    pub bytes: &'static [u8],
    /// Mode 0755 when true, else 0644.
    pub executable: bool,
}

macro_rules! source {
    ($tree:literal, $path:literal, $executable:literal) => {
        SourceFile {
            path: $path,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $tree, "/", $path)),
            executable: $executable,
        }
    };
}

macro_rules! repo_file {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path))
    };
}

/// One snap's source tree in the repository.
#[derive(Debug, Clone, Copy)]
pub struct SourceTree {
    /// The directory in the repository.
    pub dir: &'static str,
    pub files: &'static [SourceFile],
}

/// The base snap `core` (busybox and the mount points are added by the builder).
pub const CORE: SourceTree = SourceTree {
    dir: "examples/core",
    files: &[
        source!("examples/core", "meta/snap.yaml", false),
        source!("examples/core", "sbin/init", true),
        source!("examples/core", "snapsmith/health", true),
    ],
};

/// The app snap `hello`.
pub const HELLO: SourceTree = SourceTree {
    dir: "examples/hello",
    files: &[
        source!("examples/hello", "meta/snap.yaml", false),
        source!("examples/hello", "bin/hello", true),
    ],
};

/// The strict app snap `neighbour`: a confinement probe beside hello.
pub const NEIGHBOUR: SourceTree = SourceTree {
    dir: "examples/neighbour",
    files: &[
        source!("examples/neighbour", "meta/snap.yaml", false),
        source!("examples/neighbour", "bin/probe", true),
    ],
};

/// The devmode app snap `tinker`: the same probe, unconfined (`bin/probe` links to
/// neighbour's).
pub const TINKER: SourceTree = SourceTree {
    dir: "examples/tinker",
    files: &[
        source!("examples/tinker", "meta/snap.yaml", false),
        source!("examples/tinker", "bin/probe", true),
    ],
};

/// The gadget snap `pc`.
pub const GADGET: SourceTree = SourceTree {
    dir: "gadgets/pc",
    files: &[
        source!("gadgets/pc", "meta/snap.yaml", false),
        source!("gadgets/pc", "meta/gadget.yaml", false),
        source!("gadgets/pc", "cmdline.extra", false),
    ],
};

/// `models/dev-amd64.model`: the example model, grade `signed`, signed by `dev-brand`.
pub const MODEL: &[u8] = repo_file!("models/dev-amd64.model");
/// `models/dev-brand.assert`: account `dev` and the brand key, signed by the root.
pub const BRAND: &[u8] = repo_file!("models/dev-brand.assert");
/// `models/dev-root.assert`: the self-signed root of trust.
pub const ROOT: &[u8] = repo_file!("models/dev-root.assert");

/// Key files of `models/test-keys` (TEST-ONLY, public): (name, keyring file bytes).
pub const TEST_KEYS: &[(&str, &[u8])] = &[
    ("dev-brand", repo_file!("models/test-keys/dev-brand.key")),
    ("dev-root", repo_file!("models/test-keys/dev-root.key")),
];

/// The key that signs the example snaps' declarations and revisions (it acts as the store,
/// and snap-declarations must be signed by a trusted root).
pub const STORE_KEY: &str = "dev-root";

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>, bool)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            out.push((rel, std::fs::read(&path).unwrap(), mode & 0o111 != 0));
        }
    }

    #[test]
    fn compiled_in_trees_match_the_repository() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for tree in [CORE, HELLO, NEIGHBOUR, TINKER, GADGET] {
            let mut on_disk = Vec::new();
            walk(&repo.join(tree.dir), &repo.join(tree.dir), &mut on_disk);
            on_disk.sort();
            let mut compiled: Vec<_> = tree
                .files
                .iter()
                .map(|f| (f.path.to_string(), f.bytes.to_vec(), f.executable))
                .collect();
            compiled.sort();
            assert_eq!(
                compiled, on_disk,
                "{} and its compiled-in copy differ",
                tree.dir
            );
        }
    }
}
