//! The gadget.yaml document as written: serde types that mirror the YAML keys.
//!
//! Parsing is lenient about unknown keys (real gadgets carry `device-tree`, `format` and other
//! keys snapsmith does not use), strict about the shape of the keys it knows. Values stay close to
//! their text here; [`super::schema`] turns them into checked types with errors that name the
//! volume, the structure and the field. serde_yaml reports the path of a shape error
//! (`volumes.pc.structure[2].size: ...`), so even those name the place.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A YAML mapping whose entry order matters (volume order is the order in the file).
#[derive(Debug, Clone)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Ordered(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    entries.push((key, value));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_any(OrderedVisitor(std::marker::PhantomData))
    }
}

/// An integer or a string: sizes (`440`, `1M`), offsets, MBR types (`83` parses as a number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(u64),
    Str(String),
}

// Hand-written rather than `untagged`, so a shape error is reported at the field's own path.
impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer or a string")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                u64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl Scalar {
    /// The value as the text the gadget author typed (numbers in decimal).
    pub fn text(&self) -> String {
        match self {
            Scalar::Int(n) => n.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawGadget {
    #[serde(default)]
    pub volumes: Ordered<RawVolume>,
    #[serde(default)]
    pub defaults: Ordered<serde_yaml::Value>,
    #[serde(default)]
    pub connections: Vec<RawConnection>,
    pub kernel_cmdline: Option<RawCmdline>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawVolume {
    pub schema: Option<String>,
    pub bootloader: Option<String>,
    pub id: Option<Scalar>,
    #[serde(default)]
    pub partial: Vec<String>,
    #[serde(default)]
    pub structure: Vec<RawStructure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawStructure {
    pub name: Option<String>,
    pub filesystem_label: Option<String>,
    pub offset: Option<Scalar>,
    pub offset_write: Option<Scalar>,
    pub size: Option<Scalar>,
    pub min_size: Option<Scalar>,
    #[serde(rename = "type")]
    pub type_: Option<Scalar>,
    pub role: Option<String>,
    pub id: Option<String>,
    pub filesystem: Option<String>,
    #[serde(default)]
    pub content: Vec<RawContent>,
    pub update: Option<RawUpdate>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawContent {
    pub source: Option<String>,
    pub target: Option<String>,
    pub image: Option<String>,
    pub offset: Option<Scalar>,
    pub size: Option<Scalar>,
    pub unpack: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawUpdate {
    pub edition: Option<u32>,
    #[serde(default)]
    pub preserve: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawConnection {
    pub plug: Option<String>,
    pub slot: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawCmdline {
    #[serde(default)]
    pub append: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub allow: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_order_is_kept_and_shape_errors_name_the_path() {
        let g: RawGadget =
            serde_yaml::from_str("volumes:\n  zz: {}\n  aa: {}\n  mm: {}\n").unwrap();
        let names: Vec<_> = g.volumes.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zz", "aa", "mm"]);
        let err = serde_yaml::from_str::<RawGadget>(
            "volumes:\n  pc:\n    structure:\n      - name: a\n        size: [1]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("volumes.pc.structure[0].size"), "{err}");
    }
}
