//! docs/metrics.md is generated from the code's metric catalogue, so the
//! reference cannot drift: `UPDATE_DOCS=1 cargo test --test it docs::` rewrites it.
//! ARCHITECTURE.md's code map names every module under `src/`, and nothing that
//! is not there.

use std::path::Path;

use proxy_quota_exporter::metrics::{MetricType, CATALOGUE};

const DOC: &str = "docs/metrics.md";
const BEGIN: &str = "<!-- BEGIN GENERATED: cargo test --test it docs:: -->";
const END: &str = "<!-- END GENERATED -->";

fn table() -> String {
    let mut out = String::from("| metric | type | labels | help |\n|---|---|---|---|\n");
    for def in CATALOGUE {
        let kind = match def.kind {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        };
        let labels: Vec<_> = def.labels.iter().map(|l| format!("`{l}`")).collect();
        out.push_str(&format!(
            "| `{}` | {kind} | {} | {} |\n",
            def.name,
            if labels.is_empty() {
                "–".to_owned()
            } else {
                labels.join(", ")
            },
            def.help
        ));
    }
    out
}

#[test]
fn the_metrics_reference_is_generated_from_the_catalogue() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
    let doc = std::fs::read_to_string(&path).expect("docs/metrics.md exists");
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("generated section start marker");
    let (_, tail) = rest.split_once(END).expect("generated section end marker");
    let expected = format!("{head}{BEGIN}\n{}{END}{tail}", table());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    assert!(
        doc == expected,
        "{DOC} is out of date with the metric catalogue: run UPDATE_DOCS=1 cargo test --test it docs::"
    );
}

#[test]
fn the_code_map_names_every_module_and_only_existing_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut modules = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !relative.ends_with("/mod.rs")
            {
                modules.push(relative);
            }
        }
    }
    let missing: Vec<_> = modules
        .iter()
        .filter(|m| {
            let file = Path::new(m.as_str()).file_name().unwrap().to_string_lossy();
            let dir = Path::new(m.as_str()).parent().unwrap().to_string_lossy();
            !map.contains(&format!("`{m}`"))
                && !map.contains(&format!("`{dir}/`"))
                && !map.contains(&format!("`{file}`"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name {missing:?}"
    );
    for named in map.split('`').skip(1).step_by(2) {
        if named.starts_with("src/") {
            assert!(
                root.join(named).exists(),
                "ARCHITECTURE.md names {named}, which does not exist"
            );
        }
    }
}
