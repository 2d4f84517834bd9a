//! The front page in a real browser: Debian's Chromium, headless, loads the page
//! of a running exporter (the simulator upstream, a store with history, the
//! agent on). The figures shown equal `/metrics` and `/api/v1/status`, the
//! overview orders the pools as the status API's figures say, the charts draw
//! the points `/api/v1/history` serves, the page's own script shows times in the
//! viewer's zone and a chart's value under the keyboard (so the strict
//! Content-Security-Policy lets it run, while it refuses an inline script), a
//! phone's 400 px show the page without scrolling sideways, and the browser asks
//! no other host for anything.

mod cdp;

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::simulator::{Simulator, SimulatorConfig};
use proxy_quota_exporter::store::StoreOptions;
use proxy_quota_exporter::units::format_bytes;
use proxy_quota_exporter::Options;
use serde_json::Value;

fn with_store(dir: &Path) -> Options {
    Options {
        storage: Some(StoreOptions {
            path: dir.to_owned(),
            retention: Duration::from_secs(86_400),
        }),
        ..Options::default()
    }
}

/// Runs headless Chromium on `url` with `args`, in the time zone `zone`.
fn chromium(url: &str, zone: &str, args: &[String]) -> std::process::Output {
    let output = Command::new("chromium")
        .env("TZ", zone)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--window-size=1200,3000",
            "--virtual-time-budget=5000",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium is installed (the README's test command installs Debian's package)");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_page_shows_what_metrics_says_in_a_real_browser() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let alerting = "alerting:\n  evaluation_interval: 200ms\n  rules:\n    ProxyStaticIPExpiringSoon: {for: 0s}\n    ProxyAccountNearLimit: {for: 0s}\n  receivers:\n    - {name: console, log: {}}\n";
    let store = tempfile::tempdir().unwrap();

    // A first run polls every second and leaves a few polls of history.
    let fast = format!(
        "{}{alerting}",
        simulator.demo_config_yaml(Duration::from_secs(1))
    );
    let first = Exporter::start_with(&fast, with_store(store.path())).await;
    first.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.stop().await;

    // The exporter under test polls once, so every figure holds still.
    let slow = format!(
        "{}{alerting}",
        simulator.demo_config_yaml(Duration::from_secs(3600))
    );
    let exporter = Exporter::start_with(&slow, with_store(store.path())).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (metrics, status) = loop {
        let metrics = exporter.metrics().await;
        let status: Value =
            serde_json::from_str(&exporter.get("/api/v1/status").await.text().await.unwrap())
                .unwrap();
        let firing = value(
            &metrics,
            "proxy_exporter_alerts",
            &[
                ("alertname", "ProxyAccountNearLimit"),
                ("severity", "critical"),
                ("state", "firing"),
            ],
        );
        if firing.is_some() && status.to_string().contains("ProxyAccountNearLimit") {
            break (metrics, status);
        }
        assert!(Instant::now() < deadline, "no alert within 10 s:\n{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The status API says what /metrics says.
    let targets = status["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 4, "{status}");
    let mut shown = Vec::new();
    for t in targets {
        let name = t["name"].as_str().unwrap();
        assert_eq!(
            value(&metrics, "proxy_up", &[("target", name)]),
            Some(if t["up"] == true { 1.0 } else { 0.0 })
        );
        for p in t["pools"].as_array().unwrap() {
            let labels = [("target", name), ("pool", p["pool"].as_str().unwrap())];
            let remaining = value(&metrics, "proxy_traffic_remaining_bytes", &labels).unwrap();
            assert_eq!(p["remaining_bytes"].as_f64(), Some(remaining), "{p}");
            assert_eq!(
                p["purchased_bytes"].as_f64(),
                value(&metrics, "proxy_traffic_purchased_bytes", &labels),
                "{p}"
            );
            shown.push(format!("{} left</strong>", format_bytes(remaining)));
        }
        for a in t["accounts_near_limit"].as_array().unwrap() {
            let labels = [
                ("target", name),
                ("account", a["account"].as_str().unwrap()),
            ];
            assert_eq!(
                a["used_bytes"].as_f64(),
                value(&metrics, "proxy_account_used_bytes", &labels),
                "{a}"
            );
        }
        for a in t["alerts"].as_array().unwrap() {
            assert_eq!(a["labels"]["target"], name, "{a}");
        }
    }
    let firing_in_status: usize = targets
        .iter()
        .flat_map(|t| t["alerts"].as_array().unwrap())
        .filter(|a| a["state"] == "firing")
        .count();
    let firing_in_metrics: f64 = samples(&metrics, "proxy_exporter_alerts")
        .iter()
        .filter(|line| line.contains("state=\"firing\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(firing_in_status as f64, firing_in_metrics);
    assert!(firing_in_status > 0);

    // The browser shows the same figures, with charts and local times.
    let url = format!("http://{}/", exporter.addr);
    let dir = tempfile::tempdir().unwrap();
    let net_log = dir.path().join("net-log.json");
    let page = chromium(
        &url,
        "Asia/Kathmandu",
        &[
            format!("--log-net-log={}", net_log.display()),
            "--dump-dom".to_owned(),
        ],
    );
    let dom = String::from_utf8(page.stdout).unwrap();
    for figure in &shown {
        assert!(dom.contains(figure), "{figure} not on the page");
    }
    assert!(
        dom.contains("ProxyAccountNearLimit"),
        "no alert on the page"
    );
    let charts = dom.matches("class=\"trend\"").count();
    assert!(
        charts >= 2 * shown.len(),
        "{charts} charts for {} pools",
        shown.len()
    );
    // The script ran: a time's text is no longer the UTC of its tooltip.
    let localized = dom
        .split("<time ")
        .skip(1)
        .filter(|t| {
            let utc = t.split("title=\"").nth(1).and_then(|s| s.split('"').next());
            let text = t.split('>').nth(1).and_then(|s| s.split('<').next());
            matches!((utc, text), (Some(u), Some(x)) if u.ends_with("UTC") && !x.contains("UTC"))
        })
        .count();
    assert!(localized > 0, "times were not shown in the viewer's zone");

    overview_follows_the_status(&dom, &status);
    charts_draw_the_history(&exporter, &dom, &status).await;
    in_a_phone(&url, &dom).await;

    // Nothing was asked of another host: every request the page made (the
    // browser's own background traffic has no page as its initiator) went to
    // the exporter.
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&net_log).unwrap()).unwrap();
    let origin = format!("http://{}", exporter.addr);
    let by_page: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["params"]["initiator"] == origin.as_str())
        .filter_map(|e| e["params"]["url"].as_str())
        .collect();
    for asset in ["/static/page.css", "/static/page.js"] {
        assert!(
            by_page.contains(&format!("{origin}{asset}").as_str()),
            "{asset} not loaded: {by_page:?}"
        );
    }
    let foreign: Vec<&&str> = by_page
        .iter()
        .filter(|u| !u.starts_with(&format!("{origin}/")))
        .collect();
    assert!(
        foreign.is_empty(),
        "the page asked other hosts: {foreign:?}"
    );

    // The charts are drawn: the screenshot holds pixels of the charts' line colour.
    let shot = dir.path().join("page.png");
    chromium(&url, "UTC", &[format!("--screenshot={}", shot.display())]);
    let line_pixels = count_pixels(&shot, [0x09, 0x69, 0xda]);
    assert!(
        line_pixels > 200,
        "only {line_pixels} pixels of the charts' line colour"
    );
    exporter.stop().await;
}

/// The overview's pool rows as (target, pool), top to bottom.
fn overview_rows(dom: &str) -> Vec<(String, String)> {
    let start = dom
        .find("<table class=\"overview pools\">")
        .expect("the overview's pool table");
    let table = &dom[start..start + dom[start..].find("</table>").unwrap()];
    table
        .split("<tr>")
        .filter(|row| row.contains("href=\"#target-"))
        .map(|row| {
            let between = |open: &str, close: &str| {
                let from = row.find(open).unwrap() + open.len();
                row[from..from + row[from..].find(close).unwrap()].to_owned()
            };
            let link = between("href=\"#target-", "</a>");
            let pool = link.split_once("\">").unwrap().1.to_owned();
            (between("<small>", "</small>"), pool)
        })
        .collect()
}

/// The page opens with every pool of every target, the one that runs out
/// first on top: by days left (unknown last), then by share left (unknown
/// last), as `/api/v1/status` gives them.
fn overview_follows_the_status(dom: &str, status: &Value) {
    let overview = dom.find("id=\"overview\"").expect("an overview");
    let first_target = dom.find("id=\"target-0\"").expect("a target section");
    assert!(overview < first_target, "the overview is not first");
    let mut pools: Vec<(Option<f64>, Option<f64>, String, String)> = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            t["pools"].as_array().unwrap().iter().map(move |p| {
                (
                    p["days_left"].as_f64(),
                    p["remaining_ratio"].as_f64(),
                    t["name"].as_str().unwrap().to_owned(),
                    p["pool"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    let key = |v: Option<f64>| v.unwrap_or(f64::INFINITY);
    pools.sort_by(|a, b| {
        key(a.0)
            .total_cmp(&key(b.0))
            .then(key(a.1).total_cmp(&key(b.1)))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let expected: Vec<(String, String)> = pools.into_iter().map(|p| (p.2, p.3)).collect();
    assert!(expected.len() >= 4, "{expected:?}");
    assert_eq!(overview_rows(dom), expected);
}

/// The points of each chart of a pool section, as `data-points` holds them.
fn drawn_points(section: &str) -> Vec<Vec<[f64; 2]>> {
    section
        .split("data-points=\"")
        .skip(1)
        .map(|rest| {
            rest[..rest.find('"').unwrap()]
                .split(';')
                .map(|pair| {
                    let (at, value) = pair.split_once(' ').unwrap();
                    [at.parse().unwrap(), value.parse().unwrap()]
                })
                .collect()
        })
        .collect()
}

/// Each pool's two charts (24 h, 7 days) draw what `/api/v1/history` serves for
/// the same range; an unknown target or pool is 404, a bad range 400.
async fn charts_draw_the_history(exporter: &Exporter, dom: &str, status: &Value) {
    let mut compared = 0;
    for (i, t) in status["targets"].as_array().unwrap().iter().enumerate() {
        let name = t["name"].as_str().unwrap();
        for (j, p) in t["pools"].as_array().unwrap().iter().enumerate() {
            let pool = p["pool"].as_str().unwrap();
            let start = dom
                .find(&format!("id=\"target-{i}-pool-{j}\""))
                .unwrap_or_else(|| panic!("no section for {name}/{pool}"));
            let rest = &dom[start + 1..];
            let end = rest.find("class=\"pool\"").unwrap_or(rest.len());
            let charts = drawn_points(&rest[..end]);
            for (chart, range) in charts.iter().zip(["24h", "7d"]) {
                let query = format!("/api/v1/history?target={name}&pool={pool}&range={range}");
                let response = exporter.get(&query).await;
                assert_eq!(response.status(), 200, "{query}");
                let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
                assert_eq!(body["target"], name);
                assert_eq!(body["pool"], pool);
                let served: Vec<[f64; 2]> = serde_json::from_value(body["points"].clone()).unwrap();
                assert_eq!(chart, &served, "{query}");
                assert!(served.len() >= 2, "{query}: {served:?}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 8, "only {compared} charts compared");
    let first = status["targets"][0]["name"].as_str().unwrap();
    let pool = status["targets"][0]["pools"][0]["pool"].as_str().unwrap();
    for (query, code) in [
        (format!("/api/v1/history?target=nope&pool={pool}"), 404),
        (format!("/api/v1/history?target={first}&pool=nope"), 404),
        (
            format!("/api/v1/history?target={first}&pool={pool}&range=1y"),
            400,
        ),
        (
            format!("/api/v1/history?target={first}&pool={pool}&range=soon"),
            400,
        ),
        ("/api/v1/history?target=x".to_owned(), 400),
    ] {
        assert_eq!(exporter.get(&query).await.status(), code, "{query}");
    }
}

/// On a 400 px phone: no sideways scrolling of the page; the page's script
/// reads a chart's value out under the keyboard and the mouse; the CSP lets
/// the page's own files run and refuses an inline script.
async fn in_a_phone(url: &str, dom: &str) {
    let url = url.to_owned();
    let (widths, keyboard, mouse, before, inline) = tokio::task::spawn_blocking(move || {
        let mut browser = cdp::Browser::start(400, true);
        browser.on_new_document(
            "window.__violations = []; document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.effectiveDirective));",
        );
        browser.open(&url);
        let widths = browser.eval(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth, document.body.scrollWidth]",
        );
        let keyboard = browser.eval(
            "(() => { const s = document.querySelector('svg[data-points]'); s.focus(); s.dispatchEvent(new KeyboardEvent('keydown', {key: 'Home', bubbles: true})); return s.parentNode.querySelector('.readout').textContent; })()",
        );
        let mouse = browser.eval(
            "(() => { const s = document.querySelector('svg[data-points]'); const r = s.getBoundingClientRect(); s.dispatchEvent(new MouseEvent('mousemove', {clientX: r.right - 2, clientY: r.top + 10})); return s.parentNode.querySelector('.readout').textContent; })()",
        );
        let before = browser.eval("window.__violations.slice()");
        let inline = browser.eval(
            "new Promise(done => { const s = document.createElement('script'); s.textContent = 'window.__ran = true'; document.body.appendChild(s); setTimeout(() => done([window.__ran === true, window.__violations.slice()]), 300); })",
        );
        (widths, keyboard, mouse, before, inline)
    })
    .await
    .unwrap();
    let widths: Vec<u64> = serde_json::from_value(widths).unwrap();
    assert!(
        widths[0] <= widths[1] && widths[2] <= widths[1],
        "the page scrolls sideways at 400 px: {widths:?}"
    );
    // The first and the last point of the first chart, in the page's units.
    let charts = drawn_points(dom);
    let first = charts[0][0];
    let last = charts[0][charts[0].len() - 1];
    for (readout, point) in [(&keyboard, first), (&mouse, last)] {
        let readout = readout.as_str().unwrap();
        assert!(
            reads_as(readout, point[1]),
            "{readout} does not read {point:?}"
        );
    }
    assert_eq!(before, serde_json::json!([]), "the page broke its own CSP");
    assert_eq!(
        inline,
        serde_json::json!([false, ["script-src-elem"]]),
        "an inline script was not refused"
    );
}

/// Whether a chart's readout (`<local time>: 12.3 GiB left`) shows `bytes`, to
/// its one decimal (the script rounds as JavaScript does, ties up).
fn reads_as(readout: &str, bytes: f64) -> bool {
    let Some((_, figure)) = readout.rsplit_once(": ") else {
        return false;
    };
    let Some(figure) = figure.strip_suffix(" left") else {
        return false;
    };
    let expected = format_bytes(bytes);
    let (Some((shown, unit)), Some((want, want_unit))) =
        (figure.split_once(' '), expected.split_once(' '))
    else {
        return false;
    };
    let (Ok(shown), Ok(want)) = (shown.parse::<f64>(), want.parse::<f64>()) else {
        return false;
    };
    unit == want_unit && (shown - want).abs() <= 0.1 + 1e-9
}

/// How many pixels of `png` are within a small distance of `colour`.
fn count_pixels(png: &Path, colour: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    buffer[..info.buffer_size()]
        .chunks(channels)
        .filter(|px| px.len() >= 3 && px[..3].iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 24))
        .count()
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A pool and a sub-account that each used far more in the last hour than in
/// the 30 hours before: the page and `/api/v1/status` mark both, with the
/// figures `ProxyUsageSpike` reads (and the sub-account's name, from upstream,
/// escaped). No browser: the HTML as served.
#[tokio::test]
async fn a_usage_spike_is_marked_on_the_page_and_in_the_status() {
    use proxy_quota_exporter::readings::{AccountReading, PoolReading};
    use proxy_quota_exporter::store::Store;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let upstream = MockServer::start().await;
    // 10 GiB left of 50 GiB; the sub-account has used 20 GiB (in KB).
    let summary = serde_json::json!({"code": 200, "msg": "ok", "data": {
        "effective": 10 * 1_048_576, "effective_total": 50 * 1_048_576,
        "effective_used": 40 * 1_048_576}});
    let accounts = serde_json::json!({"code": 200, "msg": "ok", "data": {"list": [
        {"id": 1, "username": "<b>leaked</b>", "product_type": 9,
         "usage_flow": 20 * 1_048_576, "limit_flow": 0, "status": 1}]}});
    for (route, body) in [
        ("/gateway/user-product/summary", summary),
        ("/gateway/whitelist-account/list", accounts),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&upstream)
            .await;
    }
    let store = tempfile::tempdir().unwrap();
    let storage = Store::open(&StoreOptions {
        path: store.path().to_owned(),
        retention: Duration::from_secs(7 * 86_400),
    })
    .unwrap();
    let now = proxy_quota_exporter::units::unix_now() as i64;
    // The pool: 0.05 GiB an hour, then 10 GiB within the last hour.
    for k in (1..=360).rev() {
        let ago = k * 300;
        let consumed = if ago < 3600 {
            40.0 * GIB - 10.0 * GIB * ago as f64 / 3600.0
        } else {
            30.0 * GIB - 0.05 * GIB * (ago - 3600) as f64 / 3600.0
        };
        let pool = PoolReading {
            pool: "dynamic_residential".into(),
            remaining_bytes: Some(50.0 * GIB - consumed),
            purchased_bytes: Some(50.0 * GIB),
            ..PoolReading::default()
        };
        storage
            .write_pools("bestproxy", "best", now - ago, &[pool])
            .unwrap();
    }
    // The sub-account, an hourly row: 0.01 GiB an hour up to 5 GiB a minute
    // ago (this poll says 20 GiB).
    for k in (0..=30).rev() {
        let account = AccountReading {
            account: "<b>leaked</b>".into(),
            product: "dynamic_residential".into(),
            remark: String::new(),
            used_bytes: 5.0 * GIB - 0.01 * GIB * k as f64,
            limit_bytes: None,
            enabled: Some(true),
        };
        storage
            .write_accounts("bestproxy", "best", now - 60 - k * 3600, &[account])
            .unwrap();
    }
    drop(storage);

    let yaml = format!(
        "targets:\n  - name: best\n    provider: bestproxy\n    base_url: {}\n    app_key: k\n    endpoints: [summary, accounts]\n    product_types: [9]\n",
        upstream.uri()
    );
    // A week's retention: the default of these tests would prune the 24 h of
    // history the rule needs.
    let options = Options {
        storage: Some(StoreOptions {
            path: store.path().to_owned(),
            retention: Duration::from_secs(7 * 86_400),
        }),
        ..Options::default()
    };
    let exporter = Exporter::start_with(&yaml, options).await;
    exporter.wait_ready().await;
    let status: Value =
        serde_json::from_str(&exporter.get("/api/v1/status").await.text().await.unwrap()).unwrap();
    let target = &status["targets"][0];
    let spike = &target["pools"][0]["usage_spike"];
    assert_eq!(spike["spiking"], true, "{spike}");
    assert_eq!(spike["window_seconds"], 3600.0, "{spike}");
    let consumed = spike["consumed_bytes"].as_f64().unwrap();
    let usual = spike["usual_bytes"].as_f64().unwrap();
    assert!(consumed > 9.0 * GIB && usual < 0.1 * GIB, "{spike}");
    let account = &target["accounts_spiking"][0];
    assert_eq!(account["account"], "<b>leaked</b>", "{target}");
    assert!(
        account["consumed_bytes"].as_f64().unwrap() > 14.0 * GIB,
        "{account}"
    );

    let page = exporter.get("/").await.text().await.unwrap();
    assert!(page.contains("usage spike</span>"), "{page}");
    assert!(
        page.contains(&format!(
            "<strong class=\"warn\">{}</strong> (usual {})",
            format_bytes(consumed),
            format_bytes(usual)
        )),
        "{page}"
    );
    assert!(page.contains("Sub-accounts with a usage spike"), "{page}");
    assert!(page.contains("&lt;b&gt;leaked&lt;/b&gt;"), "{page}");
    assert!(!page.contains("<b>leaked</b>"), "{page}");
    exporter.stop().await;
}

/// A target with more sub-accounts near their limit than a list shows: the
/// page shows 20 and says how many more; `?q=` finds one by name (on the page
/// and in the status API, escaped on the page); `limit` and `offset` page
/// through the status API's list, whose total counts them all.
#[tokio::test]
async fn long_lists_are_capped_filtered_and_paged() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let upstream = MockServer::start().await;
    // 90 sub-accounts, each at 90 % of its 1 GB limit (usage in KB), the
    // n-th a little fuller than the (n+1)-th.
    let list: Vec<Value> = (0..90)
        .map(|i| {
            serde_json::json!({"id": i, "username": format!("user{i:03}"), "product_type": 9,
                "usage_flow": 1_000_000 - i * 1000, "limit_flow": 1, "status": 1})
        })
        .collect();
    let accounts = serde_json::json!({"code": 200, "msg": "ok", "data": {"list": list}});
    Mock::given(method("GET"))
        .and(path("/gateway/whitelist-account/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(accounts))
        .mount(&upstream)
        .await;
    let yaml = format!(
        "targets:\n  - name: big\n    provider: bestproxy\n    base_url: {}\n    app_key: k\n    endpoints: [accounts]\n    product_types: [9]\n",
        upstream.uri()
    );
    let exporter = Exporter::start(&yaml).await;
    exporter.wait_ready().await;
    let status = |query: &'static str| {
        let exporter = &exporter;
        async move {
            let text = exporter.get(query).await.text().await.unwrap();
            serde_json::from_str::<Value>(&text).unwrap()["targets"][0].clone()
        }
    };
    let names = |t: &Value, list: &str| -> Vec<String> {
        t[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["account"].as_str().unwrap().to_owned())
            .collect()
    };

    let all = status("/api/v1/status").await;
    assert_eq!(all["accounts_near_limit_total"], 90, "{all}");
    assert_eq!(names(&all, "accounts_near_limit").len(), 90);
    assert_eq!(names(&all, "accounts_near_limit")[0], "user000");
    assert_eq!(all["accounts_found"], Value::Null);
    let paged = status("/api/v1/status?limit=10&offset=80").await;
    assert_eq!(paged["accounts_near_limit_total"], 90);
    let expected: Vec<String> = (80..90).map(|i| format!("user{i:03}")).collect();
    assert_eq!(names(&paged, "accounts_near_limit"), expected);
    let found = status("/api/v1/status?q=USER07").await;
    assert_eq!(found["accounts_near_limit_total"], 10, "{found}");
    assert_eq!(found["accounts_found_total"], 10, "{found}");
    assert_eq!(names(&found, "accounts_found")[0], "user070");
    let bad = exporter.get("/api/v1/status?limit=ten").await;
    assert_eq!(bad.status(), 400);

    let page = exporter.get("/").await.text().await.unwrap();
    assert_eq!(page.matches("<td>user0").count(), 20, "{page}");
    assert!(page.contains("70 more"), "{page}");
    let page = exporter.get("/?q=user089").await.text().await.unwrap();
    assert!(page.contains("<td>user089"), "{page}");
    assert!(!page.contains("<td>user088"), "{page}");
    assert!(page.contains("Sub-accounts found"), "{page}");
    let page = exporter
        .get("/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)"),
        "{page}"
    );
    exporter.stop().await;
}
