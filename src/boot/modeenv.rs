//! The run system's boot state, `var/lib/snapd/modeenv` on ubuntu-data, in snapd's format:
//! `key=value` lines, empty values omitted, lists comma-joined, keys in snapd's order.
//!
//! A preinstalled image starts with the current kernel and base set and the try slots empty, so
//! the first boot is an ordinary run-mode boot.

use anyhow::{Result, bail};

/// The modeenv fields snapsmith writes and reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modeenv {
    pub mode: String,
    pub recovery_system: String,
    pub current_recovery_systems: Vec<String>,
    pub good_recovery_systems: Vec<String>,
    /// `<base>_<rev>.snap`
    pub base: String,
    pub try_base: String,
    /// `""`, `try` or `trying`.
    pub base_status: String,
    /// `<gadget>_<rev>.snap`
    pub gadget: String,
    /// `<kernel>_<rev>.snap`, the booted one first.
    pub current_kernels: Vec<String>,
    /// `<brand>/<model>`
    pub model: String,
    pub grade: String,
    pub model_sign_key_id: String,
}

impl Modeenv {
    /// Encodes in snapd's key order; empty values are left out.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (key, value) in self.pairs() {
            if !value.is_empty() {
                out.push_str(key);
                out.push('=');
                out.push_str(&value);
                out.push('\n');
            }
        }
        out
    }

    /// Decodes modeenv text; unknown keys are ignored, `mode` is required.
    pub fn decode(text: &str) -> Result<Modeenv> {
        let mut env = Modeenv::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                bail!("modeenv line {}: expected key=value", n + 1);
            };
            let list = || -> Vec<String> {
                value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let value = value.to_string();
            match key.trim() {
                "mode" => env.mode = value,
                "recovery_system" => env.recovery_system = value,
                "current_recovery_systems" => env.current_recovery_systems = list(),
                "good_recovery_systems" => env.good_recovery_systems = list(),
                "base" => env.base = value,
                "try_base" => env.try_base = value,
                "base_status" => env.base_status = value,
                "gadget" => env.gadget = value,
                "current_kernels" => env.current_kernels = list(),
                "model" => env.model = value,
                "grade" => env.grade = value,
                "model_sign_key_id" => env.model_sign_key_id = value,
                _ => {}
            }
        }
        if env.mode.is_empty() {
            bail!("modeenv has no mode");
        }
        Ok(env)
    }

    fn pairs(&self) -> [(&'static str, String); 12] {
        [
            ("mode", self.mode.clone()),
            ("recovery_system", self.recovery_system.clone()),
            (
                "current_recovery_systems",
                self.current_recovery_systems.join(","),
            ),
            (
                "good_recovery_systems",
                self.good_recovery_systems.join(","),
            ),
            ("base", self.base.clone()),
            ("try_base", self.try_base.clone()),
            ("base_status", self.base_status.clone()),
            ("gadget", self.gadget.clone()),
            ("current_kernels", self.current_kernels.join(",")),
            ("model", self.model.clone()),
            ("grade", self.grade.clone()),
            ("model_sign_key_id", self.model_sign_key_id.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_in_snapd_order_and_round_trips() {
        let env = Modeenv {
            mode: "run".into(),
            recovery_system: "20261125".into(),
            current_recovery_systems: vec!["20261125".into()],
            good_recovery_systems: vec!["20261125".into()],
            base: "core22_x1.snap".into(),
            gadget: "pc_x1.snap".into(),
            current_kernels: vec!["pc-kernel_x1.snap".into()],
            model: "acme/dev-amd64".into(),
            grade: "dangerous".into(),
            model_sign_key_id: "abc".into(),
            ..Modeenv::default()
        };
        let text = env.encode();
        assert_eq!(
            text,
            "mode=run\nrecovery_system=20261125\ncurrent_recovery_systems=20261125\n\
good_recovery_systems=20261125\nbase=core22_x1.snap\ngadget=pc_x1.snap\n\
current_kernels=pc-kernel_x1.snap\nmodel=acme/dev-amd64\ngrade=dangerous\nmodel_sign_key_id=abc\n"
        );
        assert_eq!(Modeenv::decode(&text).unwrap(), env);
        let tried =
            Modeenv::decode("mode=run\ntry_base=core22_2.snap\nbase_status=try\nx=y\n").unwrap();
        assert_eq!(
            (tried.try_base.as_str(), tried.base_status.as_str()),
            ("core22_2.snap", "try")
        );
        assert!(Modeenv::decode("base=x\n").is_err());
        assert!(Modeenv::decode("mode\n").is_err());
    }
}
