//! The header block of snapd's assertion text format: parsing and encoding of single-line
//! strings, multi-line text, lists and maps, nested at any depth.
//!
//! Every value is a string, a list or a map (numbers, booleans and times are strings). A nested
//! block at indent `b` holds multi-line text at `b+4` spaces, list items at `b+2` spaces followed
//! by `-`, or map entries at `b+2` spaces followed by `key:`. Maps are kept sorted because snapd
//! emits map keys sorted, which makes re-encoding reproduce the signed bytes.

use super::{Error, Result};
use std::collections::BTreeMap;

/// One header value: snapd's headers hold only strings, lists and maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A single-line or multi-line string.
    Str(String),
    /// A list of values.
    List(Vec<Value>),
    /// A map with sorted keys.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The string, when this value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The list, when this value is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The map, when this value is one.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Empty lists and maps are omitted on encode, as snapd does.
    pub fn is_empty_container(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Map(m) => m.is_empty(),
        }
    }

    /// Converts to JSON (strings, arrays, objects).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

/// True when `name` is a valid header name or map key: `^[a-z](?:-?[a-z0-9])*$`.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else {
        return false;
    };
    if !first.is_ascii_lowercase() || bytes.last() == Some(&b'-') {
        return false;
    }
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    bytes.iter().all(ok) && !name.contains("--")
}

fn format_err(line: usize, msg: impl std::fmt::Display) -> Error {
    Error::Format(format!("header line {line}: {msg}"))
}

/// Parses a header block (the text before the first blank line) into ordered entries.
pub fn parse(text: &str) -> Result<Vec<(String, Value)>> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut entries: Vec<(String, Value)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with(' ') {
            return Err(format_err(
                i + 1,
                "wrong indentation: unexpected indented line",
            ));
        }
        let end = nested_end(&lines, i + 1, 0);
        let (name, value) = parse_entry(&lines, i, end, 0)?;
        if entries.iter().any(|(n, _)| *n == name) {
            return Err(format_err(i + 1, format!("repeated header {name:?}")));
        }
        entries.push((name, value));
        i = end;
    }
    Ok(entries)
}

/// Index just past the lines after `start` that are indented deeper than `indent`.
fn nested_end(lines: &[&str], start: usize, indent: usize) -> usize {
    let deeper = " ".repeat(indent + 1);
    let mut end = start;
    while end < lines.len() && lines[end].starts_with(&deeper) {
        end += 1;
    }
    end
}

/// Parses `name: value` or `name:` + nested block, the entry at `lines[at]` (prefix stripped).
fn parse_entry(lines: &[&str], at: usize, end: usize, indent: usize) -> Result<(String, Value)> {
    let line = &lines[at][indent..];
    let Some(colon) = line.find(':') else {
        return Err(format_err(
            at + 1,
            format!("expected \"name: value\", got {line:?}"),
        ));
    };
    let name = &line[..colon];
    if !valid_name(name) {
        return Err(format_err(at + 1, format!("invalid header name {name:?}")));
    }
    let rest = &line[colon + 1..];
    let value = if rest.is_empty() {
        parse_nested(lines, at + 1, end, indent)?
    } else if let Some(scalar) = rest.strip_prefix(' ') {
        if end > at + 1 {
            return Err(format_err(
                at + 2,
                "wrong indentation: unexpected indented line",
            ));
        }
        Value::Str(scalar.to_string())
    } else {
        return Err(format_err(
            at + 1,
            format!("header {name:?} needs a space after ':'"),
        ));
    };
    Ok((name.to_string(), value))
}

/// Parses the nested block `lines[start..end]` belonging to an entry at `indent`.
fn parse_nested(lines: &[&str], start: usize, end: usize, indent: usize) -> Result<Value> {
    if start >= end {
        return Err(format_err(start, "expected an indented block after ':'"));
    }
    let pfx = " ".repeat(indent + 2);
    let first = lines[start];
    if !first.starts_with(&pfx) {
        return Err(format_err(start + 1, "wrong indentation"));
    }
    match first.as_bytes().get(indent + 2) {
        Some(b'-') => parse_list(lines, start, end, indent + 2),
        Some(b' ') => {
            let text_pfx = " ".repeat(indent + 4);
            let mut text = Vec::new();
            for (n, line) in lines.iter().enumerate().take(end).skip(start) {
                let Some(stripped) = line.strip_prefix(&text_pfx) else {
                    return Err(format_err(n + 1, "wrong indentation in multi-line text"));
                };
                text.push(stripped);
            }
            Ok(Value::Str(text.join("\n")))
        }
        _ => parse_map(lines, start, end, indent + 2),
    }
}

fn parse_list(lines: &[&str], start: usize, end: usize, indent: usize) -> Result<Value> {
    let mut items = Vec::new();
    let mut i = start;
    while i < end {
        let line = lines[i];
        let item_start = format!("{}-", " ".repeat(indent));
        let Some(rest) = line.strip_prefix(&item_start) else {
            return Err(format_err(i + 1, "wrong indentation: expected a list item"));
        };
        let next = nested_end(lines, i + 1, indent);
        if rest.is_empty() {
            items.push(parse_nested(lines, i + 1, next, indent)?);
        } else if let Some(scalar) = rest.strip_prefix(' ') {
            if next > i + 1 {
                return Err(format_err(i + 2, "wrong indentation after a list item"));
            }
            items.push(Value::Str(scalar.to_string()));
        } else {
            return Err(format_err(i + 1, "list item needs a space after '-'"));
        }
        i = next;
    }
    Ok(Value::List(items))
}

fn parse_map(lines: &[&str], start: usize, end: usize, indent: usize) -> Result<Value> {
    let mut map = BTreeMap::new();
    let mut i = start;
    while i < end {
        let line = lines[i];
        if !line.starts_with(&" ".repeat(indent)) || line.as_bytes().get(indent) == Some(&b' ') {
            return Err(format_err(i + 1, "wrong indentation in map"));
        }
        let next = nested_end(lines, i + 1, indent);
        let (key, value) = parse_entry(lines, i, next, indent)?;
        if map.contains_key(&key) {
            return Err(format_err(i + 1, format!("repeated map key {key:?}")));
        }
        map.insert(key, value);
        i = next;
    }
    Ok(Value::Map(map))
}

/// Appends `name: value` at `indent` (no trailing newline); empty lists and maps are skipped
/// by the caller.
pub fn encode_entry(out: &mut String, name: &str, value: &Value, indent: usize) {
    out.push_str(name);
    out.push(':');
    encode_value(out, value, indent);
}

/// Appends a value after a `name:` or `-` marker at `indent`.
fn encode_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Str(s) if !s.contains('\n') => {
            out.push(' ');
            out.push_str(s);
        }
        Value::Str(s) => {
            let pfx = " ".repeat(indent + 4);
            for line in s.split('\n') {
                out.push('\n');
                out.push_str(&pfx);
                out.push_str(line);
            }
        }
        Value::List(items) => {
            let pfx = " ".repeat(indent + 2);
            for item in items {
                out.push('\n');
                out.push_str(&pfx);
                out.push('-');
                encode_value(out, item, indent + 2);
            }
        }
        Value::Map(map) => {
            let pfx = " ".repeat(indent + 2);
            for (key, item) in map.iter().filter(|(_, v)| !v.is_empty_container()) {
                out.push('\n');
                out.push_str(&pfx);
                encode_entry(out, key, item, indent + 2);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> Vec<(String, Value)> {
        let entries = parse(text).unwrap();
        let mut out = String::new();
        for (i, (name, value)) in entries.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            encode_entry(&mut out, name, value, 0);
        }
        assert_eq!(out, text);
        entries
    }

    #[test]
    fn nested_values_roundtrip() {
        let text = "a: x\nb: \nc:\n    line one\n    \n    line three\nd:\n  - one\n  -\n    k: v\n    l:\n      - z\n  -\n      deep text\n      more\ne:\n  k:\n    - q\n  m: n";
        let entries = roundtrip(text);
        assert_eq!(entries[1].1, Value::Str(String::new()));
        assert_eq!(entries[2].1, Value::Str("line one\n\nline three".into()));
        let d = entries[3].1.as_list().unwrap();
        assert_eq!(d[2], Value::Str("deep text\nmore".into()));
    }

    #[test]
    fn rejects_bad_indentation_and_repeats() {
        for bad in [
            "a: x\n b: y",
            "a:\n - x",
            "a: x\na: y",
            "a:\n  k: v\n  k: w",
            "a:",
            "A: x",
            "a:x",
            "a:\n  -x",
            "a:\n  - x\n   y",
            "a:\n  k: v\n \u{e9}: y",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn names() {
        assert!(valid_name("sign-key-sha3-384"));
        assert!(!valid_name("a--b") && !valid_name("a-") && !valid_name("1a") && !valid_name(""));
    }
}
