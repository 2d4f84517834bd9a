//! Writes the catalogue as a Prometheus rule file: the shipped
//! `alerts/proxy-quota.rules.yml` is this module's output for the default
//! runbook base URL (`cargo run --example generate-rules`), and a test fails
//! when the committed file differs from it.
//!
//! The YAML is written as text, not serialized, so that it keeps comments and
//! reads like a hand-written file: expressions are plain scalars when they are
//! one safe line and literal blocks otherwise, annotations are double-quoted.

use std::fmt::Write as _;

use super::{duration_promql, Alert, RecordingRule, Scope, Variant, CATALOGUE, RECORDING_RULES};

/// Comments wrap at this column.
const WIDTH: usize = 88;

/// Said once, above the rules that watch the exporter itself.
const PROMETHEUS_ONLY: &str =
    "The rules from here on watch the exporter itself. They are for Prometheus \
     only: the exporter's own alerting agent does not evaluate them, as it cannot report its own \
     failure through itself (docs/alerts.md).";

/// The command that regenerates the shipped file, named in its header.
pub const COMMAND: &str = "cargo run --example generate-rules";

/// The whole rule file, with every `runbook_url` under `runbook_base_url` (the
/// runbook's own address; each alert appends `#` and its anchor).
pub fn render(runbook_base_url: &str) -> String {
    let mut out = header(runbook_base_url);
    out.push_str("groups:\n  - name: proxy-quota.recording\n    rules:\n");
    for rule in RECORDING_RULES {
        recording_rule(&mut out, rule);
    }
    out.push_str("\n  - name: proxy-quota.alerts\n    rules:\n");
    let mut scope = Scope::Everywhere;
    for (i, alert) in CATALOGUE.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if alert.scope != scope {
            scope = alert.scope;
            if scope == Scope::PrometheusOnly {
                comment(&mut out, 6, PROMETHEUS_ONLY);
            }
        }
        if let Some(note) = alert.note {
            comment(&mut out, 6, note);
        }
        for variant in alert.variants {
            alerting_rule(&mut out, alert, variant, runbook_base_url);
        }
    }
    out
}

fn header(runbook_base_url: &str) -> String {
    let command = match runbook_base_url {
        super::DEFAULT_RUNBOOK_BASE_URL => COMMAND.to_owned(),
        url => format!("{COMMAND} -- --runbook-base-url {url}"),
    };
    let mut out = String::new();
    comment(
        &mut out,
        0,
        "Prometheus rules for proxy-quota-exporter. GENERATED from the alert catalogue \
         (src/alerts/catalogue.rs); do not edit, change the catalogue and regenerate:",
    );
    let _ = writeln!(out, "#   {command} > alerts/proxy-quota.rules.yml");
    comment(
        &mut out,
        0,
        "Alert names, severities and thresholds follow the project's contract; how to change \
         a threshold is in docs/alerts.md, what to do when one fires in docs/runbook.md. \
         Every alert links its runbook section with `runbook_url`.",
    );
    out
}

fn recording_rule(out: &mut String, rule: &RecordingRule) {
    comment(out, 6, rule.help);
    let _ = writeln!(out, "      - record: {}", rule.record);
    scalar(out, 8, "expr", &rule.expr());
}

fn alerting_rule(out: &mut String, alert: &Alert, variant: &Variant, runbook_base_url: &str) {
    let _ = writeln!(out, "      - alert: {}", alert.name);
    scalar(out, 8, "expr", &alert.expr(variant));
    let _ = writeln!(out, "        for: {}", duration_promql(variant.for_));
    out.push_str("        labels:\n");
    let _ = writeln!(out, "          severity: {}", variant.severity.as_str());
    out.push_str("        annotations:\n");
    for (key, value) in [
        ("summary", variant.summary()),
        ("description", variant.description()),
        ("runbook_url", alert.runbook_url(runbook_base_url)),
    ] {
        let _ = writeln!(out, "          {key}: {}", quoted(&value));
    }
}

/// `key: value` at `indent`: a plain scalar when that reads back unchanged,
/// otherwise a literal block (which adds a final line break).
fn scalar(out: &mut String, indent: usize, key: &str, value: &str) {
    let pad = " ".repeat(indent);
    if is_plain(value) {
        let _ = writeln!(out, "{pad}{key}: {value}");
        return;
    }
    let _ = writeln!(out, "{pad}{key}: |");
    for line in value.lines() {
        let _ = writeln!(out, "{pad}  {line}");
    }
}

/// Whether `value` can be written as a plain YAML scalar: one line, no leading
/// indicator, nothing that starts a comment or a mapping.
fn is_plain(value: &str) -> bool {
    let starts_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '(' || c == '_');
    starts_ok
        && !value.contains('\n')
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with([' ', ':'])
}

/// A double-quoted YAML string.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `text` as `#` comment lines at `indent`, wrapped at [`WIDTH`].
fn comment(out: &mut String, indent: usize, text: &str) {
    let pad = " ".repeat(indent);
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && pad.len() + 2 + line.len() + 1 + word.len() > WIDTH {
            let _ = writeln!(out, "{pad}# {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{pad}# {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::DEFAULT_RUNBOOK_BASE_URL;

    const SHIPPED: &str = "alerts/proxy-quota.rules.yml";

    #[test]
    fn the_shipped_rule_file_is_generated_from_the_catalogue() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SHIPPED);
        let shipped = std::fs::read_to_string(&path).expect("the shipped rule file");
        assert!(
            shipped == render(DEFAULT_RUNBOOK_BASE_URL),
            "{SHIPPED} differs from the alert catalogue: run `{COMMAND} > {SHIPPED}` \
             and then deploy/kubernetes/generate.sh"
        );
    }

    /// The comment above the rules for Prometheus only says "from here on".
    #[test]
    fn the_rules_for_prometheus_only_come_last() {
        let first = CATALOGUE
            .iter()
            .position(|a| a.scope == Scope::PrometheusOnly)
            .expect("ProxyExporterDown at least");
        assert!(CATALOGUE[first..]
            .iter()
            .all(|a| a.scope == Scope::PrometheusOnly));
        let file = render(DEFAULT_RUNBOOK_BASE_URL);
        let said = file
            .find("# The rules from here on watch the exporter itself.")
            .unwrap();
        assert!(
            said < file
                .find(&format!("alert: {}", CATALOGUE[first].name))
                .unwrap()
        );
        assert!(
            said > file
                .find(&format!("alert: {}", CATALOGUE[first - 1].name))
                .unwrap()
        );
    }

    #[test]
    fn runbook_links_follow_the_base_url() {
        let file = render("https://wiki.example/proxy/runbook");
        assert!(
            file.contains("runbook_url: \"https://wiki.example/proxy/runbook#proxytrafficlow\"\n")
        );
        assert!(file.contains(
            "#   cargo run --example generate-rules -- --runbook-base-url https://wiki.example/proxy/runbook >"
        ));
        assert!(!file.contains(&format!("\"{DEFAULT_RUNBOOK_BASE_URL}#")));
    }

    #[test]
    fn scalars_are_quoted_where_yaml_needs_it() {
        assert!(is_plain("proxy_up == 0"));
        assert!(is_plain(r#"up{job="x"} == 0"#));
        assert!(!is_plain("a\nb"));
        assert!(!is_plain("{a}"));
        assert!(!is_plain("a: b"));
        assert_eq!(quoted(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        let mut out = String::new();
        scalar(&mut out, 2, "expr", "a\n  b");
        assert_eq!(out, "  expr: |\n    a\n      b\n");
    }
}
