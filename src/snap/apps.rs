//! A snap's apps and hooks as snapd's runtime reads them (pure, no I/O): the services of
//! `apps:` with snapd's defaults filled in and its refusals applied (`snap/validate.go`
//! `ValidateApp`, `validateAppTimeouts`, `SortServices`, `snap/restartcond.go`), the hooks
//! found under `meta/hooks/`, and the confinement. Each error names the field.
//!
//! Defaults, as snapd 2.57 writes them into the systemd unit: `restart-condition` unset means
//! `on-failure` (a oneshot never restarts), `stop-timeout` is 30 s, `install-mode` is `enable`.

use super::duration::parse_go_duration;
use super::naming::{valid_app_name, valid_plug_slot_name};
use super::yaml::{Daemon, RestartCondition};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// snapd's default `stop-timeout` (`timeout/timeout.go`).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The hooks snapsmith runs; others found under `meta/hooks/` are listed but not run.
pub const RUN_HOOKS: [&str; 3] = ["install", "post-refresh", "check-health"];

/// The hook names snapd knows (`snap/hooktypes.go`); interface hooks match by prefix.
const KNOWN_HOOKS: [&str; 10] = [
    "prepare-device",
    "install-device",
    "configure",
    "install",
    "pre-refresh",
    "post-refresh",
    "remove",
    "check-health",
    "fde-setup",
    "gate-auto-refresh",
];

/// `confinement:` (strict when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    Strict,
    Devmode,
    Classic,
}

impl Confinement {
    pub fn as_str(self) -> &'static str {
        match self {
            Confinement::Strict => "strict",
            Confinement::Devmode => "devmode",
            Confinement::Classic => "classic",
        }
    }
}

/// `install-mode:` of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallMode {
    Enable,
    Disable,
}

/// One service (an app with `daemon:`), defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// The command line relative to the snap's root, as written (`bin/srv --flag`).
    pub command: String,
    pub daemon: Daemon,
    pub restart: RestartCondition,
    pub restart_delay: Option<Duration>,
    pub stop_timeout: Duration,
    pub start_timeout: Option<Duration>,
    pub install_mode: InstallMode,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// Snap-level `environment:`, then the app's own on top.
    pub environment: BTreeMap<String, String>,
}

/// What the device runs of one snap.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapApps {
    pub snap: String,
    pub version: String,
    pub base: Option<String>,
    pub confinement: Confinement,
    /// In start order (snapd's `SortServices`: `after`/`before` first, then by name).
    pub services: Vec<Service>,
    /// Hook names found under `meta/hooks/`, known to snapd.
    pub hooks: BTreeSet<String>,
}

impl SnapApps {
    /// True when `meta/hooks/<hook>` exists.
    pub fn has_hook(&self, hook: &str) -> bool {
        self.hooks.contains(hook)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawSnap {
    name: String,
    version: serde_yaml::Value,
    base: Option<String>,
    confinement: Option<String>,
    #[serde(default)]
    environment: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    apps: BTreeMap<String, Option<RawApp>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawApp {
    command: Option<String>,
    daemon: Option<String>,
    daemon_scope: Option<String>,
    restart_condition: Option<String>,
    restart_delay: Option<String>,
    stop_timeout: Option<String>,
    start_timeout: Option<String>,
    watchdog_timeout: Option<String>,
    install_mode: Option<String>,
    stop_mode: Option<String>,
    refresh_mode: Option<String>,
    timer: Option<String>,
    #[serde(default)]
    before: Vec<String>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, serde_yaml::Value>,
}

/// Reads the apps of `meta/snap.yaml` (`yaml`); `hook_files` are the file names under
/// `meta/hooks/`.
pub fn parse(yaml: &[u8], hook_files: &[String]) -> Result<SnapApps> {
    let raw: RawSnap = serde_yaml::from_slice(yaml).context("invalid YAML")?;
    let confinement = match raw.confinement.as_deref() {
        None | Some("strict") => Confinement::Strict,
        Some("devmode") => Confinement::Devmode,
        Some("classic") => Confinement::Classic,
        Some(other) => {
            bail!("field `confinement`: {other:?} is not one of strict, devmode, classic")
        }
    };
    let snap_env = environment("environment", raw.environment)?;
    let mut services = BTreeMap::new();
    let mut others = BTreeSet::new();
    for (name, app) in raw.apps {
        if !valid_app_name(&name) {
            bail!("field `apps`: invalid app name {name:?}");
        }
        let app = app.unwrap_or_default();
        match service(&name, app, &snap_env)? {
            Some(s) => {
                services.insert(name, s);
            }
            None => {
                others.insert(name);
            }
        }
    }
    check_order(&services, &others)?;
    Ok(SnapApps {
        snap: raw.name,
        version: scalar(&raw.version),
        base: raw.base,
        confinement,
        services: sort_services(services)?,
        hooks: hooks(hook_files)?,
    })
}

fn scalar(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn environment(
    field: &str,
    raw: BTreeMap<String, serde_yaml::Value>,
) -> Result<BTreeMap<String, String>> {
    raw.into_iter()
        .map(|(k, v)| match v {
            serde_yaml::Value::String(_)
            | serde_yaml::Value::Number(_)
            | serde_yaml::Value::Bool(_) => {
                let text = match v {
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    other => scalar(&other),
                };
                Ok((k, text))
            }
            _ => bail!("field `{field}.{k}`: expected text"),
        })
        .collect()
}

/// snapd's command characters: `[A-Za-z0-9/. _#:$-]`.
fn valid_command(command: &str) -> bool {
    !command.is_empty()
        && command
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/. _#:$-".contains(&b))
}

fn duration(field: &str, text: Option<&str>) -> Result<Option<Duration>> {
    text.map(|t| parse_go_duration(t).map_err(|e| anyhow::anyhow!("field `{field}`: {e}")))
        .transpose()
}

/// The fields only services may have, by their snap.yaml names.
fn service_only_fields(app: &RawApp) -> Vec<&'static str> {
    [
        ("restart-condition", app.restart_condition.is_some()),
        ("restart-delay", app.restart_delay.is_some()),
        ("stop-timeout", app.stop_timeout.is_some()),
        ("start-timeout", app.start_timeout.is_some()),
        ("watchdog-timeout", app.watchdog_timeout.is_some()),
        ("install-mode", app.install_mode.is_some()),
        ("stop-mode", app.stop_mode.is_some()),
        ("timer", app.timer.is_some()),
        ("daemon-scope", app.daemon_scope.is_some()),
        ("before", !app.before.is_empty()),
        ("after", !app.after.is_empty()),
    ]
    .into_iter()
    .filter_map(|(f, set)| set.then_some(f))
    .collect()
}

/// The service of app `name`, or None when it is not a daemon.
fn service(
    name: &str,
    app: RawApp,
    snap_env: &BTreeMap<String, String>,
) -> Result<Option<Service>> {
    let field = |f: &str| format!("apps.{name}.{f}");
    let command = app.command.clone().unwrap_or_default();
    if !valid_command(&command) {
        bail!(
            "field `{}`: {command:?} is missing or has characters outside [A-Za-z0-9/. _#:$-]",
            field("command")
        );
    }
    let Some(daemon) = daemon_type(name, &app)? else {
        return Ok(None);
    };
    check_service_modes(name, &app)?;
    let restart = restart_condition(
        &field("restart-condition"),
        app.restart_condition.as_deref(),
    )?;
    let mut environment = snap_env.clone();
    environment.extend(environment_of(name, app.environment)?);
    Ok(Some(Service {
        name: name.to_string(),
        command,
        daemon,
        restart: if daemon == Daemon::Oneshot {
            RestartCondition::Never
        } else {
            restart
        },
        restart_delay: duration(&field("restart-delay"), app.restart_delay.as_deref())?,
        stop_timeout: duration(&field("stop-timeout"), app.stop_timeout.as_deref())?
            .unwrap_or(DEFAULT_STOP_TIMEOUT),
        start_timeout: duration(&field("start-timeout"), app.start_timeout.as_deref())?,
        install_mode: match app.install_mode.as_deref() {
            None | Some("enable") => InstallMode::Enable,
            Some("disable") => InstallMode::Disable,
            Some(other) => bail!(
                "field `{}`: {other:?} is not one of enable, disable",
                field("install-mode")
            ),
        },
        before: app.before,
        after: app.after,
        environment,
    }))
}

/// The app's daemon type, or None for a plain app (which must then have no service fields).
fn daemon_type(name: &str, app: &RawApp) -> Result<Option<Daemon>> {
    let field = |f: &str| format!("apps.{name}.{f}");
    let Some(daemon_text) = app.daemon.as_deref() else {
        if let Some(f) = service_only_fields(app).first() {
            bail!("field `{}` is only valid for daemons", field(f));
        }
        if let Some(mode) = app
            .refresh_mode
            .as_deref()
            .filter(|m| *m != "ignore-running")
        {
            bail!(
                "field `{}`: {mode:?} is only valid for daemons",
                field("refresh-mode")
            );
        }
        return Ok(None);
    };
    Ok(Some(match daemon_text {
        "simple" => Daemon::Simple,
        "forking" => Daemon::Forking,
        "oneshot" => Daemon::Oneshot,
        "notify" => Daemon::Notify,
        "dbus" => bail!(
            "field `{}`: dbus daemons need a D-Bus bus name, which snapsmith does not implement",
            field("daemon")
        ),
        other => bail!(
            "field `{}`: unknown daemon type {other:?} (simple, forking, oneshot, notify, dbus)",
            field("daemon")
        ),
    }))
}

fn environment_of(
    name: &str,
    raw: BTreeMap<String, serde_yaml::Value>,
) -> Result<BTreeMap<String, String>> {
    environment(&format!("apps.{name}.environment"), raw)
}

/// daemon-scope, stop-mode, refresh-mode, watchdog-timeout and timer of a service.
fn check_service_modes(name: &str, app: &RawApp) -> Result<()> {
    match app.daemon_scope.as_deref() {
        None | Some("system") => {}
        Some("user") => bail!(
            "field `apps.{name}.daemon-scope`: user daemons need snapd's user-daemons feature, \
             which snapsmith does not implement"
        ),
        Some(other) => {
            bail!("field `apps.{name}.daemon-scope`: {other:?} is not one of system, user")
        }
    }
    if let Some(mode) = app.stop_mode.as_deref() {
        let base = mode.strip_suffix("-all").unwrap_or(mode);
        if !["sigterm", "sighup", "sigusr1", "sigusr2", "sigint"].contains(&base) {
            bail!(
                "field `apps.{name}.stop-mode`: {mode:?} is not a stop mode (sigterm, sighup, sigusr1, sigusr2, sigint, each optionally -all)"
            );
        }
    }
    match app.refresh_mode.as_deref() {
        None | Some("endure" | "restart") => {}
        Some(other) => {
            bail!("field `apps.{name}.refresh-mode`: {other:?} is not one of endure, restart")
        }
    }
    duration(
        &format!("apps.{name}.watchdog-timeout"),
        app.watchdog_timeout.as_deref(),
    )?;
    if app.timer.is_some() {
        bail!("field `apps.{name}.timer`: timers are not implemented by snapsmith");
    }
    Ok(())
}

/// snapd's restart conditions (`snap/restartcond.go`); unset is `on-failure`.
fn restart_condition(field: &str, text: Option<&str>) -> Result<RestartCondition> {
    Ok(match text {
        None | Some("on-failure") => RestartCondition::OnFailure,
        Some("no" | "never") => RestartCondition::Never,
        Some("always") => RestartCondition::Always,
        Some("on-success") => RestartCondition::OnSuccess,
        Some("on-abnormal") => RestartCondition::OnAbnormal,
        Some("on-abort") => RestartCondition::OnAbort,
        Some("on-watchdog") => RestartCondition::OnWatchdog,
        Some(other) => bail!(
            "field `{field}`: {other:?} is not one of no, never, on-success, on-failure, \
             on-abnormal, on-abort, on-watchdog, always"
        ),
    })
}

/// `before`/`after` may name only services of this snap.
fn check_order(services: &BTreeMap<String, Service>, others: &BTreeSet<String>) -> Result<()> {
    for (name, s) in services {
        for (field, list) in [("before", &s.before), ("after", &s.after)] {
            for other in list {
                if services.contains_key(other) {
                    continue;
                }
                let why = if others.contains(other) {
                    "is not a daemon"
                } else {
                    "is not an app of this snap"
                };
                bail!("field `apps.{name}.{field}`: {other:?} {why}");
            }
        }
    }
    Ok(())
}

/// Kahn's sort over the `after` edges (and `before` turned around), ties by name, as snapd's
/// `SortServices`; a cycle is refused with the services in it.
fn sort_services(mut services: BTreeMap<String, Service>) -> Result<Vec<Service>> {
    let mut needs: BTreeMap<String, BTreeSet<String>> = services
        .keys()
        .map(|n| (n.clone(), BTreeSet::new()))
        .collect();
    for (name, s) in &services {
        for a in &s.after {
            needs.get_mut(name).map(|set| set.insert(a.clone()));
        }
        for b in &s.before {
            needs.get_mut(b).map(|set| set.insert(name.clone()));
        }
    }
    let mut out = Vec::new();
    while !needs.is_empty() {
        let Some(next) = needs
            .iter()
            .find(|(_, deps)| deps.is_empty())
            .map(|(n, _)| n.clone())
        else {
            let cycle: Vec<&str> = needs.keys().map(String::as_str).collect();
            bail!(
                "field `apps`: before/after form a cycle among {}",
                cycle.join(", ")
            );
        };
        needs.remove(&next);
        for deps in needs.values_mut() {
            deps.remove(&next);
        }
        out.extend(services.remove(&next));
    }
    Ok(out)
}

fn hooks(files: &[String]) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for name in files {
        if !valid_plug_slot_name(name) {
            bail!("meta/hooks/{name}: invalid hook name");
        }
        let interface_hook = ["prepare-", "unprepare-", "connect-", "disconnect-"]
            .iter()
            .any(|p| name.starts_with(p));
        if KNOWN_HOOKS.contains(&name.as_str()) || interface_hook {
            out.insert(name.clone());
        }
    }
    Ok(out)
}

/// The first field of `info` that needs an interface (a plug or slot, the snap's or an app's):
/// snapsmith implements no interface, so a build refuses such a snap instead of ignoring it.
pub fn first_interface_field(info: &super::SnapInfo) -> Option<String> {
    let top = [("plugs", &info.plugs), ("slots", &info.slots)]
        .into_iter()
        .find_map(|(f, map)| map.keys().next().map(|k| format!("{f}.{k}")));
    top.or_else(|| {
        info.apps.iter().find_map(|(name, app)| {
            [("plugs", &app.plugs), ("slots", &app.slots)]
                .into_iter()
                .find_map(|(f, list)| list.first().map(|p| format!("apps.{name}.{f} ({p})")))
        })
    })
}

#[cfg(test)]
#[path = "apps_tests.rs"]
mod tests;
