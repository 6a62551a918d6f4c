//! Name rules for snaps and their parts, as snapd enforces them (`snap/naming`, `snap/validate`).
//!
//! Pure string checks without a regex engine: each rule is small enough to state as a scan, and
//! the same rules are shared by `snap pack`, `snap info` and the seed resolver.

/// Snap names: 2 to 40 characters of `a-z`, `0-9` and `-`, at least one letter, no leading,
/// trailing or doubled `-` (snapd: `^(?:[a-z0-9]+-?)*[a-z](?:-?[a-z0-9])*$`).
pub fn valid_snap_name(name: &str) -> bool {
    (2..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && dashes_are_inner_and_single(name)
}

/// App names: `^[a-zA-Z0-9](?:-?[a-zA-Z0-9])*$`.
pub fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && dashes_are_inner_and_single(name)
}

/// Plug, slot, interface and hook names: `^[a-z](?:-?[a-z0-9])*$`.
pub fn valid_plug_slot_name(name: &str) -> bool {
    name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && dashes_are_inner_and_single(name)
}

/// Versions: 1 to 32 characters; the first is alphanumeric, the last alphanumeric, `+` or `~`,
/// and the inner ones may also be `:`, `.`, `+`, `~` or `-`
/// (snapd: `^[a-zA-Z0-9](?:[a-zA-Z0-9:.+~-]{0,30}[a-zA-Z0-9+~])?$`).
pub fn valid_version(version: &str) -> bool {
    let bytes = version.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() <= 32
        && first.is_ascii_alphanumeric()
        && (last.is_ascii_alphanumeric() || *last == b'+' || *last == b'~')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b":.+~-".contains(b))
}

/// Architecture names as snapd spells them (`amd64`, `arm64`, `all`, ...): lowercase
/// alphanumerics, `-` and `_`, starting with a letter or digit.
pub fn valid_architecture(arch: &str) -> bool {
    arch.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && arch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn dashes_are_inner_and_single(name: &str) -> bool {
    !name.starts_with('-') && !name.ends_with('-') && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snap_names_follow_snapd() {
        for good in ["pc", "pc-kernel", "core22", "a1", "0ad", "hello-world-2"] {
            assert!(valid_snap_name(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "-pc",
            "pc-",
            "pc--kernel",
            "PC",
            "12",
            "pc_kernel",
            "pc.kernel",
            "abcdefghijabcdefghijabcdefghijabcdefghijx",
        ] {
            assert!(!valid_snap_name(bad), "{bad}");
        }
    }

    #[test]
    fn app_and_plug_names_follow_snapd() {
        assert!(valid_app_name("Hello-2"));
        assert!(valid_app_name("2fa"));
        assert!(!valid_app_name("hello_world"));
        assert!(!valid_app_name("-x"));
        assert!(valid_plug_slot_name("network-bind"));
        assert!(!valid_plug_slot_name("2net"));
        assert!(!valid_plug_slot_name("Net"));
        assert!(!valid_plug_slot_name("net--x"));
    }

    #[test]
    fn versions_follow_snapd() {
        for good in ["1", "1.0", "2.0+git~1", "1:2.3-4", "a~"] {
            assert!(valid_version(good), "{good}");
        }
        for bad in ["", "-1", "1.", "1 2", "v1_0", &"1".repeat(33)] {
            assert!(!valid_version(bad), "{bad}");
        }
    }

    #[test]
    fn architectures() {
        assert!(valid_architecture("amd64"));
        assert!(valid_architecture("all"));
        assert!(!valid_architecture("AMD64"));
        assert!(!valid_architecture(""));
    }
}
