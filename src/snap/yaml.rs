//! `meta/snap.yaml`: the typed snap metadata and its validation (pure, no I/O).
//!
//! The fields snapsmith acts on are typed (name, version, type, base, architectures, apps with
//! their daemons, plugs, slots); other keys are accepted and ignored, as snapd does. Validation
//! follows snapd's naming rules so a snap refused here would be refused by snapd too, and each
//! error names the field.

use super::naming::{
    valid_app_name, valid_architecture, valid_plug_slot_name, valid_snap_name, valid_version,
};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The kind of snap (`type:` in snap.yaml; `app` when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapType {
    App,
    Gadget,
    Kernel,
    Base,
    /// The legacy `core` snap; models call this type `core`.
    #[serde(alias = "core")]
    Os,
    Snapd,
}

impl SnapType {
    /// The type as spelled in snap.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapType::App => "app",
            SnapType::Gadget => "gadget",
            SnapType::Kernel => "kernel",
            SnapType::Base => "base",
            SnapType::Os => "os",
            SnapType::Snapd => "snapd",
        }
    }

    /// Parses a type as a model assertion spells it (`core` is the snap.yaml `os`).
    pub fn from_model(text: &str) -> Option<SnapType> {
        Some(match text {
            "app" => SnapType::App,
            "gadget" => SnapType::Gadget,
            "kernel" => SnapType::Kernel,
            "base" => SnapType::Base,
            "core" | "os" => SnapType::Os,
            "snapd" => SnapType::Snapd,
            _ => return None,
        })
    }
}

impl fmt::Display for SnapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an app runs as a service (`daemon:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Daemon {
    Simple,
    Forking,
    Oneshot,
    Notify,
    Dbus,
}

impl Daemon {
    /// The daemon kind as spelled in snap.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            Daemon::Simple => "simple",
            Daemon::Forking => "forking",
            Daemon::Oneshot => "oneshot",
            Daemon::Notify => "notify",
            Daemon::Dbus => "dbus",
        }
    }
}

/// When a daemon is restarted (`restart-condition:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    Always,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnAbort,
    OnWatchdog,
    /// snapd spells it `no` or `never`.
    #[serde(alias = "no")]
    Never,
}

/// One entry of `apps:`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct App {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<Daemon>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_condition: Option<RestartCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// A plug or slot: the interface it speaks and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interface {
    pub interface: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, serde_yaml::Value>,
}

/// The parsed and validated `meta/snap.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnapInfo {
    pub name: String,
    pub version: String,
    #[serde(rename = "type")]
    pub snap_type: SnapType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// `["all"]` when snap.yaml does not say.
    pub architectures: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confinement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub apps: BTreeMap<String, App>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub plugs: BTreeMap<String, Interface>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, Interface>,
}

/// snap.yaml as written, before defaults and validation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Raw {
    name: Option<String>,
    version: Option<serde_yaml::Value>,
    #[serde(rename = "type")]
    snap_type: Option<String>,
    base: Option<String>,
    architectures: Option<Vec<String>>,
    summary: Option<String>,
    confinement: Option<String>,
    grade: Option<String>,
    #[serde(default)]
    apps: BTreeMap<String, Option<App>>,
    #[serde(default)]
    plugs: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    slots: BTreeMap<String, serde_yaml::Value>,
}

impl SnapInfo {
    /// Parses and validates snap.yaml bytes; errors name the offending field.
    pub fn parse(bytes: &[u8]) -> Result<SnapInfo> {
        let raw: Raw = serde_yaml::from_slice(bytes).context("invalid YAML")?;
        let Some(name) = raw.name else {
            bail!("field `name` is missing")
        };
        if !valid_snap_name(&name) {
            bail!("field `name`: invalid snap name {name:?}");
        }
        let version = scalar_text(raw.version).context("field `version`")?;
        if !valid_version(&version) {
            bail!("field `version`: invalid version {version:?}");
        }
        let snap_type = match raw.snap_type.as_deref() {
            None => SnapType::App,
            Some(t) => SnapType::from_model(t)
                .filter(|_| t != "core")
                .with_context(|| format!("field `type`: unknown snap type {t:?}"))?,
        };
        let info = SnapInfo {
            name,
            version,
            snap_type,
            base: raw.base,
            architectures: raw.architectures.unwrap_or_else(|| vec!["all".to_string()]),
            summary: raw.summary,
            confinement: raw.confinement,
            grade: raw.grade,
            apps: raw
                .apps
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            plugs: interfaces("plugs", raw.plugs)?,
            slots: interfaces("slots", raw.slots)?,
        };
        info.validate()?;
        Ok(info)
    }

    /// True when the snap runs on `arch` (listed, or `all`).
    pub fn supports_arch(&self, arch: &str) -> bool {
        self.architectures.iter().any(|a| a == arch || a == "all")
    }

    /// Names of the apps that are daemons, sorted.
    pub fn daemons(&self) -> Vec<&str> {
        self.apps
            .iter()
            .filter(|(_, app)| app.daemon.is_some())
            .map(|(name, _)| name.as_str())
            .collect()
    }

    fn validate(&self) -> Result<()> {
        if let Some(base) = &self.base
            && base != "none"
            && !valid_snap_name(base)
        {
            bail!("field `base`: invalid snap name {base:?}");
        }
        if self.architectures.is_empty() {
            bail!("field `architectures`: empty list");
        }
        for arch in &self.architectures {
            if !valid_architecture(arch) {
                bail!("field `architectures`: invalid architecture {arch:?}");
            }
        }
        check_one_of(
            "confinement",
            &self.confinement,
            &["strict", "devmode", "classic"],
        )?;
        check_one_of("grade", &self.grade, &["stable", "devel"])?;
        for name in self.plugs.keys() {
            if self.slots.contains_key(name) {
                bail!("field `plugs`: {name:?} is also a slot name");
            }
        }
        for (name, app) in &self.apps {
            self.validate_app(name, app)?;
        }
        Ok(())
    }

    fn validate_app(&self, name: &str, app: &App) -> Result<()> {
        if !valid_app_name(name) {
            bail!("field `apps`: invalid app name {name:?}");
        }
        if app.command.as_deref().is_none_or(str::is_empty) {
            bail!("field `apps.{name}.command` is missing");
        }
        if app.daemon.is_none() && app.restart_condition.is_some() {
            bail!("field `apps.{name}.restart-condition` is only valid for daemons");
        }
        for (field, names) in [("plugs", &app.plugs), ("slots", &app.slots)] {
            if let Some(bad) = names.iter().find(|n| !valid_plug_slot_name(n)) {
                bail!("field `apps.{name}.{field}`: invalid name {bad:?}");
            }
        }
        for (field, names) in [("before", &app.before), ("after", &app.after)] {
            if let Some(other) = names
                .iter()
                .find(|n| self.apps.get(n.as_str()).is_none_or(|a| a.daemon.is_none()))
            {
                bail!("field `apps.{name}.{field}`: {other:?} is not a daemon of this snap");
            }
        }
        Ok(())
    }
}

/// A version may be written as a YAML number (`version: 1.0`); snapd reads it as text.
fn scalar_text(value: Option<serde_yaml::Value>) -> Result<String> {
    match value {
        None => bail!("missing"),
        Some(serde_yaml::Value::String(s)) => Ok(s),
        Some(serde_yaml::Value::Number(n)) => Ok(n.to_string()),
        Some(other) => bail!("expected text, found {other:?}"),
    }
}

fn check_one_of(field: &str, value: &Option<String>, allowed: &[&str]) -> Result<()> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => {
            bail!(
                "field `{field}`: {v:?} is not one of {}",
                allowed.join(", ")
            )
        }
        _ => Ok(()),
    }
}

/// Plugs and slots come as `name:` (interface = name), `name: iface` or a map with
/// `interface:` and attributes.
fn interfaces(
    field: &str,
    raw: BTreeMap<String, serde_yaml::Value>,
) -> Result<BTreeMap<String, Interface>> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if !valid_plug_slot_name(&name) {
            bail!("field `{field}`: invalid name {name:?}");
        }
        let (interface, attrs) = match value {
            serde_yaml::Value::Null => (name.clone(), BTreeMap::new()),
            serde_yaml::Value::String(s) => (s, BTreeMap::new()),
            serde_yaml::Value::Mapping(map) => {
                let mut attrs = BTreeMap::new();
                let mut interface = name.clone();
                for (k, v) in map {
                    let serde_yaml::Value::String(key) = k else {
                        bail!("field `{field}.{name}`: attribute names must be text");
                    };
                    match (key.as_str(), v) {
                        ("interface", serde_yaml::Value::String(i)) => interface = i,
                        ("interface", _) => bail!("field `{field}.{name}.interface`: not text"),
                        (_, v) => {
                            attrs.insert(key, v);
                        }
                    }
                }
                (interface, attrs)
            }
            _ => bail!("field `{field}.{name}`: expected an interface name or a map"),
        };
        if !valid_plug_slot_name(&interface) {
            bail!("field `{field}.{name}`: invalid interface name {interface:?}");
        }
        out.insert(name, Interface { interface, attrs });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "name: hello\nversion: 1.0\nbase: core22\n\
architectures: [amd64]\n\
apps:\n  hello:\n    command: bin/hello\n  srv:\n    command: bin/srv\n    daemon: simple\n    \
restart-condition: on-failure\n    plugs: [network-bind]\n\
plugs:\n  net: network\n  cfg:\n    interface: content\n    target: $SNAP/cfg\n\
slots:\n  svc:\n";

    #[test]
    fn parses_typed_fields_and_defaults() {
        let info = SnapInfo::parse(HELLO.as_bytes()).unwrap();
        assert_eq!(info.name, "hello");
        assert_eq!(info.version, "1.0");
        assert_eq!(info.snap_type, SnapType::App);
        assert_eq!(info.base.as_deref(), Some("core22"));
        assert!(info.supports_arch("amd64"));
        assert!(!info.supports_arch("arm64"));
        assert_eq!(info.daemons(), vec!["srv"]);
        assert_eq!(info.apps["srv"].daemon, Some(Daemon::Simple));
        assert_eq!(info.plugs["net"].interface, "network");
        assert_eq!(info.plugs["cfg"].interface, "content");
        assert!(info.plugs["cfg"].attrs.contains_key("target"));
        assert_eq!(info.slots["svc"].interface, "svc");
    }

    #[test]
    fn architectures_default_to_all() {
        let info = SnapInfo::parse(b"name: pc\nversion: '22'\ntype: gadget\n").unwrap();
        assert_eq!(info.architectures, vec!["all"]);
        assert!(info.supports_arch("riscv64"));
        assert_eq!(info.snap_type, SnapType::Gadget);
    }

    fn err(yaml: &str) -> String {
        format!("{:#}", SnapInfo::parse(yaml.as_bytes()).unwrap_err())
    }

    #[test]
    fn refusals_name_the_field() {
        assert!(err("version: 1\n").contains("`name` is missing"));
        assert!(err("name: Hello\nversion: 1\n").contains("field `name`"));
        assert!(err("name: hello\n").contains("field `version`"));
        assert!(err("name: hello\nversion: '-1'\n").contains("field `version`"));
        assert!(err("name: hello\nversion: 1\ntype: core\n").contains("field `type`"));
        assert!(err("name: hello\nversion: 1\ntype: bogus\n").contains("field `type`"));
        assert!(err("name: hello\nversion: 1\narchitectures: [AMD]\n").contains("architectures"));
        assert!(err("name: hello\nversion: 1\nconfinement: loose\n").contains("confinement"));
        assert!(err("name: hello\nversion: 1\napps:\n  a_b:\n    command: x\n").contains("a_b"));
        assert!(
            err("name: hello\nversion: 1\napps:\n  a:\n    daemon: simple\n").contains("command")
        );
        assert!(
            err("name: hello\nversion: 1\napps:\n  a:\n    command: x\n    daemon: sometimes\n")
                .contains("apps")
        );
        assert!(
            err("name: hello\nversion: 1\nplugs:\n  x: {}\nslots:\n  x:\n").contains("also a slot")
        );
        assert!(err("name: hello\nversion: 1\nplugs:\n  Bad:\n").contains("field `plugs`"));
        assert!(err(": [").contains("invalid YAML"));
    }
}
