//! docs/metrics.md is generated from the code's metric catalogue, so the
//! reference cannot drift: `UPDATE_DOCS=1 cargo test --test docs` rewrites it.

use std::path::Path;

use proxy_quota_exporter::metrics::{Kind, CATALOGUE};

const DOC: &str = "docs/metrics.md";
const BEGIN: &str = "<!-- BEGIN GENERATED: cargo test --test docs -->";
const END: &str = "<!-- END GENERATED -->";

fn table() -> String {
    let mut out = String::from("| metric | type | labels | help |\n|---|---|---|---|\n");
    for def in CATALOGUE {
        let kind = match def.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
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
        "{DOC} is out of date with the metric catalogue: run UPDATE_DOCS=1 cargo test --test docs"
    );
}
