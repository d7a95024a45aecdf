//! The guard that keeps the layers (ARCHITECTURE.md): reads `src/` as text and fails when
//! a file outside `src/web/` (and `main.rs`, `lib.rs`) uses the web framework or the
//! templates, when the top-level modules import each other in a cycle, or when a lower
//! layer imports a higher one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to (`src/oauth/tokens.rs` → `oauth`).
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Lines of code, without comments (a doc comment may name a framework).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

/// Every `crate::x` a line refers to, grouped imports (`crate::{a, b::c}`) included.
fn crate_refs(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

fn import_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in &files {
        let from = top_module(file);
        if from == "main" || from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let edges = graph.entry(from.clone()).or_default();
        for (n, line) in code_lines(&text) {
            for to in crate_refs(line) {
                if to != from {
                    edges
                        .entry(to)
                        .or_insert_with(|| format!("{}:{n}", file.display()));
                }
            }
        }
    }
    graph
}

#[test]
fn only_the_web_layer_uses_the_web_framework_and_templates() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let web = src().join("web");
    let mut offenders = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if file.starts_with(&web)
            || (file.parent() == Some(&src()) && (name == "main.rs" || name == "lib.rs"))
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            for framework in ["actix_web", "actix_session", "askama", "rust_embed"] {
                let used = line.match_indices(framework).any(|(at, _)| {
                    let before = line[..at].chars().next_back();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if used {
                    offenders.push(format!("{}:{n} uses {framework}", file.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "only src/web/ (and main.rs) may use the web framework or templates:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_top_level_modules_import_each_other_in_no_cycle() {
    let graph = import_graph();
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph
            .get(node)
            .map(|e| e.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if let Some(cycle) = visit(&next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            let witnesses: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect();
            panic!(
                "import cycle between top-level modules:\n{}",
                witnesses.join("\n")
            );
        }
    }
}

#[test]
fn lower_layers_import_nothing_above_them() {
    let graph = import_graph();
    let allowed: &[(&str, &[&str])] = &[
        ("domain", &[]),
        ("db", &["domain", "telemetry"]),
        ("telemetry", &[]),
    ];
    for (module, may) in allowed {
        for (to, at) in graph.get(*module).into_iter().flatten() {
            assert!(
                may.contains(&to.as_str()),
                "{module} may not import {to} ({at})"
            );
        }
    }
    for (from, edges) in &graph {
        if let Some(at) = edges.get("web") {
            assert_eq!(from, "cli", "only the command line may use web ({at})");
        }
        assert!(
            !edges.contains_key("cli"),
            "{from} imports cli ({})",
            edges["cli"]
        );
    }
}
