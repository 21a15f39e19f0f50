//! The message modules are layers: no file of `src/message` uses another
//! that uses it back, directly or around a circle (`mod.rs` re-exports from
//! every module, so none may take an item from it). Read from the sources, so that a new import
//! that closes a cycle fails here rather than in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The files each file of `src/message` depends on (outside its
/// `#[cfg(test)]` module and comments): `super::sibling` names a sibling;
/// anything else through `super::` (`super::{..}`, `super::Item`) comes
/// from `mod.rs`, which in turn depends on every module it re-exports
/// from (`pub use sibling::..`).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/message");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("src/message") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
        sources.insert(name, code);
    }
    let module_at = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect()
    };
    let mut graph = BTreeMap::new();
    for (name, code) in &sources {
        let mut uses = BTreeSet::new();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            if line.contains("crate::message::") {
                panic!("{name}.rs names its siblings through crate::message: {line}");
            }
            if name == "mod" {
                if let Some(rest) = line.trim_start().strip_prefix("pub use ") {
                    uses.insert(module_at(rest));
                }
                continue;
            }
            for (i, _) in line.match_indices("super::") {
                let module = module_at(&line[i + "super::".len()..]);
                let next = line[i + "super::".len() + module.len()..].starts_with("::");
                if next && sources.contains_key(&module) {
                    uses.insert(module);
                } else {
                    uses.insert("mod".to_string());
                }
            }
        }
        graph.insert(name.clone(), uses);
    }
    graph
}

#[test]
fn message_modules_import_each_other_in_one_direction_only() {
    let graph = imports();
    assert!(graph.len() > 5, "read the message modules: {graph:?}");
    // Depth-first search for a cycle, reporting its path.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == node) {
            panic!("import cycle: {} -> {node}", path[at..].join(" -> "));
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}
