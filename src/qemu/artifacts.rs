//! `snapsmith validate --artifacts DIR`: what a CI job keeps of a run. `DIR/report.json` and
//! `DIR/report.xml` (JUnit), and per scenario `DIR/<scenario>/serial.log` (every boot's console,
//! timestamped) and `DIR/<scenario>/qemu.txt` (the QEMU command line of each VM it started, read
//! from the log's `# ` header lines). For `power-cut`, `serial.log` is the first failing cut's
//! (or the first cut's) and `DIR/power-cut/cut-NN.log` each cut's, the power cut marked in it.

use super::judge::Report;
use anyhow::{Context, Result};
use std::path::Path;

/// Writes the artifacts of `report` (with its JSON and JUnit renderings) into `dir`.
pub fn write(dir: &Path, report: &Report, json: &str, junit: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    put(&dir.join("report.json"), json.as_bytes())?;
    put(&dir.join("report.xml"), junit.as_bytes())?;
    for s in &report.scenarios {
        let into = dir.join(&s.name);
        std::fs::create_dir_all(&into).with_context(|| format!("creating {}", into.display()))?;
        if s.serial_log.as_os_str().is_empty() {
            continue;
        }
        let read = |path: &Path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        };
        let log = read(&s.serial_log)?;
        put(&into.join("serial.log"), log.as_bytes())?;
        let mut commands = qemu_commands(&log);
        // power-cut: every cut's log, and every VM's command line.
        if !s.cuts.is_empty() {
            commands.clear();
        }
        for c in &s.cuts {
            let log = read(&c.serial_log)?;
            put(&into.join(format!("cut-{:02}.log", c.cut)), log.as_bytes())?;
            commands.push_str(&qemu_commands(&log));
        }
        put(&into.join("qemu.txt"), commands.as_bytes())?;
    }
    Ok(())
}

/// The QEMU command lines a serial log's `# ` header lines name, one a line.
fn qemu_commands(log: &str) -> String {
    log.lines()
        .filter_map(|l| l.strip_prefix("# qemu"))
        .map(|c| format!("qemu{c}\n"))
        .collect()
}

/// Writes a file through a temporary one beside it, so a reader never sees half of it.
pub fn put(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
