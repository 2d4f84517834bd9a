//! The shape of `src/` as tests: ARCHITECTURE.md's layering (every file is read
//! for its `crate::` and `super::` paths, and
//! - a top-level module uses only modules of earlier layers of the numbered list
//!   under "Data flows one way", and never an item of the crate root;
//! - every module is in exactly one layer, and the list names no other;
//! - the files of one directory never use each other in a circle (`mod.rs` is
//!   the directory's face: it may use its files and they its items));
//!
//! and that no function outside the unit tests is longer than 80 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its path below `src/` and its text without comments.
struct Source {
    path: PathBuf,
    code: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push(Source {
                    path: path.strip_prefix(&src).unwrap().to_owned(),
                    code: without_comments(&text),
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The text with `//` comments (doc comments included) removed, so that a
/// link in a comment is not taken for a use.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first names of every path after `prefix` (`crate::`, `super::`):
/// `crate::a::b` gives `a`, `crate::{a, b::c}` gives `a` and `b`.
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            names.extend(group_items(group));
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// The first identifier of each top-level item of a `{…}` group (after its `{`).
fn group_items(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    let mut reading = true;
    for c in group.chars() {
        match c {
            '{' => {
                depth += 1;
                reading = false;
            }
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                if !current.is_empty() {
                    items.push(std::mem::take(&mut current));
                }
                reading = true;
            }
            c if reading && depth == 0 && (c.is_alphanumeric() || c == '_') => current.push(c),
            c if reading && c.is_whitespace() && current.is_empty() => {}
            _ => reading = false,
        }
    }
    if !current.is_empty() {
        items.push(current);
    }
    items
}

/// The numbered layers of ARCHITECTURE.md's "Data flows one way" invariant.
fn layers() -> Vec<Vec<String>> {
    let map =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    let section = map
        .split_once("**Data flows one way")
        .expect("ARCHITECTURE.md states the layering invariant")
        .1;
    let mut layers = Vec::new();
    for line in section.lines().skip(1) {
        let line = line.trim_start();
        let Some((number, names)) = line.split_once(". ") else {
            if layers.is_empty() {
                continue;
            }
            break;
        };
        if number.parse::<usize>() != Ok(layers.len() + 1) {
            if layers.is_empty() {
                continue;
            }
            break;
        }
        layers.push(
            names
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect(),
        );
    }
    assert!(layers.len() > 3, "no numbered layer list found: {layers:?}");
    layers
}

/// The top-level module a file belongs to (`notify` for `notify/slack.rs`).
fn top_module(path: &Path) -> String {
    let first = path
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn each_module_uses_only_modules_of_earlier_layers() {
    let files = sources();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| top_module(&f.path))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut layer_of = BTreeMap::new();
    for (number, layer) in layers().iter().enumerate() {
        for name in layer {
            assert!(
                modules.contains(name),
                "ARCHITECTURE.md's layers name `{name}`, which is no module of src/"
            );
            let before = layer_of.insert(name.clone(), number + 1);
            assert!(before.is_none(), "`{name}` is in two layers");
        }
    }
    let unplaced: Vec<_> = modules
        .iter()
        .filter(|m| !layer_of.contains_key(*m))
        .collect();
    assert!(
        unplaced.is_empty(),
        "in no layer of ARCHITECTURE.md: {unplaced:?}"
    );

    let mut wrong = Vec::new();
    for file in files
        .iter()
        .filter(|f| !matches!(top_module(&f.path).as_str(), "lib" | "main"))
    {
        let module = top_module(&file.path);
        for used in names_after(&file.code, "crate::") {
            if used == module {
                continue;
            }
            match layer_of.get(&used) {
                None => wrong.push(format!(
                    "{}: uses the crate root's `{used}`: use it from its module",
                    file.path.display()
                )),
                Some(&layer) if layer >= layer_of[&module] => wrong.push(format!(
                    "{}: `{module}` (layer {}) uses `{used}` (layer {layer})",
                    file.path.display(),
                    layer_of[&module]
                )),
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_files_of_one_directory_use_each_other_in_a_circle() {
    let files = sources();
    // Directory → (file module → sibling modules it uses).
    let mut graphs: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let (dir, name) = match file.path.file_name().unwrap().to_str().unwrap() {
            "mod.rs" => match file.path.parent().and_then(Path::parent) {
                Some(parent) if file.path.components().count() > 1 => (
                    parent.to_owned(),
                    file.path
                        .parent()
                        .unwrap()
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                ),
                _ => continue,
            },
            name => (
                file.path.parent().unwrap().to_owned(),
                name.trim_end_matches(".rs").to_owned(),
            ),
        };
        if dir.as_os_str().is_empty() {
            continue;
        }
        let dir_path = format!("crate::{}::", dir.to_string_lossy().replace('/', "::"));
        let mut used = names_after(&file.code, "super::");
        used.extend(names_after(&file.code, &dir_path));
        graphs.entry(dir).or_default().insert(name, used);
    }
    let mut circles = Vec::new();
    for (dir, graph) in &graphs {
        let siblings: BTreeSet<&String> = graph.keys().collect();
        let edges: BTreeMap<&String, Vec<&String>> = graph
            .iter()
            .map(|(from, used)| {
                let to = used
                    .iter()
                    .filter(|u| *u != from && siblings.contains(u))
                    .map(|u| siblings.get(u).copied().unwrap())
                    .collect();
                (from, to)
            })
            .collect();
        for start in edges.keys() {
            if let Some(circle) = circle_from(start, &edges) {
                circles.push(format!("src/{}/: {}", dir.display(), circle.join(" → ")));
                break;
            }
        }
    }
    assert!(
        circles.is_empty(),
        "files that use each other:\n{}",
        circles.join("\n")
    );
}

/// A path of uses from `start` back to it, if there is one.
fn circle_from<'a>(
    start: &'a String,
    edges: &BTreeMap<&'a String, Vec<&'a String>>,
) -> Option<Vec<String>> {
    let mut stack = vec![(start, vec![start.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in edges.get(at).into_iter().flatten() {
            if *next == start {
                let mut circle = path.clone();
                circle.push(start.clone());
                return Some(circle);
            }
            if seen.insert(*next) {
                let mut longer = path.clone();
                longer.push((*next).clone());
                stack.push((next, longer));
            }
        }
    }
    None
}

#[test]
fn the_path_reader_finds_grouped_and_plain_uses() {
    let code = "use crate::{alerts::{self, AlertId}, units, secret::Secret};\nlet x = crate::snapshots::Snapshots::new();\nfoo::crate::bar;";
    let names: Vec<_> = names_after(code, "crate::").into_iter().collect();
    assert_eq!(names, ["alerts", "secret", "snapshots", "units"]);
    assert_eq!(
        without_comments("a // crate::x\n/// crate::y\nb"),
        "a \n\nb"
    );
}

/// The longest function allowed in `src/` outside its unit tests (whose
/// tables of cases are data, not logic).
const MAX_FUNCTION_LINES: usize = 80;

#[test]
fn no_function_in_src_is_longer_than_80_lines() {
    let mut long = Vec::new();
    for file in sources() {
        let lines: Vec<&str> = file.code.lines().collect();
        let tests_start = lines
            .iter()
            .position(|l| l.trim_end() == "#[cfg(test)]")
            .unwrap_or(lines.len());
        for (start, line) in lines[..tests_start].iter().enumerate() {
            let Some(name) = function_name(line) else {
                continue;
            };
            let indent = line.len() - line.trim_start().len();
            let Some(open) = (start..tests_start).find(|&i| {
                let l = lines[i].trim_end();
                l.ends_with('{') || l.ends_with(';')
            }) else {
                continue;
            };
            if lines[open].trim_end().ends_with(';') {
                continue;
            }
            let closing = format!("{}}}", " ".repeat(indent));
            let end = (open + 1..lines.len())
                .find(|&i| lines[i].trim_end() == closing)
                .unwrap_or(lines.len() - 1);
            let length = end - start + 1;
            if length > MAX_FUNCTION_LINES {
                long.push(format!(
                    "src/{}:{}: {name} has {length} lines",
                    file.path.display(),
                    start + 1
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// The name of the function a line declares (`pub async fn run(` gives `run`).
fn function_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "async ",
        "const ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}
