//! The annotation templates of the alert catalogue, rendered in-process as
//! Prometheus renders them: `{{ $labels.x }}`, `{{ $value }}` and the
//! `humanize1024`, `humanizeDuration` and `humanizePercentage` functions, plus
//! the `{{ with … | query }}…{{ end }}` block of `ProxyTargetDown`, whose query
//! the evaluator answers itself, and `{{ with $labels.x }}…{{ . }}…{{ end }}`,
//! kept when the label is set (`ProxyUsageSpike` names a pool or a sub-account),
//! and `{{ if eq $value N }}…{{ else }}…{{ end }}` (or `ne`), for plurals
//! ("1 static IP", "2 static IPs").

use std::collections::BTreeMap;

/// Renders `template` for an alert with `labels` and `value`; `with_block`
/// decides whether a `{{ with … }}…{{ end }}` block is kept.
pub fn render(
    template: &str,
    labels: &BTreeMap<String, String>,
    value: f64,
    with_block: bool,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let action = rest[start + 2..start + end].trim();
        rest = &rest[start + end + 2..];
        if let Some(condition) = action.strip_prefix("if ") {
            let Some(close) = rest.find("{{ end }}") else {
                return out;
            };
            let body = &rest[..close];
            let (then, otherwise) = body.split_once("{{ else }}").unwrap_or((body, ""));
            let chosen = if value_condition(condition, value) {
                then
            } else {
                otherwise
            };
            out.push_str(&render(chosen, labels, value, with_block));
            rest = &rest[close + "{{ end }}".len()..];
        } else if action.starts_with("with ") {
            let Some(close) = rest.find("{{ end }}") else {
                return out;
            };
            if let Some(name) = action.strip_prefix("with $labels.") {
                // `{{ with $labels.x }}…{{ . }}…{{ end }}`: kept when the label
                // is set (Go's `with` skips a missing or empty value).
                if let Some(label) = labels.get(name.trim()).filter(|l| !l.is_empty()) {
                    let pieces: Vec<_> = rest[..close]
                        .split("{{ . }}")
                        .map(|piece| render(piece, labels, value, false))
                        .collect();
                    out.push_str(&pieces.join(label));
                }
            } else if with_block {
                out.push_str(&render(&rest[..close], labels, value, false));
            }
            rest = &rest[close + "{{ end }}".len()..];
        } else {
            out.push_str(&action_text(action, labels, value));
        }
    }
    out.push_str(rest);
    out
}

/// `eq $value N` or `ne $value N`, as Go's template compares a float; any
/// other condition is false.
fn value_condition(condition: &str, value: f64) -> bool {
    match condition.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["eq", "$value", n] => n.parse::<f64>().is_ok_and(|n| value == n),
        ["ne", "$value", n] => n.parse::<f64>().is_ok_and(|n| value != n),
        _ => false,
    }
}

fn action_text(action: &str, labels: &BTreeMap<String, String>, value: f64) -> String {
    if let Some(name) = action.strip_prefix("$labels.") {
        return labels.get(name.trim()).cloned().unwrap_or_default();
    }
    match action
        .split('|')
        .map(str::trim)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["$value"] => go_float(value),
        ["$value", "humanize1024"] => humanize1024(value),
        ["$value", "humanizeDuration"] => humanize_duration(value),
        ["$value", "humanizePercentage"] => format!("{}%", go_g4(value * 100.0)),
        _ => String::new(),
    }
}

/// A float as Go's `%v` prints it: `3`, `0.5`, `1e+21`.
fn go_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e21 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Go's `%.4g`: four significant digits, trailing zeros dropped, an exponent
/// below 1e-4 and from 1e4 on.
pub fn go_g4(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v.is_infinite() {
            if v > 0.0 { "+Inf" } else { "-Inf" }.into()
        } else {
            "0".into()
        };
    }
    let exponent = format!("{:.3e}", v);
    let (mantissa, exp) = exponent.split_once('e').unwrap_or((&exponent, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..4).contains(&exp) {
        let mantissa = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(3 - exp).unwrap_or(0);
    trim_zeros(&format!("{v:.decimals$}"))
}

fn trim_zeros(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text.to_owned()
    }
}

/// Prometheus' `humanize1024`: `12Gi`, `512`, `1.5Ki`.
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g4(v))
}

/// Prometheus' `humanizeDuration`: `1d 2h 3m 4s`, `5m 0s`, `42s`.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g4(v);
    }
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let whole = v.abs() as i64;
        let (days, hours, minutes, seconds) = (
            whole / 86_400,
            whole / 3600 % 24,
            whole / 60 % 60,
            whole % 60,
        );
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", go_g4(v.abs()))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g4(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_prometheus_writes_them() {
        assert_eq!(go_g4(93.0), "93");
        assert_eq!(go_g4(0.5), "0.5");
        assert_eq!(go_g4(1234.5), "1234");
        assert_eq!(go_g4(12345.0), "1.234e+04");
        assert_eq!(go_g4(0.00001234), "1.234e-05");
        assert_eq!(humanize1024(12.0 * 1024.0 * 1024.0 * 1024.0), "12Gi");
        assert_eq!(humanize1024(1536.0), "1.5ki");
        assert_eq!(humanize1024(512.0), "512");
        assert_eq!(humanize_duration(93_784.0), "1d 2h 3m 4s");
        assert_eq!(humanize_duration(300.0), "5m 0s");
        assert_eq!(humanize_duration(42.0), "42s");
        assert_eq!(humanize_duration(0.0), "0s");
    }

    #[test]
    fn labels_values_and_with_blocks_are_filled() {
        let labels = BTreeMap::from([("target".to_owned(), "lite".to_owned())]);
        let t = "{{ $labels.target }} has {{ $value | humanizePercentage }}.{{ with printf `q` | query }} Auth.{{ end }}";
        assert_eq!(render(t, &labels, 0.93, false), "lite has 93%.");
        assert_eq!(render(t, &labels, 0.93, true), "lite has 93%. Auth.");
        assert_eq!(render("{{ $value }} IPs", &labels, 3.0, false), "3 IPs");
    }

    #[test]
    fn if_blocks_choose_by_the_value() {
        let labels = BTreeMap::new();
        let t = "{{ $value }} IP{{ if ne $value 1.0 }}s{{ end }} {{ if eq $value 1.0 }}has{{ else }}have{{ end }} expired";
        assert_eq!(render(t, &labels, 1.0, false), "1 IP has expired");
        assert_eq!(render(t, &labels, 2.0, false), "2 IPs have expired");
        assert_eq!(render(t, &labels, 0.0, false), "0 IPs have expired");
    }
}
