//! `snapsmith model show`: parse a model assertion, check its own rules and print it with
//! defaults filled in. The signature is not checked here (that is `snapsmith verify`).

use crate::assertion::{Model, types::format_time};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print a model with defaults filled in (does not check the signature)
    Show {
        /// Model assertion file
        file: PathBuf,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    let ModelCommand::Show { file, json } = cmd;
    let all = super::verify::read_stream(&file)?;
    let models: Vec<_> = all.iter().filter(|a| a.type_name() == "model").collect();
    let [a] = models.as_slice() else {
        bail!(
            "{}: expected one model assertion, found {}",
            file.display(),
            models.len()
        );
    };
    let model = Model::from_assertion(a).with_context(|| format!("checking {}", file.display()))?;
    if json {
        let mut text = serde_json::to_string_pretty(&model.to_json())?;
        text.push('\n');
        super::key::write_stdout(text.as_bytes())?;
    } else {
        super::key::write_stdout(render(&model).as_bytes())?;
    }
    Ok(())
}

fn render(m: &Model) -> String {
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<16}{v}\n"));
    line("brand-id:", m.brand_id.clone());
    line("model:", m.model.clone());
    line("display-name:", m.display_name.clone());
    line("architecture:", opt(&m.architecture));
    line("base:", opt(&m.base));
    line("grade:", json_word(&m.grade));
    line(
        "storage-safety:",
        m.storage_safety.map_or("-".into(), |s| json_word(&s)),
    );
    line("classic:", m.classic.to_string());
    line(
        "form:",
        if m.legacy {
            "legacy (UC16/18)".into()
        } else {
            "snaps list (UC20+)".into()
        },
    );
    line("timestamp:", format_time(m.timestamp));
    line("sign-key:", m.sign_key_id.clone());
    out.push_str("snaps:\n");
    out.push_str(&format!(
        "  {:<20} {:<8} {:<20} {:<9} {:<16} id\n",
        "name", "type", "channel", "presence", "modes"
    ));
    for s in &m.snaps {
        out.push_str(&format!(
            "  {:<20} {:<8} {:<20} {:<9} {:<16} {}\n",
            s.name,
            json_word(&s.snap_type),
            s.default_channel,
            json_word(&s.presence),
            s.modes.join(","),
            opt(&s.id)
        ));
    }
    out
}

fn json_word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(String::from))
        .unwrap_or_default()
}
