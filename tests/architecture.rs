//! The library's top-level modules import one way: every `crate::<module>` path in `src/`
//! (imports, inline paths, doc links, test code) is an edge, the edges form a DAG, and the
//! edges the architecture forbids are absent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges the architecture rules out (`from`, `to`).
const FORBIDDEN: &[(&str, &str)] = &[
    ("gadget", "exec"),
    ("plan", "exec"),
    ("plan", "disk"),
    ("assertion", "disk"),
    ("assertion", "exec"),
    ("disk", "assertion"),
    ("gadget", "cli"),
    ("runtime", "qemu"),
    ("runtime", "cli"),
    ("boot", "qemu"),
    ("boot", "exec"),
    ("boot", "build"),
    ("fs", "disk"),
];

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for the crate roots).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (!matches!(name.as_str(), "lib" | "main" | "bin")).then_some(name)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first path segment of every `crate::` path in `text`, grouped imports included.
fn targets(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        if at > 0 && text[..at].ends_with(|c: char| is_ident(c)) {
            continue; // `snapsmith_crate::`, not ours
        }
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_heads(group));
        } else {
            let head: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !head.is_empty() {
                found.insert(head);
            }
        }
    }
    found
}

/// The first segments of the top-level items of `a, b::{c}, d}` (up to the closing brace).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut start_item) = (0usize, true);
    let mut chars = group.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start_item = true,
            c if start_item && is_ident(c) => {
                let head: String = group[i..].chars().take_while(|&c| is_ident(c)).collect();
                for _ in 1..head.chars().count() {
                    chars.next();
                }
                heads.push(head);
                start_item = false;
            }
            _ => {}
        }
    }
    heads
}

fn graph() -> Graph {
    let (src, files) = sources();
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap().to_path_buf();
        let Some(from) = module_of(&rel) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let edges = graph.entry(from.clone()).or_default();
        for to in targets(&text) {
            if to != from && to != "self" && to != "super" {
                edges
                    .entry(to)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    graph
}

/// A cycle through the graph, if there is one (depth-first search with colours).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn reader_finds_grouped_and_inline_paths() {
    let text = "use crate::{a::X, b, c::{d, e}};\nlet x = crate::f::g();\n/// [`crate::h`]\n";
    let found: Vec<_> = targets(text).into_iter().collect();
    assert_eq!(found, ["a", "b", "c", "f", "h"]);
    assert!(targets("use my_crate::x;").is_empty());
}

#[test]
fn cycle_finder_finds_a_planted_cycle() {
    let mut g = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a")] {
        g.entry(from.into())
            .or_default()
            .entry(to.into())
            .or_default();
    }
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn no_forbidden_edge() {
    let graph = graph();
    assert!(
        graph.contains_key("disk") && graph.contains_key("cli"),
        "src/ not read"
    );
    let bad: Vec<String> = FORBIDDEN
        .iter()
        .filter_map(|(from, to)| {
            let files = graph.get(*from)?.get(*to)?;
            Some(format!("{from} -> {to} (in {files:?})"))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "forbidden module edges:\n{}",
        bad.join("\n")
    );
}

#[test]
fn top_level_modules_form_a_dag() {
    let graph = graph();
    if let Some(cycle) = find_cycle(&graph) {
        let hops: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("{} -> {} (in {:?})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!("module cycle:\n{}", hops.join("\n"));
    }
}

/// `src/` and every Rust file under it.
fn sources() -> (PathBuf, Vec<PathBuf>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    (src, files)
}

#[test]
fn source_files_stay_under_500_lines() {
    let (_, files) = sources();
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > 500).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over 500 lines: {long:?}");
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let (_, files) = sources();
    let bare: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(bare.is_empty(), "files without a //! header: {bare:?}");
}

#[test]
fn only_the_cli_reads_the_environment() {
    // The library and the runtime binary read no environment variable except PATH (in exec,
    // to find tools); the CLI settles configuration at the edge and passes values down.
    let (src, files) = sources();
    let readers: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src.join("cli")))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let reads = text.matches("env::var").count() + text.matches("dirs::").count();
            let path_only =
                f.ends_with("exec.rs") && text.matches("env::var_os(\"PATH\")").count() == reads;
            reads > 0 && !path_only
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        readers.is_empty(),
        "environment read outside src/cli: {readers:?}"
    );
}
