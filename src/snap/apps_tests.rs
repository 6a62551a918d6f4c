//! Unit tests of [`super`]: snapd's defaults and refusals for `apps:` and hooks.

use super::*;

const SNAP: &str = concat!(
    "name: counter\nversion: '1'\nbase: core\n",
    "environment:\n  LEVEL: snap\n  MODE: a\n",
    "apps:\n",
    "  tool:\n    command: bin/tool\n",
    "  web:\n    command: bin/web --port 80\n    daemon: simple\n    after: [db]\n",
    "    environment:\n      MODE: b\n",
    "  db:\n    command: bin/db\n    daemon: forking\n    restart-condition: always\n",
    "    restart-delay: 1.5s\n    stop-timeout: 1m\n",
    "  init:\n    command: bin/init\n    daemon: oneshot\n    before: [db]\n",
    "    restart-condition: on-failure\n    install-mode: disable\n",
);

fn hooks(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn services_get_snapd_defaults_and_start_order() {
    let apps = parse(
        SNAP.as_bytes(),
        &hooks(&["install", "check-health", "weird"]),
    )
    .unwrap();
    assert_eq!(apps.snap, "counter");
    assert_eq!(apps.confinement, Confinement::Strict);
    let order: Vec<&str> = apps.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["init", "db", "web"]);
    let [init, db, web] = apps.services.as_slice() else {
        panic!("three services")
    };
    assert_eq!(web.daemon, Daemon::Simple);
    assert_eq!(web.restart, RestartCondition::OnFailure);
    assert_eq!(web.stop_timeout, DEFAULT_STOP_TIMEOUT);
    assert_eq!(web.restart_delay, None);
    assert_eq!(web.command, "bin/web --port 80");
    assert_eq!(web.environment["MODE"], "b");
    assert_eq!(web.environment["LEVEL"], "snap");
    assert_eq!(db.restart, RestartCondition::Always);
    assert_eq!(db.restart_delay, Some(Duration::from_millis(1500)));
    assert_eq!(db.stop_timeout, Duration::from_secs(60));
    assert_eq!(db.environment["MODE"], "a");
    assert_eq!(
        init.restart,
        RestartCondition::Never,
        "a oneshot never restarts"
    );
    assert_eq!(init.install_mode, InstallMode::Disable);
    assert_eq!(web.install_mode, InstallMode::Enable);
    assert!(apps.has_hook("install") && apps.has_hook("check-health"));
    assert!(!apps.has_hook("weird"), "unknown hooks are not listed");
}

#[test]
fn confinement_and_restart_spellings() {
    let yaml = concat!(
        "name: ab\nversion: '1'\nconfinement: devmode\napps:\n  s:\n    command: x\n",
        "    daemon: notify\n    restart-condition: 'no'\n"
    );
    let apps = parse(yaml.as_bytes(), &[]).unwrap();
    assert_eq!(apps.confinement, Confinement::Devmode);
    assert_eq!(apps.services[0].restart, RestartCondition::Never);
    assert_eq!(apps.services[0].daemon, Daemon::Notify);
}

fn err(apps: &str) -> String {
    let yaml = format!("name: ab\nversion: '1'\napps:\n{apps}");
    format!("{:#}", parse(yaml.as_bytes(), &[]).unwrap_err())
}

/// (apps: section, what the error must say).
const REFUSALS: &[(&str, &str)] = &[
    ("  a_b:\n    command: x\n", "invalid app name \"a_b\""),
    ("  s:\n    daemon: simple\n", "apps.s.command"),
    (
        "  s:\n    command: 'x;y'\n    daemon: simple\n",
        "apps.s.command",
    ),
    (
        "  s:\n    command: x\n    daemon: sometimes\n",
        "unknown daemon type",
    ),
    ("  s:\n    command: x\n    daemon: dbus\n", "apps.s.daemon"),
    (
        "  s:\n    command: x\n    daemon: simple\n    restart-condition: maybe\n",
        "apps.s.restart-condition",
    ),
    (
        "  s:\n    command: x\n    daemon: simple\n    stop-timeout: '10'\n",
        "missing unit",
    ),
    (
        "  s:\n    command: x\n    daemon: simple\n    restart-delay: -1s\n",
        "negative",
    ),
    (
        "  t:\n    command: x\n    stop-timeout: 1s\n",
        "apps.t.stop-timeout` is only valid for daemons",
    ),
    (
        "  t:\n    command: x\n    refresh-mode: endure\n",
        "apps.t.refresh-mode",
    ),
    (
        "  s:\n    command: x\n    daemon: simple\n    install-mode: maybe\n",
        "apps.s.install-mode",
    ),
    (
        "  s:\n    command: x\n    daemon: simple\n    stop-mode: sigkill\n",
        "apps.s.stop-mode",
    ),
    (
        "  s:\n    command: x\n    daemon: simple\n    daemon-scope: user\n",
        "apps.s.daemon-scope",
    ),
    (
        "  s:\n    command: x\n    daemon: simple\n    after: [t]\n  t:\n    command: y\n",
        "apps.s.after`: \"t\" is not a daemon",
    ),
    (
        "  s:\n    command: x\n    daemon: simple\n    before: [nope]\n",
        "\"nope\" is not an app of this snap",
    ),
    (
        concat!(
            "  s:\n    command: x\n    daemon: simple\n    after: [t]\n",
            "  t:\n    command: y\n    daemon: simple\n    after: [s]\n"
        ),
        "cycle among s, t",
    ),
];

#[test]
fn refusals_name_the_field() {
    for (apps, want) in REFUSALS {
        let got = err(apps);
        assert!(got.contains(want), "{apps:?}: {got:?} lacks {want:?}");
    }
}

#[test]
fn snap_level_refusals() {
    let bad = parse(b"name: ab\nversion: '1'\nconfinement: loose\n", &[]).unwrap_err();
    assert!(format!("{bad:#}").contains("field `confinement`"));
    let hook = parse(b"name: ab\nversion: '1'\n", &hooks(&["Bad_Hook"])).unwrap_err();
    assert!(format!("{hook:#}").contains("meta/hooks/Bad_Hook"));
}

#[test]
fn interfaces_are_found_wherever_they_are_declared() {
    let info = |yaml: &str| super::super::SnapInfo::parse(yaml.as_bytes()).unwrap();
    let none = info("name: ab\nversion: '1'\napps:\n  s:\n    command: x\n");
    assert_eq!(first_interface_field(&none), None);
    let top = info("name: ab\nversion: '1'\nplugs:\n  net: network\n");
    assert_eq!(first_interface_field(&top).as_deref(), Some("plugs.net"));
    let app = info("name: ab\nversion: '1'\napps:\n  s:\n    command: x\n    plugs: [network]\n");
    assert_eq!(
        first_interface_field(&app).as_deref(),
        Some("apps.s.plugs (network)")
    );
}
