//! Configuration tests against the public contract (CONTRACT.md, "Configuration (YAML)"):
//! a table of bad configurations, each of which must be refused with an error naming the
//! file, the line and the key; valid configurations with their defaults and overrides;
//! `${VAR}` expansion and secret files; and the contract's own example.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use proxy_quota_exporter::config::{Config, Target};
use proxy_quota_exporter::notify::config::ReceiverKind;
use proxy_quota_exporter::providers;
use proxy_quota_exporter::units::Zone;

/// Environment variables the tests read. Each name is unique to this file.
const APP_KEY_VAR: &str = "PQE_CONFIG_TEST_APP_KEY";
const APP_KEY_VALUE: &str = "env-app-key-4f9c2e";
const IPWEB_TOKEN_VALUE: &str = "ipweb-token-7d1a0b";
const UNSET_VAR: &str = "UNSET_VAR_FOR_TEST";

/// Sets the environment once, before any test parses anything: every test calls this
/// first, so no test reads the environment while another one writes it.
fn init_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var(APP_KEY_VAR, APP_KEY_VALUE);
        std::env::set_var("IPWEB_TOKEN", IPWEB_TOKEN_VALUE);
        std::env::remove_var(UNSET_VAR);
    });
}

/// (case name, YAML, expected line of the error, expected substring of the error).
/// Every YAML is parsed as `bad.yml`, so every error must start with `bad.yml:{line}:`.
const CASES: &[(&str, &str, usize, &str)] = &[
    (
        "unknown top-level key",
        "interval: 30s\n\
         intervall: 30s\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        2,
        "unknown field `intervall`",
    ),
    (
        "unknown target key (typo app_kye)",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_kye: k\n",
        4,
        "targets[0]: unknown field `app_kye`",
    ),
    (
        "duplicate target name (line of the second one)",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k2\n",
        5,
        "name: duplicate target name",
    ),
    (
        "missing secret",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   product_types: [9]\n",
        2,
        "app_key: missing secret: set app_key or app_key_file",
    ),
    (
        "both app_key and app_key_file",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   app_key_file: secret.txt\n",
        4,
        "set either app_key or app_key_file, not both",
    ),
    (
        "unreadable app_key_file",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key_file: does-not-exist/app_key.txt\n",
        4,
        "app_key_file: cannot read secret file",
    ),
    (
        "token on a bestproxy target",
        "targets:\n\
         \x20 - name: best\n\
         \x20   provider: bestproxy\n\
         \x20   base_url: https://api.bestproxy.example\n\
         \x20   app_key: k\n\
         \x20   token: t\n",
        6,
        "token: not used by provider bestproxy",
    ),
    (
        "token_file on a proxylite target",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   token_file: token.txt\n",
        4,
        "token_file: not used by provider proxylite",
    ),
    (
        "unknown provider",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: smartproxy\n\
         \x20   app_key: k\n",
        3,
        "provider: unknown provider \"smartproxy\"",
    ),
    (
        "bestproxy without base_url",
        "targets:\n\
         \x20 - name: best\n\
         \x20   provider: bestproxy\n\
         \x20   app_key: k\n",
        2,
        "base_url: required for provider bestproxy",
    ),
    (
        "invalid base_url",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   base_url: not a url\n\
         \x20   app_key: k\n",
        4,
        "base_url: invalid URL",
    ),
    (
        "base_url not http(s)",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   base_url: ftp://api.proxylite.com\n\
         \x20   app_key: k\n",
        4,
        "base_url: \"ftp://api.proxylite.com\" must be an http or https URL",
    ),
    (
        "base_url with a query string",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   base_url: https://api.proxylite.com/?app_key=abc\n\
         \x20   app_key: k\n",
        4,
        "base_url: must not contain a query string",
    ),
    (
        "bad name characters",
        "targets:\n\
         \x20 - name: my target\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        2,
        "name: must be non-empty and use only letters, digits, '_' and '-'",
    ),
    (
        "empty name",
        "targets:\n\
         \x20 - provider: proxylite\n\
         \x20   name: \"\"\n\
         \x20   app_key: k\n",
        3,
        "name: must be non-empty",
    ),
    (
        "unknown endpoint name",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   endpoints: [summary, quota]\n",
        5,
        "targets[0].endpoints[1]: unknown variant `quota`",
    ),
    (
        "endpoint not of this provider",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   endpoints: [summary, customers]\n",
        5,
        "endpoints: customers is not an endpoint of provider proxylite",
    ),
    (
        "duplicate endpoint",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   endpoints:\n\
         \x20     - summary\n\
         \x20     - accounts\n\
         \x20     - summary\n",
        5,
        "endpoints: summary listed twice",
    ),
    (
        "empty endpoints list",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   endpoints: []\n",
        5,
        "endpoints: must list at least one endpoint",
    ),
    (
        "empty product_types",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   product_types: []\n",
        5,
        "product_types: must list at least one product type",
    ),
    (
        "wrong type: product_types a string",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   product_types: \"nine\"\n",
        5,
        "targets[0].product_types: invalid type: string \"nine\", expected a sequence",
    ),
    (
        "bad top-level timezone",
        "timezone: Mars/Olympus_Mons\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        1,
        "timezone: unknown timezone \"Mars/Olympus_Mons\"",
    ),
    (
        "bad target timezone offset",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   timezone: \"+25:00\"\n",
        5,
        "timezone: invalid UTC offset \"+25:00\"",
    ),
    (
        "no concurrent requests allowed",
        "max_concurrent_requests: 0\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        1,
        "max_concurrent_requests: must be at least 1",
    ),
    (
        "product type listed twice",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   product_types: [9, 12, 9]\n",
        5,
        "product_types: 9 listed twice",
    ),
    (
        "a line break inside a secret",
        "targets:\n\
         \x20 - name: agent\n\
         \x20   provider: ipweb\n\
         \x20   token: \"abc\\ndef\"\n",
        4,
        "token: secret contains control characters",
    ),
    (
        "unit_base 1023",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   unit_base: 1023\n",
        5,
        "unit_base: must be 1024 or 1000, not 1023",
    ),
    (
        "top-level interval 0s",
        "max_staleness: 10m\n\
         interval: 0s\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        2,
        "interval: must be at least 1s",
    ),
    (
        "target interval 500ms",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20 - name: fast\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   interval: 500ms\n",
        8,
        "interval: must be at least 1s",
    ),
    (
        "timeout 0s",
        "timeout: 0s\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        1,
        "timeout: must be greater than 0",
    ),
    (
        "bad duration text",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   interval: five minutes\n",
        5,
        "targets[0].interval: invalid value: string \"five minutes\", expected a duration",
    ),
    (
        "duration without a unit",
        "max_staleness: 600\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        1,
        "max_staleness: invalid value: string \"600\", expected a duration",
    ),
    (
        "empty app_key",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: \"  \"\n",
        4,
        "app_key: secret is empty",
    ),
    (
        "no targets (key absent)",
        "interval: 30s\n",
        1,
        "targets: at least one target is required",
    ),
    (
        "no targets (empty list)",
        "interval: 30s\n\
         targets: []\n",
        2,
        "targets: at least one target is required",
    ),
    (
        "missing provider",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   app_key: k\n",
        2,
        "missing field `provider`",
    ),
    (
        "invalid YAML syntax (bad indentation)",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20  app_key: k\n",
        4,
        "did not find expected '-' indicator",
    ),
    (
        "wrong type: app_key a list",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: [k]\n",
        4,
        "targets[0].app_key: invalid type: sequence, expected a string",
    ),
    (
        "wrong type: negative product type",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   product_types: [9, -1]\n",
        5,
        "targets[0].product_types[1]: invalid type: integer `-1`",
    ),
    (
        "unknown key in the second target",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20 - name: lite2\n\
         \x20   provider: proxylite\n\
         \x20   app_kye: k\n",
        7,
        "targets[1]: unknown field `app_kye`",
    ),
    (
        "unknown top-level key after the targets",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         bogus_key: 1000\n",
        5,
        "unknown field `bogus_key`",
    ),
    (
        "unindented target list",
        "targets:\n\
         - name: lite\n\
         \x20 provider: proxylite\n\
         \x20 app_key: k\n\
         - name: lite\n\
         \x20 provider: proxylite\n\
         \x20 app_key: k\n",
        5,
        "targets[1] (lite): name: duplicate target name",
    ),
    (
        "flow-style target: the line of the item",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k, unit_base: 1023}\n",
        2,
        "targets[0] (lite): unit_base: must be 1024 or 1000, not 1023",
    ),
    (
        "flow-style target list: the line of the list",
        "targets: [{name: a, provider: proxylite, app_key: k}, {name: a, provider: proxylite, app_key: k}]\n",
        1,
        "targets[1] (a): name: duplicate target name",
    ),
    (
        "alerting: an alert name that does not exist",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 rules:\n\
         \x20   ProxyTrafficLw: {for: 0s}\n",
        5,
        "alerting: rules: unknown alert \"ProxyTrafficLw\"",
    ),
    (
        "alerting: a duration where the alert takes a ratio",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 rules:\n\
         \x20   ProxyTrafficLow: {warning: 7d}\n",
        5,
        "alerting: rules: ProxyTrafficLow: warning: must be a ratio such as 0.1",
    ),
    (
        "alerting: a receiver with two kinds",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - name: x\n\
         \x20     log: {}\n\
         \x20     slack: {webhook_url: \"https://hooks.slack.example/x\"}\n",
        5,
        "alerting: receivers[0] (x): ",
    ),
    (
        "alerting: a bearer token with a line break",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - name: x\n\
         \x20     webhook: {url: \"https://hooks.example/x\", bearer_token: \"SECRET\\nTOK\"}\n",
        5,
        "alerting: receivers[0] (x): receiver \"x\": webhook.bearer_token: secret contains control characters",
    ),
    (
        "alerting: a URL with a line break",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - name: x\n\
         \x20     alertmanager: {url: \"http://am.example:9093/\\napi\"}\n",
        5,
        "alerting: receivers[0] (x): receiver \"x\": alertmanager.url: contains control characters",
    ),
    (
        "alerting: an SMTP password with a line break",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - name: x\n\
         \x20     email: {smarthost: \"smtp.example:587\", from: a@example.test, to: [b@example.test], auth_username: a, auth_password: \"pw\\r\\n\"}\n",
        5,
        "alerting: receivers[0] (x): receiver \"x\": email.auth_password: secret contains control characters",
    ),
    (
        "alerting: a route to an unknown receiver",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - {name: chat, log: {}}\n\
         \x20 route:\n\
         \x20   receiver: chat\n\
         \x20   routes:\n\
         \x20     - receiver: phone\n",
        9,
        "route.routes[0].receiver: unknown receiver \"phone\"",
    ),
    (
        "alerting: a bad matcher in a route",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - {name: chat, log: {}}\n\
         \x20 route:\n\
         \x20   receiver: chat\n\
         \x20   routes:\n\
         \x20     - matchers: ['severity=~\"(\"']\n\
         \x20       receiver: chat\n",
        9,
        "route.routes[0].matchers[0]",
    ),
    (
        "alerting: a zero group_interval",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - {name: chat, log: {}}\n\
         \x20 route: {receiver: chat, group_interval: 0s}\n",
        6,
        "group_interval",
    ),
    (
        "alerting: an inhibition rule with a bad matcher",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 inhibit_rules:\n\
         \x20   - source_matchers: ['severity=~\"(\"']\n",
        5,
        "inhibit_rules[0].source_matchers[0]",
    ),
    (
        "alerting: an unknown key",
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 evaluation_intervall: 30s\n",
        4,
        "alerting: unknown field `evaluation_intervall`",
    ),
    (
        "max_requests_per_second 0 at the top level",
        "max_requests_per_second: 0\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        1,
        "max_requests_per_second: must be a number greater than 0",
    ),
    (
        "negative max_requests_per_second on a target",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   max_requests_per_second: -1\n",
        5,
        "targets[0] (lite): max_requests_per_second: must be a number greater than 0",
    ),
    (
        "max_requests_per_second as text",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   max_requests_per_second: fast\n",
        5,
        "targets[0].max_requests_per_second: invalid type: string \"fast\"",
    ),
    (
        "a target's pace too slow for one poll per interval",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   max_requests_per_second: 0.05\n",
        5,
        "targets[0] (lite): max_requests_per_second: 0.05 allows 3.00 requests per interval (1m), fewer than the 7 a poll needs at least",
    ),
    (
        "the top-level pace too slow for a target",
        "interval: 10s\n\
         max_requests_per_second: 0.2\n\
         targets:\n\
         \x20 - name: slow\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   interval: 1h\n\
         \x20 - name: quick\n\
         \x20   provider: ipweb\n\
         \x20   token: t\n",
        2,
        "max_requests_per_second: targets[1] (quick): 0.2 allows 2.00 requests per interval (10s), fewer than the 5 a poll needs",
    ),
];

/// `${VAR}` and repeated-key errors, which the parser reports at a value or a
/// mapping rather than at a key.
const ENV_AND_DUPLICATE_KEY_CASES: &[(&str, &str, usize, &str)] = &[
    (
        "unset environment variable in app_key",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: ${UNSET_VAR_FOR_TEST}\n",
        4,
        "targets[0].app_key: environment variable UNSET_VAR_FOR_TEST is not set",
    ),
    (
        "unset environment variable in the second target's base_url",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20 - name: lite2\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   base_url: ${UNSET_VAR_FOR_TEST}\n",
        8,
        "targets[1].base_url: environment variable UNSET_VAR_FOR_TEST is not set",
    ),
    (
        "unset environment variable in the top-level timezone",
        "interval: 60s\n\
         timezone: ${UNSET_VAR_FOR_TEST}\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        2,
        "timezone: environment variable UNSET_VAR_FOR_TEST is not set",
    ),
    (
        "invalid environment variable name",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: ${BAD NAME}\n",
        4,
        "app_key: invalid environment variable name \"BAD NAME\"",
    ),
    (
        "duplicate key in a target",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   app_key: k2\n",
        5,
        "duplicate field `app_key`",
    ),
];

/// Parses every case as `bad.yml` and returns a description of each that is not refused
/// with an error starting `bad.yml:{line}: ` and containing the expected text.
fn failing_cases(cases: &[(&str, &str, usize, &str)]) -> Vec<String> {
    let mut failures = Vec::new();
    for &(name, yaml, line, expected) in cases {
        match Config::parse(yaml, Path::new("bad.yml")) {
            Ok(_) => failures.push(format!("{name}: parsed, want an error")),
            Err(err) => {
                let text = err.to_string();
                let prefix = format!("bad.yml:{line}: ");
                if !text.starts_with(&prefix) || !text.contains(expected) {
                    failures.push(format!(
                        "{name}:\n    got  {text}\n    want prefix {prefix:?} and {expected:?}"
                    ));
                }
            }
        }
    }
    failures
}

/// Mistakes in a custom target's sections: (case name, the target's lines from
/// line 6 on, expected line, expected text). Lines 1–5 are the target's name,
/// provider, base URL and credential.
const CUSTOM_CASES: &[(&str, &str, usize, &str)] = &[
    (
        "no auth",
        "    pools: [{path: /me, pool: p, remaining: /r}]\n    unit: GB\n",
        2,
        "auth: required for provider custom",
    ),
    (
        "two auth kinds",
        "    auth: {query: key, header: X-Key}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "targets[0].auth: set exactly one of header (with an optional prefix), query or basic_username",
    ),
    (
        "prefix without header",
        "    auth: {query: key, prefix: \"Bearer \"}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "prefix goes with header only",
    ),
    (
        "a header name that is not one",
        "    auth: {header: \"X Key\"}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "\"X Key\" is not a valid HTTP header name",
    ),
    (
        "a framing or hop-by-hop header: Host",
        "    auth: {header: Host}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "targets[0].auth: \"Host\" frames the request or steers its connection",
    ),
    (
        "a framing or hop-by-hop header: content-length",
        "    auth: {header: content-length}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "targets[0].auth: \"content-length\" frames the request or steers its connection",
    ),
    (
        "a framing or hop-by-hop header: Transfer-Encoding",
        "    auth: {header: Transfer-Encoding}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "targets[0].auth: \"Transfer-Encoding\" frames the request or steers its connection",
    ),
    (
        "a framing or hop-by-hop header: Connection",
        "    auth: {header: Connection}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "targets[0].auth: \"Connection\" frames the request or steers its connection",
    ),
    (
        "a framing or hop-by-hop header: Proxy-Authorization",
        "    auth: {header: Proxy-Authorization}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "targets[0].auth: \"Proxy-Authorization\" frames the request or steers its connection",
    ),
    (
        "a framing or hop-by-hop header: TE",
        "    auth: {header: TE}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "targets[0].auth: \"TE\" frames the request or steers its connection",
    ),
    (
        "no section",
        "    auth: {query: key}\n",
        2,
        "needs at least one of pools, accounts or static_ips",
    ),
    (
        "a pointer that is not a pointer",
        "    auth: {query: key}\n    unit: GB\n    pools:\n      - path: /me\n        pool: p\n        remaining: data.remaining\n",
        11,
        "targets[0].pools[0].remaining: \"data.remaining\" is not a JSON pointer (RFC 6901)",
    ),
    (
        "a pointer with a bad escape",
        "    auth: {query: key}\n    unit: GB\n    pools:\n      - path: /me\n        pool: p\n        remaining: /a~2b\n",
        11,
        "`~` must be followed by 0 (for `~`) or 1 (for `/`)",
    ),
    (
        "an unknown unit on the target",
        "    auth: {query: key}\n    unit: TB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        7,
        "targets[0].unit: unknown unit \"TB\" (expected B, KB, MB or GB)",
    ),
    (
        "an unknown unit on a field",
        "    auth: {query: key}\n    pools:\n      - path: /me\n        pool: p\n        remaining: {pointer: /r, unit: gib}\n",
        10,
        "targets[0].pools[0].remaining.unit: unknown unit \"gib\"",
    ),
    (
        "a traffic figure without a unit",
        "    auth: {query: key}\n    pools:\n      - path: /me\n        pool: p\n        remaining: /r\n",
        10,
        "pools[0].remaining: a traffic figure without a unit",
    ),
    (
        "a pool without figures",
        "    auth: {query: key}\n    unit: GB\n    pools:\n      - path: /me\n        pool: p\n",
        9,
        "targets[0].pools[0]: a pool needs at least one of remaining",
    ),
    (
        "a pool listed twice",
        "    auth: {query: key}\n    unit: GB\n    pools:\n      - {path: /me, pool: p, remaining: /r}\n      - {path: /me, pool: p, used: /u}\n",
        10,
        "pools[1].pool: \"p\" is listed twice",
    ),
    (
        "a URL as path",
        "    auth: {query: key}\n    unit: GB\n    pools: [{path: \"https://evil.example/me\", pool: p, remaining: /r}]\n",
        8,
        "must be a path under base_url starting with `/` (such as /me), not a URL",
    ),
    (
        "a path without its leading slash",
        "    auth: {query: key}\n    unit: GB\n    pools: [{path: me, pool: p, remaining: /r}]\n",
        8,
        "targets[0].pools[0].path: \"me\" must be a path under base_url starting with `/`",
    ),
    (
        "a path with a backslash",
        "    auth: {query: key}\n    unit: GB\n    pools: [{path: '/\\\\evil.example/me', pool: p, remaining: /r}]\n",
        8,
        "must be a path without spaces, `#` or `\\`",
    ),
    (
        "a path that climbs out of base_url",
        "    auth: {query: key}\n    unit: GB\n    pools: [{path: /../../admin, pool: p, remaining: /r}]\n",
        8,
        "\"/../../admin\" leads out of base_url",
    ),
    (
        "a prefix that cannot go in a header",
        "    auth: {header: Authorization, prefix: \"Bearer\\n\"}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "cannot start a header value",
    ),
    (
        "an empty query parameter name",
        "    auth: {query: \"\"}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "query must name a parameter",
    ),
    (
        "a Basic user name with a colon",
        "    auth: {basic_username: \"a:b\"}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "basic_username must be non-empty, without `:`",
    ),
    (
        "first_page 2",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      paging: {style: page, page_param: p, first_page: 2, items: /r}\n      ip: /ip\n      expires_at: /exp\n",
        9,
        "first_page must be 0 or 1",
    ),
    (
        "size 0",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      paging: {style: page, page_param: p, size_param: n, size: 0, items: /r}\n      ip: /ip\n      expires_at: /exp\n",
        9,
        "size must be at least 1",
    ),
    (
        "one parameter for page and size",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      paging: {style: page, page_param: p, size_param: p, items: /r}\n      ip: /ip\n      expires_at: /exp\n",
        9,
        "page_param and size_param must be different parameters",
    ),
    (
        "a page parameter the path already carries",
        "    auth: {query: key}\n    static_ips:\n      path: /ips?page=1\n      paging: {style: page, page_param: page, items: /r}\n      ip: /ip\n      expires_at: /exp\n",
        8,
        "paging sets `page`, which path already carries in its query",
    ),
    (
        "the credential's parameter set by paging",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      paging: {style: page, page_param: key, items: /r}\n      ip: /ip\n      expires_at: /exp\n",
        7,
        "static_ips: sets the query parameter `key`, which auth uses for the credential",
    ),
    (
        "the credential's parameter in a pool's path",
        "    auth: {query: key}\n    unit: GB\n    pools:\n      - path: /me?key=x\n        pool: p\n        remaining: /r\n",
        9,
        "pools[0].path: sets the query parameter `key`, which auth uses for the credential",
    ),
    (
        "an empty display_name",
        "    display_name: \" \"\n    auth: {query: key}\n    unit: GB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        6,
        "display_name: must not be empty",
    ),
    (
        "an unknown key in a section",
        "    auth: {query: key}\n    unit: GB\n    accounts:\n      path: /u\n      items: /data\n      account: /name\n      used: /used\n      limt: /limit\n",
        13,
        "unknown field `limt`",
    ),
    (
        "paging style page without page_param",
        "    auth: {query: key}\n    unit: GB\n    accounts:\n      path: /u\n      paging:\n        style: page\n        items: /data\n      account: /name\n      used: /used\n",
        11,
        "targets[0].accounts.paging: style page needs page_param",
    ),
    (
        "paging style next without next",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      paging: {style: next, items: /results}\n      ip: /ip\n      expires_at: /exp\n",
        9,
        "targets[0].static_ips.paging: style next needs next",
    ),
    (
        "a page key with style next",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      paging: {style: next, items: /r, next: /next, total_pages: /pages}\n      ip: /ip\n      expires_at: /exp\n",
        9,
        "total_pages goes with style page, not next",
    ),
    (
        "an unknown paging style",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      paging: {style: cursor, items: /r}\n      ip: /ip\n      expires_at: /exp\n",
        9,
        "unknown variant `cursor`, expected `page` or `next`",
    ),
    (
        "size without size_param",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      paging: {style: page, page_param: p, size: 50, items: /r}\n      ip: /ip\n      expires_at: /exp\n",
        9,
        "size needs size_param",
    ),
    (
        "a list without items",
        "    auth: {query: key}\n    static_ips:\n      path: /ips\n      ip: /ip\n      expires_at: /exp\n",
        8,
        "targets[0].static_ips: set `items`",
    ),
    (
        "unlimited_values without limit",
        "    auth: {query: key}\n    unit: MB\n    accounts: {path: /u, items: /d, account: /n, used: /u, unlimited_values: [0]}\n",
        8,
        "unlimited_values goes with limit",
    ),
    (
        "an endpoint without its section",
        "    auth: {query: key}\n    unit: MB\n    endpoints: [summary, accounts]\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        8,
        "accounts is not an endpoint this target describes (described: summary)",
    ),
    (
        "a success check without its value",
        "    auth: {query: key}\n    success: {pointer: /code}\n    unit: MB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        7,
        "targets[0].success: missing field `equals`",
    ),
    (
        "a gateway key on a custom target",
        "    auth: {query: key}\n    app_key: k\n    unit: MB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        7,
        "app_key: not used by provider custom (use credential or credential_file)",
    ),
    (
        "no base_url",
        "    auth: {query: key}\n    unit: MB\n    pools: [{path: /me, pool: p, remaining: /r}]\n",
        2,
        "base_url: required for provider custom",
    ),
];

#[test]
fn custom_provider_mistakes_are_refused_naming_file_line_and_key() {
    init_env();
    let texts: Vec<(&str, String, usize, &str)> = CUSTOM_CASES
        .iter()
        .map(|&(name, lines, line, expected)| {
            let base = if name == "no base_url" {
                ""
            } else {
                "    base_url: https://api.example/v1\n"
            };
            let yaml = format!(
                "targets:\n  - name: other\n    provider: custom\n{base}    credential: k\n{lines}"
            );
            (name, yaml, line, expected)
        })
        .collect();
    let cases: Vec<(&str, &str, usize, &str)> = texts
        .iter()
        .map(|(name, yaml, line, expected)| (*name, yaml.as_str(), *line, *expected))
        .collect();
    let failures = failing_cases(&cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_configs_are_refused_naming_file_line_and_key() {
    init_env();
    let failures = failing_cases(CASES);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// One run names every mistake of the file (each target and the alerting
/// section are checked whatever the others hold), an unknown key suggests the
/// nearest known one, and a bare number where a duration goes shows the unit.
#[test]
fn every_mistake_of_a_file_is_named_in_one_run_with_hints() {
    init_env();
    let yaml = "\
intervall: 30s
targets:
  - name: a
    provider: bestproxy
    app_key_flie: x
  - name: b
    provider: proxylite
  - name: c
    provider: ipweb
    token: t
    interval: 60
alerting:
  evaluation_interval: 0s
";
    let error = Config::parse(yaml, Path::new("bad.yml"))
        .unwrap_err()
        .to_string();
    // The top-level key is read before any target: alone, it is named first.
    assert!(
        error.contains("bad.yml:1: unknown field `intervall`"),
        "{error}"
    );
    assert!(error.contains("(did you mean `interval`?)"), "{error}");
    let fixed = yaml.replacen("intervall", "interval", 1);
    let error = Config::parse(&fixed, Path::new("bad.yml"))
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = error.lines().collect();
    assert_eq!(lines[0], "4 mistakes:", "{error}");
    assert!(
        lines[1].starts_with("  bad.yml:5: targets[0]: unknown field `app_key_flie`"),
        "{error}"
    );
    assert!(
        lines[1].ends_with("(did you mean `app_key_file`?)"),
        "{error}"
    );
    assert!(
        lines[2].starts_with("  bad.yml:6: targets[1] (b): app_key: missing secret"),
        "{error}"
    );
    assert!(
        lines[3].starts_with("  bad.yml:11: targets[2].interval:"),
        "{error}"
    );
    assert!(
        lines[3].ends_with("a duration has a unit, such as \"60s\" or \"60m\""),
        "{error}"
    );
    assert!(
        lines[4].starts_with("  bad.yml:13: alerting: evaluation_interval"),
        "{error}"
    );
    assert_eq!(lines.len(), 5, "{error}");
}

#[test]
fn env_and_duplicate_key_errors_name_the_line_and_key() {
    init_env();
    let failures = failing_cases(ENV_AND_DUPLICATE_KEY_CASES);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        ENV_AND_DUPLICATE_KEY_CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn unset_env_var_is_refused_naming_the_file_and_the_variable() {
    init_env();
    for (yaml, target) in [
        (
            "targets:\n  - name: lite\n    provider: proxylite\n    app_key: ${UNSET_VAR_FOR_TEST}\n",
            "targets[0]",
        ),
        (
            "targets:\n  - name: lite\n    provider: proxylite\n    app_key: pre-${UNSET_VAR_FOR_TEST}\n",
            "targets[0]",
        ),
        (
            "targets:\n  - name: lite\n    provider: proxylite\n    app_key: k\n  - name: b\n    provider: proxylite\n    app_key_file: ${UNSET_VAR_FOR_TEST}\n",
            "targets[1]",
        ),
    ] {
        let err = Config::parse(yaml, Path::new("bad.yml"))
            .expect_err("an unset variable is an error, never an empty secret")
            .to_string();
        assert!(
            err.starts_with("bad.yml:")
                && err.contains(target)
                && err.contains("environment variable UNSET_VAR_FOR_TEST is not set"),
            "{err}"
        );
    }
}

fn parse_ok(yaml: &str) -> Config {
    Config::parse(yaml, Path::new("good.yml"))
        .unwrap_or_else(|e| panic!("valid config refused: {e}\n{yaml}"))
}

fn endpoint_names(target: &Target) -> Vec<&'static str> {
    target.endpoints.iter().map(|e| e.as_str()).collect()
}

fn zone(text: &str) -> Zone {
    text.parse().expect("test zone is valid")
}

#[test]
fn defaults_are_filled_in() {
    init_env();
    let config = parse_ok(
        "targets:\n\
         \x20 - name: lite-main\n\
         \x20   provider: proxylite\n\
         \x20   app_key: plain-key\n",
    );
    assert_eq!(config.max_staleness, Duration::from_secs(600));
    assert_eq!(config.targets.len(), 1);
    let t = &config.targets[0];
    assert_eq!(t.name, "lite-main");
    assert_eq!(t.provider.name, "proxylite");
    assert_eq!(t.base_url.as_str(), "https://api.proxylite.com/");
    assert_eq!(t.credential.expose(), "plain-key");
    assert_eq!(t.interval, Duration::from_secs(60));
    assert_eq!(t.timeout, Duration::from_secs(10));
    assert_eq!(t.timezone, zone("+08:00"));
    assert_eq!(t.unit_base, 1024);
    assert_eq!(gateway(t).product_types, vec![9]);
    assert_eq!(
        endpoint_names(t),
        [
            "usage",
            "summary",
            "packages",
            "accounts",
            "static_ips",
            "allowlist",
            "orders"
        ]
    );
}

/// `stock` is off by default (configuration.md, "Endpoints per provider") but a
/// target may list it; an unknown endpoint's error names it among the known.
#[test]
fn the_optional_stock_endpoint_is_polled_only_when_listed() {
    init_env();
    let config = parse_ok(
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   endpoints: [stock, allowlist]\n\
         \x20 - name: lite-defaults\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
    );
    assert_eq!(endpoint_names(&config.targets[0]), ["stock", "allowlist"]);
    assert!(!endpoint_names(&config.targets[1]).contains(&"stock"));
    let err = Config::parse(
        "targets:\n  - name: lite\n    provider: proxylite\n    app_key: k\n    endpoints: [recharges]\n",
        Path::new("bad.yml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("recharges is not an endpoint of provider proxylite")
            && err.contains("static_ips, allowlist, orders, stock)"),
        "{err}"
    );
}

#[test]
fn top_level_settings_apply_to_every_target_and_targets_override_them() {
    init_env();
    let config = parse_ok(
        "interval: 2m\n\
         timeout: 20s\n\
         max_staleness: 1h\n\
         timezone: UTC\n\
         targets:\n\
         \x20 - name: lite_defaults\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k1\n\
         \x20 - name: best-override\n\
         \x20   provider: bestproxy\n\
         \x20   base_url: https://gw.bestproxy.example/base\n\
         \x20   app_key: k2\n\
         \x20   product_types: [9, 12, 25]\n\
         \x20   endpoints: [summary, accounts]\n\
         \x20   interval: 5m\n\
         \x20   timeout: 3s\n\
         \x20   timezone: Asia/Shanghai\n\
         \x20   unit_base: 1000\n\
         \x20   static_ip_expiry_field: end_time\n",
    );
    assert_eq!(config.max_staleness, Duration::from_secs(3600));
    let [a, b] = &config.targets[..] else {
        panic!("want two targets, got {:?}", config.targets);
    };

    assert_eq!(a.interval, Duration::from_secs(120));
    assert_eq!(a.timeout, Duration::from_secs(20));
    assert_eq!(a.timezone, zone("UTC"));
    assert_eq!(a.timezone, zone("+00:00"));
    assert_eq!(a.unit_base, 1024);
    assert_eq!(gateway(a).static_ip_expiry_field, "expired_at");

    assert_eq!(b.provider.name, "bestproxy");
    assert_eq!(b.base_url.as_str(), "https://gw.bestproxy.example/base");
    assert_eq!(b.credential.expose(), "k2");
    assert_eq!(gateway(b).product_types, vec![9, 12, 25]);
    assert_eq!(endpoint_names(b), ["summary", "accounts"]);
    assert_eq!(b.interval, Duration::from_secs(300));
    assert_eq!(b.timeout, Duration::from_secs(3));
    assert_eq!(b.timezone, zone("Asia/Shanghai"));
    assert_ne!(
        b.timezone,
        zone("+08:00"),
        "an IANA zone stays an IANA zone"
    );
    assert_eq!(b.unit_base, 1000);
    assert_eq!(gateway(b).static_ip_expiry_field, "end_time");
}

#[test]
fn endpoints_keep_the_configured_order_and_yaml_block_style_works() {
    init_env();
    let config = parse_ok(
        "targets:\n\
         - name: lite\n\
         \x20 provider: proxylite\n\
         \x20 app_key: k\n\
         \x20 endpoints:\n\
         \x20 - static_ips\n\
         \x20 - usage\n",
    );
    assert_eq!(endpoint_names(&config.targets[0]), ["static_ips", "usage"]);
}

#[test]
fn env_vars_expand_in_secrets_and_dollar_dollar_escapes() {
    init_env();
    let config = parse_ok(&format!(
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: ${{{APP_KEY_VAR}}}\n\
         \x20 - name: lite-prefixed\n\
         \x20   provider: proxylite\n\
         \x20   app_key: pre-${{{APP_KEY_VAR}}}-post\n\
         \x20 - name: lite-literal\n\
         \x20   provider: proxylite\n\
         \x20   app_key: \"$${{{APP_KEY_VAR}}}\"\n"
    ));
    assert_eq!(config.targets[0].credential.expose(), APP_KEY_VALUE);
    assert_eq!(
        config.targets[1].credential.expose(),
        format!("pre-{APP_KEY_VALUE}-post")
    );
    assert_eq!(
        config.targets[2].credential.expose(),
        format!("${{{APP_KEY_VAR}}}")
    );
    assert!(!format!("{config:?}").contains(APP_KEY_VALUE));
}

#[test]
fn env_vars_expand_in_receivers_secrets() {
    init_env();
    let config = parse_ok(&format!(
        "targets:\n\
         \x20 - {{name: lite, provider: proxylite, app_key: k}}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - name: chat\n\
         \x20     slack: {{webhook_url: \"https://hooks.slack.example/${{{APP_KEY_VAR}}}\"}}\n"
    ));
    let receivers = &config.alerting.as_ref().unwrap().receivers;
    let ReceiverKind::Slack(slack) = &receivers[0].kind else {
        panic!("{receivers:?}")
    };
    assert_eq!(
        slack.webhook_url.expose(),
        format!("https://hooks.slack.example/{APP_KEY_VALUE}")
    );
    assert!(!format!("{config:?}").contains(APP_KEY_VALUE));
    let error = Config::parse(
        "targets:\n\
         \x20 - {name: lite, provider: proxylite, app_key: k}\n\
         alerting:\n\
         \x20 receivers:\n\
         \x20   - name: hook\n\
         \x20     webhook: {url: \"${UNSET_VAR_FOR_TEST}\"}\n",
        Path::new("bad.yml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("environment variable UNSET_VAR_FOR_TEST is not set"),
        "{error}"
    );
}

#[test]
fn app_key_file_is_read_relative_to_the_config_file_and_never_printed() {
    init_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let file_secret = "file-secret-91b3c5";
    std::fs::create_dir(dir.path().join("secrets")).expect("mkdir");
    std::fs::write(
        dir.path().join("secrets").join("lite"),
        format!("{file_secret}\n"),
    )
    .expect("write secret");
    std::fs::write(dir.path().join("crlf"), format!("{file_secret}-2\r\n")).expect("write");
    std::fs::write(dir.path().join("secrets").join("key"), "second-key-5e1a\n").expect("write");
    std::fs::write(dir.path().join("secrets").join("user"), "file-user\n").expect("write");
    let config_path = dir.path().join("exporter.yml");
    std::fs::write(
        &config_path,
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key_file: secrets/lite\n\
         \x20 - name: lite-crlf\n\
         \x20   provider: proxylite\n\
         \x20   app_key_file: crlf\n\
         \x20 - name: other\n\
         \x20   provider: custom\n\
         \x20   base_url: https://api.other.example/v1\n\
         \x20   credential_file: secrets/lite\n\
         \x20   auth: {basic_username_file: secrets/user, second_query: key}\n\
         \x20   second_credential_file: secrets/key\n\
         \x20   unit: GB\n\
         \x20   pools: [{path: /me, pool: p, remaining: /r}]\n\
         \x20 - name: thordata\n\
         \x20   provider: thordata\n\
         \x20   credential_file: secrets/lite\n\
         \x20   second_credential_file: secrets/key\n\
         \x20 - name: geonode\n\
         \x20   provider: geonode\n\
         \x20   credential_file: crlf\n\
         \x20   auth: {basic_username_file: secrets/user}\n",
    )
    .expect("write config");

    let config = Config::load(&config_path).unwrap_or_else(|e| panic!("load: {e}"));
    assert_eq!(config.targets[2].credential.expose(), file_secret);
    // A custom target's and a preset's own secret files start from the same
    // directory: the second credential and the Basic user name.
    for (index, user) in [(2, Some("file-user")), (3, None), (4, Some("file-user"))] {
        let settings = providers::custom::settings::of(&config.targets[index].options);
        match &settings.auth {
            proxy_quota_exporter::http::CredentialPlacement::Basic { username } => {
                assert_eq!(Some(username.as_str()), user, "target {index}")
            }
            other => assert_eq!(user, None, "target {index}: {other:?}"),
        }
        if index != 4 {
            let (name, second) = settings.second.as_ref().expect("a second credential");
            assert_eq!((name.as_str(), second.expose()), ("key", "second-key-5e1a"));
        }
    }
    assert_eq!(config.targets[0].credential.expose(), file_secret);
    assert_eq!(
        config.targets[1].credential.expose(),
        format!("{file_secret}-2")
    );
    let debug = format!("{config:?}");
    assert!(
        !debug.contains(file_secret),
        "secret leaked through Debug: {debug}"
    );
    let display = format!("{} {}", config.targets[0], config.targets[1]);
    assert!(!display.contains(file_secret));

    // The same relative path from a config file elsewhere is not found, and the error
    // names the config file, the line and the key.
    let elsewhere = dir.path().join("secrets").join("exporter.yml");
    std::fs::write(
        &elsewhere,
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key_file: secrets/lite\n",
    )
    .expect("write config");
    let err = Config::load(&elsewhere).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:4: ", elsewhere.display())) && err.contains("app_key_file"),
        "{err}"
    );
    // So is a custom target's or a preset's own secret file: (the target's own
    // keys, the line and the key named).
    let own_files = [
        (
            "    provider: thordata\n    credential: c\n    second_credential_file: secrets/key\n",
            5,
            "second_credential_file",
        ),
        (
            "    provider: geonode\n    credential: c\n    auth: {basic_username_file: secrets/user}\n",
            5,
            "basic_username_file",
        ),
    ];
    for (keys, line, key) in own_files {
        std::fs::write(&elsewhere, format!("targets:\n  - name: t\n{keys}")).expect("write");
        let err = Config::load(&elsewhere).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}:{line}: ", elsewhere.display()))
                && err.contains(key)
                && err.contains("cannot read secret file"),
            "{keys}: {err}"
        );
    }
}

#[test]
fn empty_secret_file_is_refused() {
    init_env();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("empty"), "\n").expect("write");
    let path = dir.path().join("exporter.yml");
    std::fs::write(
        &path,
        "targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key_file: empty\n",
    )
    .expect("write config");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:4: ", path.display())) && err.contains("empty"),
        "{err}"
    );
}

#[test]
fn missing_config_file_names_the_file() {
    init_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nope.yml");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
}

/// The example of CONTRACT.md's "Configuration (YAML)" section, verbatim except for the
/// `app_key_file` path, which the test replaces with a temporary file.
const CONTRACT_EXAMPLE: &str = r#"interval: 60s          # poll period (default 60s)
timeout: 10s           # per HTTP request (default 10s)
max_staleness: 10m     # how long last good values outlive failures (default 10m)
timezone: "+08:00"     # zone of provider timestamps without one
targets:
  - name: lite-main                  # `target` label; unique; letters, digits, '_' and '-'
    provider: proxylite              # bestproxy | proxylite | ipweb
    base_url: https://api.proxylite.com   # proxylite and ipweb have defaults; bestproxy requires it
    app_key_file: /run/secrets/lite  # gateway family: app_key or app_key_file
    product_types: [9, 12]           # summaries to fetch (default [9])
    endpoints: [summary, accounts]   # optional subset (default: all of the provider's)
    interval: 5m                     # optional per-target override; timezone and unit_base likewise
  - name: reseller
    provider: ipweb                  # default base_url http://user.ipweb.cc/prod-api
    token: ${IPWEB_TOKEN}            # ipweb: token or token_file; ${VAR} expands from the environment
"#;

/// The contract's "Custom providers" example, verbatim under `targets:`.
const CONTRACT_CUSTOM_EXAMPLE: &str = r#"targets:
  - name: other
    provider: custom
    display_name: Other Proxy          # optional, for the front page
    base_url: https://api.other.example/v1
    credential_file: /run/secrets/other       # or credential: ${VAR}
    auth: {header: Authorization, prefix: "Bearer "}   # or {query: api_key}, or {basic_username: user}
    success: {pointer: /code, equals: 0}      # optional envelope check; HTTP status is always checked
    unit: GB                                  # B, KB, MB or GB for traffic fields (unit_base applies)
    pools:
      - path: /me                             # GET base_url + path
        pool: residential                     # the pool label
        remaining: /data/available_traffic    # RFC 6901 JSON pointers into the answer
        purchased: /data/total_traffic
        used: /data/used_traffic
    accounts:
      path: /subusers
      paging: {style: page, page_param: page, size_param: per_page, size: 100, items: /data, total_pages: /meta/last_page}
      # or {style: next, items: /results, next: /next}   (follow a next-page URL until null)
      account: /username                      # pointers relative to each item
      used: /traffic_used
      limit: /traffic_limit                   # 0 or a value listed in unlimited_values means no limit series
      unlimited_values: [0, -1]
      enabled: /is_active
    static_ips:
      path: /ips
      paging: {style: page, page_param: page, size_param: size, size: 100, items: /data/list, total_pages: /data/total_page}
      ip: /ip
      expires_at: /expire_at                  # Unix seconds, RFC 3339, or "YYYY-MM-DD HH:MM:SS" in the target's timezone
      country: /country_code
"#;

#[test]
fn contract_custom_example_is_valid() {
    init_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_path = dir.path().join("other");
    std::fs::write(&secret_path, "other-file-key\n").expect("write secret");
    let yaml =
        CONTRACT_CUSTOM_EXAMPLE.replace("/run/secrets/other", secret_path.to_str().expect("utf-8"));
    let config = Config::parse(&yaml, Path::new("custom.yml")).unwrap_or_else(|e| panic!("{e}"));
    let other = &config.targets[0];
    assert_eq!(other.provider.name, "custom");
    assert_eq!(other.display_name(), "Other Proxy");
    assert_eq!(other.credential.expose(), "other-file-key");
    assert_eq!(endpoint_names(other), ["summary", "accounts", "static_ips"]);
    assert_eq!(other.base_url.as_str(), "https://api.other.example/v1");
}

#[test]
fn contract_example_is_valid() {
    init_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_path = dir.path().join("lite");
    std::fs::write(&secret_path, "lite-file-key\n").expect("write secret");
    let mut yaml =
        CONTRACT_EXAMPLE.replace("/run/secrets/lite", secret_path.to_str().expect("utf-8"));

    // The ipweb provider is added by issue 3; until `providers::PROVIDERS` knows it,
    // the example is checked without its `reseller` target.
    let has_ipweb = providers::spec("ipweb").is_some();
    if !has_ipweb {
        let cut = yaml.find("  - name: reseller").expect("reseller target");
        yaml.truncate(cut);
    }
    let config_path = dir.path().join("exporter.yml");
    std::fs::write(&config_path, &yaml).expect("write config");
    let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e}\n{yaml}"));

    assert_eq!(config.max_staleness, Duration::from_secs(600));
    let lite = &config.targets[0];
    assert_eq!(lite.name, "lite-main");
    assert_eq!(lite.provider.name, "proxylite");
    assert_eq!(lite.base_url.as_str(), "https://api.proxylite.com/");
    assert_eq!(lite.credential.expose(), "lite-file-key");
    assert_eq!(gateway(lite).product_types, vec![9, 12]);
    assert_eq!(endpoint_names(lite), ["summary", "accounts"]);
    assert_eq!(lite.interval, Duration::from_secs(300));
    assert_eq!(lite.timeout, Duration::from_secs(10));
    assert_eq!(lite.timezone, zone("+08:00"));
    assert_eq!(lite.unit_base, 1024);

    if has_ipweb {
        assert_eq!(config.targets.len(), 2);
        let reseller = &config.targets[1];
        assert_eq!(reseller.name, "reseller");
        assert_eq!(reseller.provider.name, "ipweb");
        assert_eq!(reseller.base_url.as_str(), "http://user.ipweb.cc/prod-api");
        assert_eq!(reseller.credential.expose(), IPWEB_TOKEN_VALUE);
        assert_eq!(reseller.interval, Duration::from_secs(60));
    } else {
        assert_eq!(config.targets.len(), 1);
    }
    let debug = format!("{config:?}");
    assert!(!debug.contains("lite-file-key") && !debug.contains(IPWEB_TOKEN_VALUE));
}

/// Cases added with serde-saphyr (issue 12): a repeated top-level key and the keys of
/// flow-style targets spread over lines are located at their own line; empty and
/// odd documents keep their errors.
const LOCATION_CASES: &[(&str, &str, usize, &str)] = &[
    (
        "repeated top-level key (line of the repeat)",
        "interval: 1m\n\
         interval: 2m\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        2,
        "duplicate field `interval`",
    ),
    (
        "repeated key in the second target",
        "targets:\n\
         \x20 - name: a\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20 - name: b\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   name: c\n",
        8,
        "targets[1]: duplicate field `name`",
    ),
    (
        "flow-style target over two lines: the line of the key",
        "targets:\n\
         \x20 - {name: a, provider: proxylite,\n\
         \x20    app_key: k, unit_base: 1023}\n",
        3,
        "targets[0] (a): unit_base: must be 1024 or 1000, not 1023",
    ),
    (
        "flow-style list over lines: the line of the second name",
        "targets: [\n\
         \x20 {name: a, provider: proxylite, app_key: k},\n\
         \x20 {name: a, provider: proxylite, app_key: k}\n\
         ]\n",
        3,
        "targets[1] (a): name: duplicate target name",
    ),
    (
        "unset variable in a flow-style target",
        "targets: [{name: a, provider: proxylite,\n\
         \x20 app_key: \"${UNSET_VAR_FOR_TEST}\"}]\n",
        2,
        "targets[0].app_key: environment variable UNSET_VAR_FOR_TEST is not set",
    ),
    (
        "the repeated name of a target written after its other keys",
        "targets:\n\
         \x20 - provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   name: a\n\
         \x20 - provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   name: a\n",
        7,
        "targets[1] (a): name: duplicate target name",
    ),
    (
        "empty file",
        "",
        1,
        "targets: at least one target is required",
    ),
    (
        "empty targets key",
        "targets:\n",
        1,
        "targets: at least one target is required",
    ),
    (
        "a list instead of a mapping",
        "- name: lite\n",
        1,
        "invalid type: sequence, expected struct RawConfig",
    ),
    (
        "a merge key is an unknown key",
        "targets:\n\
         \x20 - name: lite\n\
         \x20   <<: {provider: proxylite}\n\
         \x20   app_key: k\n",
        3,
        "targets[0]: unknown field `<<`",
    ),
    (
        "two documents",
        "targets: []\n\
         ---\n\
         targets: []\n",
        3,
        "more than one document",
    ),
    (
        "negative size",
        "body_size_limit: -5\n\
         targets:\n\
         \x20 - name: lite\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n",
        1,
        "body_size_limit: invalid type: integer `-5`",
    ),
];

#[test]
fn keys_are_located_in_flow_style_and_at_repeats() {
    init_env();
    let failures = failing_cases(LOCATION_CASES);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        LOCATION_CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn plain_values_that_look_like_numbers_keep_their_spelling() {
    init_env();
    for (written, want) in [
        ("00012345", "00012345"),
        ("0x1F", "0x1F"),
        ("1_000", "1_000"),
        ("1e3", "1e3"),
        ("+12", "+12"),
        ("yes", "yes"),
        ("'007'", "007"),
        ("null-ish", "null-ish"),
    ] {
        let config = parse_ok(&format!(
            "targets:\n  - name: 0123\n    provider: proxylite\n    app_key: {written}\n"
        ));
        assert_eq!(config.targets[0].credential.expose(), want, "{written}");
        assert_eq!(config.targets[0].name, "0123");
    }
}

#[test]
fn anchors_and_aliases_are_read() {
    init_env();
    let config = parse_ok(
        "targets:\n\
         \x20 - name: a\n\
         \x20   provider: &p proxylite\n\
         \x20   app_key: &k shared\n\
         \x20 - name: b\n\
         \x20   provider: *p\n\
         \x20   app_key: *k\n",
    );
    assert_eq!(config.targets[1].provider.name, "proxylite");
    assert_eq!(config.targets[1].credential.expose(), "shared");
}

#[test]
fn a_changed_setting_makes_a_target_unequal() {
    init_env();
    let base = "targets:\n  - name: a\n    provider: proxylite\n    app_key: k\n";
    let target = |extra: &str| parse_ok(&format!("{base}{extra}")).targets.remove(0);
    assert_eq!(target(""), target(""));
    for extra in [
        "    interval: 2m\n",
        "    timeout: 3s\n",
        "    unit_base: 1000\n",
        "    product_types: [12]\n",
        "    endpoints: [usage]\n",
        "    timezone: UTC\n",
        "    static_ip_expiry_field: end\n",
        "    body_size_limit: 1MiB\n",
        "    sample_limit: 10\n",
        "    max_requests_per_second: 2\n",
        "    base_url: https://other.example\n",
    ] {
        assert_ne!(target(""), target(extra), "{extra}");
    }
    let other_key = parse_ok(&base.replace("app_key: k", "app_key: k2"))
        .targets
        .remove(0);
    assert_ne!(target(""), other_key);
}

#[test]
fn max_requests_per_second_is_inherited_and_overridden() {
    init_env();
    let config = parse_ok(
        "max_requests_per_second: 2\n\
         targets:\n\
         \x20 - name: inherits\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20 - name: slower\n\
         \x20   provider: proxylite\n\
         \x20   app_key: k\n\
         \x20   max_requests_per_second: 0.5\n",
    );
    let rates: Vec<_> = config
        .targets
        .iter()
        .map(|t| t.max_requests_per_second)
        .collect();
    assert_eq!(rates, [Some(2.0), Some(0.5)]);
    let unpaced = parse_ok("targets:\n  - name: a\n    provider: proxylite\n    app_key: k\n");
    assert_eq!(unpaced.targets[0].max_requests_per_second, None);
}

/// The gateway family's own settings of a target.
fn gateway(target: &Target) -> &providers::gateway::GatewayOptions {
    target
        .options
        .get()
        .expect("a gateway-family target has gateway options")
}
