//! Reproducibility: identifiers (GUIDs, FAT serials, ext4 UUIDs and hash seeds) derived from the
//! inputs instead of drawn at random. The build time is a value the CLI passes down (it reads
//! `SOURCE_DATE_EPOCH`); nothing here reads the environment or the clock.

use uuid::Uuid;

/// Namespace for every UUID snapsmith derives (a fixed, arbitrary v4 UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_9d3b_4c55_8a71_0e5d_b2c4_93f7);

/// A UUID derived from `parts` (name-based, v5): the same parts always give the same UUID.
pub fn derive_uuid(parts: &[&[u8]]) -> Uuid {
    let mut name = Vec::new();
    for part in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        name.extend_from_slice(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_le_bytes());
        name.extend_from_slice(part);
    }
    Uuid::new_v5(&NAMESPACE, &name)
}

/// A 32-bit identifier (FAT volume id, MBR disk signature) derived from `parts`.
pub fn derive_u32(parts: &[&[u8]]) -> u32 {
    let bytes = derive_uuid(parts).into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(derive_uuid(&[b"a", b"bc"]), derive_uuid(&[b"a", b"bc"]));
        assert_ne!(derive_uuid(&[b"a", b"bc"]), derive_uuid(&[b"ab", b"c"]));
        assert_ne!(derive_u32(&[b"x"]), derive_u32(&[b"y"]));
    }
}
