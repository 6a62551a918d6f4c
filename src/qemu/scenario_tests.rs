//! Unit tests of scenario parsing and the built-in catalogue (`super`).

use super::*;

#[test]
fn builtin_scenarios_parse() {
    for (name, text) in BUILTIN {
        let s = Scenario::parse(text, name).unwrap();
        assert_eq!(&s.name, name);
    }
    assert_eq!(Scenario::builtin().len(), BUILTIN.len());
    let bad = Scenario::load("bad-kernel-rollback").unwrap();
    assert!(bad.needs_bootloader && bad.tolerate_failures);
    assert_eq!(bad.update, UpdateKind::BadKernel);
    assert_eq!(bad.expect.kernel, Revision::Current);
    assert_eq!(bad.host_checks, CheckKind::ALL);
    let good = Scenario::load("good-kernel-update").unwrap();
    assert_eq!(
        (good.expect.kernel, good.expect.staged),
        (Revision::New, true)
    );
}

#[test]
fn errors_name_the_scenario_and_field() {
    let err = Scenario::load("no-such").unwrap_err().to_string();
    assert!(err.contains("first-boot"), "{err}");
    let err = Scenario::parse(
        "name: x\nupdate: none\nsteps: []\noutcome: poweroff",
        "x.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("x.yaml") && err.contains("steps"), "{err}");
    let err = Scenario::parse(
        "name: x\nupdate: none\nsteps: [{marker: a, timeout: -1}]\noutcome: poweroff",
        "x.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("timeout"), "{err}");
    for bad in [
        "[{marker: a, event: WATCHDOG}]",
        "[{timeout: 3}]",
        "[{reset-after-hang: 0}]",
    ] {
        let text = format!("name: x\nupdate: none\nsteps: {bad}\noutcome: poweroff");
        let err = Scenario::parse(&text, "x.yaml").unwrap_err().to_string();
        assert!(err.contains("steps[0]"), "{bad}: {err}");
    }
    let ok = "name: x\nupdate: none\nsteps: [{event: WATCHDOG}, {reset-after-hang: 20}]\n\
              outcome: poweroff";
    let s = Scenario::parse(ok, "x.yaml").unwrap();
    assert_eq!(s.steps[0].wait(), Ok(Wait::Event("WATCHDOG".into())));
    assert_eq!(s.steps[1].wait(), Ok(Wait::HangThenReset(20.0)));
    let reboot = "name: x\nupdate: none\noutcome: poweroff\nsteps: [{reset: true}, {marker: a, absent: [b]}]\n";
    let s = Scenario::parse(reboot, "x").unwrap();
    assert_eq!(s.steps[0].wait(), Ok(Wait::Reset));
    assert_eq!(s.steps[1].absent, ["b"]);
    let both = "name: x\nupdate: none\noutcome: poweroff\nsteps: [{reset: true, marker: a}]\n";
    let err = format!("{:#}", Scenario::parse(both, "x").unwrap_err());
    assert!(err.contains("exactly one of"), "{err}");
    assert!(Scenario::parse("name: x\nupdate: sideways\nsteps: []", "y").is_err());
}

#[test]
fn placeholders() {
    let vars = BTreeMap::from([("kernel", "k_1.snap".to_string())]);
    assert_eq!(
        expand("run kernel={kernel} x={y}", &vars),
        "run kernel=k_1.snap x={y}"
    );
}
