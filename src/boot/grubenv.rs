//! GRUB's environment block (`grubenv`): exactly 1024 bytes, the header
//! `# GRUB Environment Block\n`, `name=value\n` lines, then `#` padding.
//!
//! GRUB's `save_env` rewrites the file's existing sectors in place and never resizes it, so the
//! encoder always produces exactly [`SIZE`] bytes and refuses content that does not fit. In
//! values, `\` and newline are escaped with a backslash, as GRUB's envblk does. Keys keep their
//! order: an updated key stays where it was, a new key is appended.

use thiserror::Error;

/// Size of every environment block GRUB reads or writes.
pub const SIZE: usize = 1024;
const HEADER: &str = "# GRUB Environment Block\n";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GrubenvError {
    #[error("grubenv is {0} bytes, expected exactly {SIZE}")]
    Size(usize),
    #[error("grubenv does not start with the `# GRUB Environment Block` header")]
    Header,
    #[error("grubenv line {0} is not name=value")]
    Line(usize),
    #[error("grubenv name {0:?} is empty or contains `=`, `#` or a newline")]
    Name(String),
    #[error("grubenv content needs {0} bytes, more than the {SIZE}-byte block holds")]
    Overflow(usize),
}

/// An environment block: ordered `name=value` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grubenv {
    vars: Vec<(String, String)>,
}

impl Grubenv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes a block read from disk.
    pub fn decode(bytes: &[u8]) -> Result<Self, GrubenvError> {
        if bytes.len() != SIZE {
            return Err(GrubenvError::Size(bytes.len()));
        }
        let body = bytes
            .strip_prefix(HEADER.as_bytes())
            .ok_or(GrubenvError::Header)?;
        let mut env = Grubenv::new();
        let mut line_no = 1;
        let mut rest = body;
        while let Some(&first) = rest.first() {
            line_no += 1;
            if first == b'#' {
                // Padding (or a comment line): skip to the end of the line.
                let end = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                rest = &rest[end..];
                continue;
            }
            let (name, value, used) = decode_line(rest).ok_or(GrubenvError::Line(line_no))?;
            env.set(&name, &value)?;
            rest = &rest[used..];
        }
        Ok(env)
    }

    /// Encodes to exactly [`SIZE`] bytes.
    pub fn encode(&self) -> Result<Vec<u8>, GrubenvError> {
        let mut out = HEADER.as_bytes().to_vec();
        for (name, value) in &self.vars {
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            for b in value.bytes() {
                if b == b'\\' || b == b'\n' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'\n');
        }
        if out.len() > SIZE {
            return Err(GrubenvError::Overflow(out.len()));
        }
        out.resize(SIZE, b'#');
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name`, keeping its position when it exists.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), GrubenvError> {
        if name.is_empty() || name.contains(['=', '\n']) || name.starts_with('#') {
            return Err(GrubenvError::Name(name.to_string()));
        }
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
        Ok(())
    }

    /// Removes `name`; returns whether it was set.
    pub fn unset(&mut self, name: &str) -> bool {
        let before = self.vars.len();
        self.vars.retain(|(n, _)| n != name);
        before != self.vars.len()
    }

    /// The variables in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Decodes one `name=value\n` line with backslash escapes; returns bytes consumed.
fn decode_line(bytes: &[u8]) -> Option<(String, String, usize)> {
    let eq = bytes.iter().position(|&b| b == b'=' || b == b'\n')?;
    if bytes[eq] != b'=' || eq == 0 {
        return None;
    }
    let mut value = Vec::new();
    let mut i = eq + 1;
    loop {
        match *bytes.get(i)? {
            b'\\' => {
                value.push(*bytes.get(i + 1)?);
                i += 2;
            }
            b'\n' => break,
            b => {
                value.push(b);
                i += 1;
            }
        }
    }
    let name = String::from_utf8(bytes[..eq].to_vec()).ok()?;
    Some((name, String::from_utf8(value).ok()?, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_keeps_order_and_size() {
        let mut env = Grubenv::new();
        env.set("kernel_status", "try").unwrap();
        env.set("snap_kernel", "pc-kernel_1.snap").unwrap();
        env.set("kernel_status", "trying").unwrap();
        let bytes = env.encode().unwrap();
        assert_eq!(bytes.len(), SIZE);
        assert!(bytes.starts_with(
            b"# GRUB Environment Block\nkernel_status=trying\nsnap_kernel=pc-kernel_1.snap\n#"
        ));
        assert_eq!(Grubenv::decode(&bytes).unwrap(), env);
    }

    #[test]
    fn escapes_backslash_and_newline() {
        let mut env = Grubenv::new();
        env.set("args", "a\\b\nc").unwrap();
        let bytes = env.encode().unwrap();
        assert!(bytes.starts_with(b"# GRUB Environment Block\nargs=a\\\\b\\\nc\n"));
        assert_eq!(
            Grubenv::decode(&bytes).unwrap().get("args"),
            Some("a\\b\nc")
        );
    }

    #[test]
    fn refuses_bad_blocks() {
        assert_eq!(Grubenv::decode(b"short"), Err(GrubenvError::Size(5)));
        assert_eq!(Grubenv::decode(&[b'#'; SIZE]), Err(GrubenvError::Header));
        let mut env = Grubenv::new();
        env.set("big", &"x".repeat(SIZE)).unwrap();
        assert!(matches!(env.encode(), Err(GrubenvError::Overflow(_))));
        assert!(env.set("a=b", "c").is_err());
        let mut bad = HEADER.as_bytes().to_vec();
        bad.extend_from_slice(b"novalue\n");
        bad.resize(SIZE, b'#');
        assert_eq!(Grubenv::decode(&bad), Err(GrubenvError::Line(2)));
    }
}
