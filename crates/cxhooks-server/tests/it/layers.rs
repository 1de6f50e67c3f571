//! Layers point down only (docs/architecture.md, "Which layer may import which"). Every
//! `crate::<layer>` path in the source counts, inline paths as much as `use` lines, and so do
//! `super::` chains that climb out of a layer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// For each top-level module of `cxhooks-server`, the modules it must never reference.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("api", &["console"]),
    ("console", &["api"]),
    ("service", &["api", "console"]),
    ("delivery", &["api", "console", "service", "identity"]),
    ("identity", &["api", "console"]),
    ("state", &["api", "console"]),
    ("metrics", &["api", "console", "service", "delivery"]),
    (
        "seal",
        &["api", "console", "service", "delivery", "identity", "state"],
    ),
    (
        "records",
        &["api", "console", "service", "delivery", "identity", "state"],
    ),
    (
        "net",
        &["api", "console", "service", "delivery", "identity", "state"],
    ),
    (
        "config",
        &["api", "console", "service", "delivery", "identity", "state"],
    ),
    (
        "error",
        &["api", "console", "service", "delivery", "identity", "state"],
    ),
];

/// The module path of a source file: `src/delivery/worker.rs` is `[delivery, worker]`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules a file's code (not its comments) refers to.
fn references(module: &[String], source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in source.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                out.extend(group.split(',').map(|g| ident(g.trim()).to_owned()));
            } else {
                out.insert(ident(rest).to_owned());
            }
        }
        for (at, _) in code.match_indices("super::") {
            // Count the whole chain once, from its first `super::`.
            if code[..at].ends_with("super::") {
                continue;
            }
            let mut rest = &code[at..];
            let mut up = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                up += 1;
                rest = r;
            }
            // A file's own module is its parent's child: `super` from `[a, b]` is `[a]`.
            if up >= module.len() {
                out.insert(ident(rest).to_owned());
            }
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (relative, source) in files {
        let module = module_of(relative);
        let Some(layer) = module.first() else {
            continue;
        };
        let Some((_, forbidden)) = FORBIDDEN.iter().find(|(l, _)| l == layer) else {
            continue;
        };
        for target in references(&module, source) {
            if forbidden.contains(&target.as_str()) {
                found.push(format!(
                    "{}: `{layer}` refers to `crate::{target}`",
                    relative.display()
                ));
            }
        }
    }
    found
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable source");
            out.push((
                path.strip_prefix(root).expect("under root").to_owned(),
                text,
            ));
        }
    }
}

#[test]
fn no_layer_refers_upward() {
    // `CXHOOKS_LAYERS_SRC` scans another tree (an older release's `src`, to see the rule bite).
    let root = std::env::var_os("CXHOOKS_LAYERS_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 20, "the scan found the sources");
    let found = violations(&files);
    assert!(found.is_empty(), "upward references:\n{}", found.join("\n"));
}

#[test]
fn the_scan_sees_inline_paths_groups_and_super_chains() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_owned());
    let files = [
        // What delivery/registry.rs held before the seal module existed.
        file(
            "delivery/registry.rs",
            "let h = crate::api::webhooks::unseal_headers(master, &hook).unwrap_or_default();",
        ),
        file("console/manage.rs", "use crate::{error::ApiError, api};"),
        file("service/deliveries.rs", "use super::super::console::page;"),
        file(
            "delivery/outbox.rs",
            "/// Called by [`crate::api::changes`].\nuse super::worker::Handoff;",
        ),
        file("delivery/mod.rs", "pub mod worker;"),
    ];
    let found = violations(&files);
    assert_eq!(
        found,
        [
            "delivery/registry.rs: `delivery` refers to `crate::api`",
            "console/manage.rs: `console` refers to `crate::api`",
            "service/deliveries.rs: `service` refers to `crate::console`",
        ]
    );
}
