//! Recovery system labels: the name of a recovery system under `systems/<label>/` on
//! ubuntu-seed and in the seed grubenv's `snapd_recovery_system`, which the boot protocol
//! (docs/boot-protocol.md) carries from the build to GRUB and the init.

use anyhow::{Context, Result, bail};

/// The recovery system label: `^[a-z0-9](?:-?[a-z0-9])*$`.
pub fn validate_label(label: &str) -> Result<()> {
    let ok = label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && !label.contains("--");
    if !ok {
        bail!(
            "invalid recovery system label {label:?}: use lowercase letters, digits and inner single dashes"
        );
    }
    Ok(())
}

/// The default label: the UTC build date as `YYYYMMDD`.
pub fn default_label(epoch_seconds: i64) -> Result<String> {
    let when = time::OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .with_context(|| format!("build time {epoch_seconds} is out of range"))?;
    let format = time::macros::format_description!("[year][month][day]");
    Ok(when.format(&format)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(default_label(1_764_028_800).unwrap(), "20251125");
        assert_eq!(default_label(0).unwrap(), "19700101");
        assert!(validate_label("dev-1").is_ok());
        for bad in ["", "Dev", "a--b", "-a", "a_b"] {
            assert!(validate_label(bad).is_err(), "{bad}");
        }
    }
}
