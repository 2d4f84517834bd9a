//! A real Prometheus (Debian's `prometheus` package) loads the alert rules and
//! scrapes the exporter in demo mode (with a store): the rules load and evaluate,
//! every dashboard query evaluates without error and nearly all return data (those
//! of the recharges, NNI, allow-list, stock and orders panels all do, and every one of the
//! exporter's own dashboard but those the demo cannot fill, each with its reason),
//! the demo's expiring static IPs raise `ProxyStaticIPExpiringSoon`, and none of
//! the rules watching the healthy exporter fires. Provider presets too: two
//! preset targets against a simulator of their documented answers fill the
//! dashboards' panels and raise `ProxyTrafficLow` and `ProxyAccountNearLimit`.

use crate::common;
use std::path::{Path, PathBuf};

use std::process::Command;
use std::time::{Duration, Instant};

use common::{demo_command, free_port, Guard};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn api(prometheus: u16, path: &str, query: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{prometheus}{path}"))
        .query(query)
        .send()
        .await
        .expect("prometheus answers")
        .text()
        .await
        .ok()
        .and_then(|body| serde_json::from_str(&body).ok())
        .expect("prometheus answers JSON")
}

/// Every `expr` of a dashboard's panels, with the panel title.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, title: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                let title = map.get("title").and_then(Value::as_str).unwrap_or(title);
                if let Some(Value::String(expr)) = map.get("expr") {
                    out.push((title.to_owned(), expr.clone()));
                }
                for v in map.values() {
                    walk(v, title, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, title, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], "", &mut out);
    out
}

/// The dashboard's variables that hold a value rather than a label filter
/// (textbox and constant), with their default value.
fn value_variables(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| matches!(v["type"].as_str(), Some("textbox" | "constant")))
        .map(|v| {
            let name = v["name"].as_str().unwrap().to_owned();
            let value = v["query"].as_str().unwrap_or_default().to_owned();
            assert!(!value.is_empty(), "variable {name} has no default value");
            (name, value)
        })
        .collect()
}

/// Replaces Grafana's variables the way a dashboard with "All" selected sends
/// them, `values` (textbox and constant variables) by their default.
fn substitute(expr: &str, values: &[(String, String)]) -> String {
    let mut out = expr
        .replace("${__rate_interval}", "1m")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    for (name, value) in values {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    // Every other variable is a label filter with All selected.
    while let Some(start) = out.find('$') {
        let rest = &out[start + 1..];
        let len = match rest.strip_prefix('{') {
            Some(inner) => inner.find('}').map_or(rest.len(), |end| end + 2),
            None => rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len()),
        };
        out.replace_range(start..start + 1 + len, ".*");
    }
    out
}

/// The exporter's own dashboard: every query returns data from the demo but
/// these, which the demo cannot fill, each with the reason.
const EXPORTER_DASHBOARD: &str = "proxy-quota-exporter.json";
const EMPTY_IN_THE_DEMO: &[(&str, &str)] = &[(
    "Poll errors by endpoint and reason",
    "the demo's simulated providers never fail a poll, and the panel shows only the \
     endpoints and reasons that have errors (`> 0`); \"Failed polls by reason\" shows \
     the zeros",
)];

/// The rules that watch the exporter itself: the demo's exporter (with a store,
/// a log receiver that takes every notification, a configuration loaded once)
/// fires none of them.
const WATCHING_THE_EXPORTER: [&str; 3] = [
    "ProxyExporterReloadFailed",
    "ProxyExporterNotificationsFailing",
    "ProxyExporterStoreDown",
];

#[tokio::test]
async fn prometheus_loads_the_rules_and_evaluates_every_dashboard_query() {
    let dir = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let prometheus_port = free_port();
    // With a store, so that the store's panels have its series.
    let _exporter = Guard(
        demo_command(exporter_port)
            .arg("--storage.path")
            .arg(dir.path().join("store"))
            .spawn()
            .unwrap(),
    );
    let rules = repo().join("alerts/proxy-quota.rules.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: proxy-quota-exporter\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let _prometheus = start_prometheus(dir.path(), &config, prometheus_port);

    // Wait for a few scrapes and rule evaluations: the demo target is up, the
    // recording rules have data (deriv needs two samples), the agent has
    // evaluated its alerts and its counters have been scraped twice (a rate needs
    // two samples too).
    let ready = "count(proxy:traffic_days_left) and count(proxy_exporter_alerts) \
                 and count(rate(proxy_exporter_notifications_total[1m]))";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{prometheus_port}/api/v1/query"))
            .query(&[("query", ready)])
            .send()
            .await
        {
            if let Some(v) = r
                .text()
                .await
                .ok()
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            {
                if v["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
                {
                    break;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not evaluate the rules within 60 s; log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The rules loaded and evaluate without error.
    let rules = api(prometheus_port, "/api/v1/rules", &[]).await;
    let groups = rules["data"]["groups"].as_array().unwrap();
    let mut names: Vec<_> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["proxy-quota.alerts", "proxy-quota.recording"]);
    for group in groups {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(
                rule["health"], "ok",
                "rule {} unhealthy: {}",
                rule["name"], rule["lastError"]
            );
        }
    }

    // Every dashboard query evaluates; nearly all return data from the demo.
    let mut total = 0;
    let mut empty = Vec::new();
    let mut queried = Vec::new();
    let dashboards: Vec<_> = std::fs::read_dir(repo().join("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(
        dashboards.len() >= 5,
        "expected the five dashboards, found {dashboards:?}"
    );
    assert!(
        dashboards
            .iter()
            .any(|p| file_name(p) == EXPORTER_DASHBOARD),
        "no dashboards/{EXPORTER_DASHBOARD}"
    );
    let mut exporter_empty = Vec::new();
    for path in &dashboards {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let queries = dashboard_queries(&dashboard);
        assert!(!queries.is_empty(), "{} has no queries", path.display());
        let values = value_variables(&dashboard);
        for (panel, expr) in queries {
            let query = substitute(&expr, &values);
            let answer = api(prometheus_port, "/api/v1/query", &[("query", &query)]).await;
            assert_eq!(
                answer["status"],
                "success",
                "{}: panel {panel:?}: {query}\n{answer}",
                file_name(path)
            );
            total += 1;
            let no_data = answer["data"]["result"]
                .as_array()
                .is_none_or(|r| r.is_empty());
            if no_data {
                empty.push(format!("{}: {panel}: {query}", file_name(path)));
                if file_name(path) == EXPORTER_DASHBOARD
                    && !EMPTY_IN_THE_DEMO.iter().any(|(p, _)| *p == panel)
                {
                    exporter_empty.push(format!("{panel}: {query}"));
                }
            }
            queried.push((query, no_data));
        }
    }
    assert!(
        exporter_empty.is_empty(),
        "{EXPORTER_DASHBOARD}: queries without data from the demo (list a panel the demo \
         cannot fill in EMPTY_IN_THE_DEMO, with the reason):\n{}",
        exporter_empty.join("\n")
    );
    // The exporter's own health is on a dashboard: every `proxy_exporter_*`
    // family of the metric catalogue, and the scrape itself.
    for family in proxy_quota_exporter::metrics::CATALOGUE
        .iter()
        .map(|f| f.name)
        .filter(|n| n.starts_with("proxy_exporter_"))
        .chain(["scrape_duration_seconds", "process_start_time_seconds"])
    {
        assert!(
            queried.iter().any(|(q, _)| q
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == family)),
            "no dashboard panel shows {family}"
        );
    }
    assert!(
        empty.len() * 10 <= total,
        "{} of {total} dashboard queries returned no data:\n{}",
        empty.len(),
        empty.join("\n")
    );
    // The families of the read endpoints of issue 15 each have a panel, and the
    // demo (which lists the optional `stock`) fills every query of them.
    for family in [
        "proxy_nni_usage_today_bytes",
        "proxy_recharge_last_timestamp_seconds",
        "proxy_recharge_last_30d_bytes",
        "proxy_allowlist_ips",
        "proxy_static_ip_stock",
        "proxy_host_pool_ips",
        // Issue 25: the orders of the overview dashboard (the demo's simulated
        // accounts have paid orders and one waiting for payment).
        "proxy_orders",
        "proxy_order_paid_30d",
        "proxy_order_last_paid_timestamp_seconds",
    ] {
        let queries: Vec<_> = queried.iter().filter(|(q, _)| q.contains(family)).collect();
        assert!(!queries.is_empty(), "no dashboard panel shows {family}");
        for (query, no_data) in queries {
            assert!(!no_data, "{family}: no data for {query}");
        }
    }

    // The demo's custom target (`provider: custom`) on the dashboards: with
    // `custom` selected, the panels of the figures it maps show it.
    for family in [
        "proxy_traffic_remaining_bytes",
        "proxy_account_used_bytes",
        "proxy_static_ip_expiry_timestamp_seconds",
    ] {
        let mut shown = 0;
        for (query, _) in queried.iter().filter(|(q, _)| q.contains(family)) {
            let custom = query.replace(r#"provider=~".*""#, r#"provider=~"custom""#);
            let answer = api(prometheus_port, "/api/v1/query", &[("query", &custom)]).await;
            if answer["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                shown += 1;
            }
        }
        assert!(
            shown > 0,
            "no dashboard panel shows {family} of the custom target"
        );
    }

    // The demo's static IPs expiring within 7 days raise the alert (pending: the
    // rule waits 10 minutes before firing).
    let alerts = api(prometheus_port, "/api/v1/alerts", &[]).await;
    // The healthy exporter raises none of the rules watching it (not even
    // pending: their conditions do not hold).
    let watching: Vec<_> = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            WATCHING_THE_EXPORTER
                .iter()
                .any(|name| a["labels"]["alertname"] == *name)
        })
        .collect();
    assert!(
        watching.is_empty(),
        "the demo's exporter is healthy: {watching:?}"
    );
    let expiring: Vec<_> = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "ProxyStaticIPExpiringSoon")
        .collect();
    assert!(
        expiring
            .iter()
            .any(|a| a["state"] == "pending" || a["state"] == "firing"),
        "ProxyStaticIPExpiringSoon is neither pending nor firing: {alerts}"
    );
    assert!(
        expiring
            .iter()
            .any(|a| a["labels"]["severity"] == "critical"),
        "the demo has IPs expiring within 2 days"
    );
    assert!(
        expiring.iter().any(|a| a["labels"]["provider"] == "custom"),
        "the demo's custom target has IPs expiring within 7 days: {alerts}"
    );
}

/// Two preset targets (`provider: iproyal` and `provider: goproxy`) against a
/// simulator of their documented answers, scraped by a real Prometheus with the
/// bundled rules: the dashboards' panels with the preset selected show its
/// figures, and the alerts read its series. IPRoyal's verbatim sub-user page
/// has team-c at its limit (used 1 GB, available 0), which raises
/// `ProxyAccountNearLimit`; GoProxy's documented plan with 0.05 GB of its 1 GB
/// left (the documented answer says 0.9) raises `ProxyTrafficLow`. Both rules
/// wait 5–10 minutes before firing: pending is enough here.
#[tokio::test]
async fn prometheus_reads_a_preset_target_with_the_bundled_rules_and_dashboards() {
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    const CREDENTIAL: &str = "preset-e2e-cred-0b4f";
    let json = |body: String| ResponseTemplate::new(200).set_body_raw(body, "application/json");

    let server = MockServer::start().await;
    let bearer = format!("Bearer {CREDENTIAL}");
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(json(common::fixture("custom/iproyal/me.json")))
        .mount(&server)
        .await;
    for page in ["1", "2"] {
        Mock::given(method("GET"))
            .and(path("/v1/residential-subusers"))
            .and(query_param("page", page))
            .and(header("authorization", bearer.as_str()))
            .respond_with(json(common::fixture(&format!(
                "custom/iproyal/subusers-page{page}.json"
            ))))
            .mount(&server)
            .await;
    }
    let mut plan = common::fixture_json("custom/goproxy/account-plan.json");
    plan["plan"][0]["availableTraffic"] = "0.05".into();
    Mock::given(method("GET"))
        .and(path("/go-api/v1/account/plan"))
        .and(header("apiKey", CREDENTIAL))
        .respond_with(json(plan.to_string()))
        .mount(&server)
        .await;
    let exporter = common::Exporter::start(&format!(
        "interval: 2s
targets:
  - name: iproyal
    provider: iproyal
    base_url: {0}/v1
    credential: {CREDENTIAL}
  - name: goproxy
    provider: goproxy
    base_url: {0}/go-api
    credential: {CREDENTIAL}
",
        server.uri()
    ))
    .await;
    exporter.wait_ready().await;

    let dir = tempfile::tempdir().unwrap();
    let prometheus_port = free_port();
    let rules = repo().join("alerts/proxy-quota.rules.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: proxy-quota-exporter\n    static_configs:\n      - targets: ['{}']\n",
            rules.display(),
            exporter.addr
        ),
    )
    .unwrap();
    let _prometheus = start_prometheus(dir.path(), &config, prometheus_port);

    // Both alerts raised (pending or firing) once the recording rules have the
    // presets' series; at most 60 s.
    let alerts_of = |alerts: &Value, name: &str, provider: &str| -> Vec<Value> {
        alerts["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == name && a["labels"]["provider"] == provider)
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let alerts = loop {
        let alerts =
            match reqwest::get(format!("http://127.0.0.1:{prometheus_port}/api/v1/alerts")).await {
                Ok(r) => serde_json::from_str::<Value>(&r.text().await.unwrap_or_default())
                    .unwrap_or_default(),
                Err(_) => Value::Null,
            };
        if !alerts_of(&alerts, "ProxyTrafficLow", "goproxy").is_empty()
            && !alerts_of(&alerts, "ProxyAccountNearLimit", "iproyal").is_empty()
        {
            break alerts;
        }
        assert!(
            Instant::now() < deadline,
            "the presets' alerts were not raised within 60 s: {alerts}; log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let low = alerts_of(&alerts, "ProxyTrafficLow", "goproxy");
    assert!(
        low.iter().all(|a| a["labels"]["severity"] == "warning"
            && a["labels"]["target"] == "goproxy"
            && a["labels"]["pool"] == "HW20241201153000000"
            && (a["state"] == "pending" || a["state"] == "firing")),
        "5 % left is the warning only: {low:?}"
    );
    let near = alerts_of(&alerts, "ProxyAccountNearLimit", "iproyal");
    assert!(
        near.iter().all(|a| a["labels"]["account"] == "team-c"),
        "only team-c is at its limit: {near:?}"
    );
    assert!(
        near.iter().any(|a| a["labels"]["severity"] == "critical"),
        "team-c has used 100 % of its limit: {near:?}"
    );
    // The presets are up: no ProxyTargetDown, and no alert for IPRoyal's pool,
    // which has no purchased figure to compare with.
    assert!(alerts_of(&alerts, "ProxyTargetDown", "iproyal").is_empty());
    assert!(alerts_of(&alerts, "ProxyTargetDown", "goproxy").is_empty());
    assert!(alerts_of(&alerts, "ProxyTrafficLow", "iproyal").is_empty());

    // The dashboards with one preset selected: every query evaluates, and the
    // panels of the figures each preset maps show it.
    let mut shown: Vec<(&str, &str)> = Vec::new();
    let families = [
        ("goproxy", "proxy_traffic_remaining_bytes"),
        ("goproxy", "proxy_traffic_purchased_bytes"),
        ("goproxy", "proxy_traffic_used_bytes"),
        ("iproyal", "proxy_traffic_remaining_bytes"),
        ("iproyal", "proxy_account_used_bytes"),
        ("iproyal", "proxy_account_limit_bytes"),
    ];
    for entry in std::fs::read_dir(repo().join("dashboards")).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let values = value_variables(&dashboard);
        for (panel, expr) in dashboard_queries(&dashboard) {
            let query = substitute(&expr, &values);
            for preset in ["iproyal", "goproxy"] {
                let selected =
                    query.replace(r#"provider=~".*""#, &format!(r#"provider=~"{preset}""#));
                let answer = api(prometheus_port, "/api/v1/query", &[("query", &selected)]).await;
                assert_eq!(
                    answer["status"],
                    "success",
                    "{}: panel {panel:?}: {selected}\n{answer}",
                    file_name(&file)
                );
                let data = answer["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty());
                for (p, family) in families {
                    if p == preset && data && selected.contains(family) {
                        shown.push((p, family));
                    }
                }
            }
        }
    }
    for (preset, family) in families {
        assert!(
            shown.contains(&(preset, family)),
            "no dashboard panel shows {family} of the {preset} preset"
        );
    }
    drop(_prometheus);
    exporter.stop().await;
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn grafana_variables_are_substituted() {
    assert_eq!(
        substitute(
            r#"rate(x{provider=~"$provider",target=~"${target}"}[$__rate_interval])"#,
            &[]
        ),
        r#"rate(x{provider=~".*",target=~".*"}[1m])"#
    );
    let budget = [("budget".to_owned(), "3600".to_owned())];
    assert_eq!(
        substitute(r#"vector($budget) or x{target=~"$target"}"#, &budget),
        r#"vector(3600) or x{target=~".*"}"#
    );
}

/// The scrape configuration of docs/scale-out.md, the block after its marker.
fn documented_probe_config() -> String {
    let doc = std::fs::read_to_string(repo().join("docs/scale-out.md")).unwrap();
    let marker = "<!-- The test tests/it/prometheus.rs runs this block";
    let after = &doc[doc.find(marker).expect("the marker in docs/scale-out.md")..];
    let start = after
        .find("```yaml\n")
        .expect("a yaml block after the marker")
        + 8;
    let end = after[start..].find("```").unwrap();
    after[start..start + end].to_owned()
}

#[tokio::test]
async fn prometheus_scrapes_each_target_through_probe_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let prometheus_port = free_port();
    let _exporter = Guard(demo_command(exporter_port).spawn().unwrap());
    let documented = documented_probe_config();
    let scrape = documented
        .replace(
            "proxy-quota-exporter:9877",
            &format!("127.0.0.1:{exporter_port}"),
        )
        .replace(
            "[lite-main, best-resi, reseller]",
            "[demo-bestproxy, demo-proxylite, demo-ipweb, no-such-target]",
        );
    assert_ne!(scrape, documented, "the documented block changed shape");
    let rules = repo().join("alerts/proxy-quota.rules.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n{scrape}",
            rules.display()
        ),
    )
    .unwrap();
    let _prometheus = start_prometheus(dir.path(), &config, prometheus_port);

    // Each target is its own scrape target: `up` per instance, the unknown one 0.
    // Empty until Prometheus answers.
    let query = |q: &'static str| async move {
        let answer = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{prometheus_port}/api/v1/query"))
            .query(&[("query", q)])
            .send()
            .await;
        let body = match answer {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let ups = loop {
        let ups = query(r#"up{job="proxy-quota-probe"}"#).await;
        let probed = query(r#"proxy_up{job="proxy-quota-probe"}"#).await;
        if ups.len() == 4 && probed.len() == 3 {
            break ups;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape the four probes within 60 s: up {ups:?}, proxy_up {probed:?}; log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut up: Vec<(String, String)> = ups
        .iter()
        .map(|s| {
            (
                s["metric"]["instance"].as_str().unwrap().to_owned(),
                s["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    up.sort();
    assert_eq!(
        up,
        [
            ("demo-bestproxy".to_owned(), "1".to_owned()),
            ("demo-ipweb".to_owned(), "1".to_owned()),
            ("demo-proxylite".to_owned(), "1".to_owned()),
            ("no-such-target".to_owned(), "0".to_owned()),
        ]
    );
    // A probed target's series carry its name as `instance` and as `target`.
    for series in query(r#"proxy_up{job="proxy-quota-probe"}"#).await {
        assert_eq!(series["metric"]["instance"], series["metric"]["target"]);
    }
    // The exporter's own job keeps its own series and drops the targets'. Its
    // first scrape may come after the probes' on a busy machine: wait for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while query(r#"up{job="proxy-quota-exporter"} == 1"#).await.len() != 1 {
        assert!(
            Instant::now() < deadline,
            "the exporter's own job was not scraped within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        query(r#"proxy_exporter_shard_info{job="proxy-quota-exporter"}"#)
            .await
            .len(),
        1
    );
    assert!(query(r#"proxy_up{job="proxy-quota-exporter"}"#)
        .await
        .is_empty());
    // The rules evaluate on the probed series.
    let deadline = Instant::now() + Duration::from_secs(60);
    while query("proxy:traffic_remaining:ratio").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no recording rule result within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rules = api(prometheus_port, "/api/v1/rules", &[]).await;
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(
                rule["health"], "ok",
                "{}: {}",
                rule["name"], rule["lastError"]
            );
        }
    }
}

/// Debian's Prometheus on `port` with the configuration file `config`, its
/// data and log in `dir`; stopped when the guard is dropped.
fn start_prometheus(dir: &Path, config: &Path, port: u16) -> Guard {
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    Guard(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect(
                "prometheus is installed (the README's test command installs Debian's package)",
            ),
    )
}
