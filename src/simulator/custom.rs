//! The simulated "Other Proxy": an API in none of the built-in shapes, which
//! the demo reads with `provider: custom`. A bearer token, a `{code, message,
//! data}` envelope whose success code is 0, traffic in GB as strings with two
//! decimals, sub-accounts in numbered pages (`meta.last_page`) and static IPs
//! behind relative next-page links, with RFC 3339 expiries. It serves the
//! dataset's `custom` account, alive like the others.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::data::{Clock, GatewayAccount, KB_PER_GB};
use crate::providers::Endpoint;

/// The bearer token the simulated API accepts.
pub const TOKEN: &str = "demo-custom-token";
/// Where the API lives under the simulator's address.
pub const BASE_PATH: &str = "/other/v1";
/// The envelope code of a refused token.
pub const CODE_UNAUTHORIZED: i64 = 40101;

/// The demo's target for this API: its own keys, for the simulator's
/// configuration (indented for an entry of `targets`).
pub fn target_yaml(base_url: &str) -> String {
    format!(
        r#"  - name: demo-custom
    provider: custom
    display_name: Other Proxy
    base_url: {base_url}
    credential: {TOKEN}
    auth: {{header: Authorization, prefix: "Bearer "}}
    success: {{pointer: /code, equals: 0, message: /message, auth_values: [{CODE_UNAUTHORIZED}]}}
    unit: GB
    timezone: "+00:00"
    pools:
      - path: /me
        pool: residential
        remaining: /data/available_traffic
        purchased: /data/total_traffic
        used: /data/used_traffic
    accounts:
      path: /subusers
      paging: {{style: page, page_param: page, size_param: per_page, size: 5, items: /data/items, total_pages: /data/meta/last_page}}
      product: residential
      account: /username
      used: /traffic_used
      limit: /traffic_limit
      enabled: /is_active
      remark: /note
    static_ips:
      path: /ips
      paging: {{style: next, items: /data/results, next: /data/next, size_param: page_size, size: 10}}
      product: isp
      ip: /ip
      expires_at: /expires_at
      country: /country_code
"#
    )
}

/// What a request path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resource {
    Me,
    Subusers,
    Ips,
}

impl Resource {
    pub(super) fn endpoint(self) -> Endpoint {
        match self {
            Resource::Me => Endpoint::Summary,
            Resource::Subusers => Endpoint::Accounts,
            Resource::Ips => Endpoint::StaticIps,
        }
    }
}

/// The resource of a path under [`BASE_PATH`].
pub(super) fn route(rest: &str) -> Option<Resource> {
    match rest {
        "/me" => Some(Resource::Me),
        "/subusers" => Some(Resource::Subusers),
        "/ips" => Some(Resource::Ips),
        _ => None,
    }
}

/// The token of an `Authorization: Bearer …` header.
pub(super) fn bearer(header: Option<&str>) -> Option<&str> {
    header?.strip_prefix("Bearer ")
}

/// The whole answer, envelope included.
pub(super) fn answer(
    account: &GatewayAccount,
    resource: Resource,
    query: &HashMap<String, String>,
    clock: &Clock,
) -> Value {
    let number = |key: &str, default: usize| super::query_number(query, key, default);
    let gb = |kb: f64| format!("{:.2}", kb / KB_PER_GB);
    let data = match resource {
        Resource::Me => {
            let pool = &account.pools[0];
            let used = pool.used_kb(clock);
            json!({
                "available_traffic": gb((pool.effective_total_kb - used).round()),
                "total_traffic": gb(pool.effective_total_kb.round()),
                "used_traffic": gb(used.round()),
            })
        }
        Resource::Subusers => {
            let per_page = number("per_page", 20).clamp(1, 100);
            let page = number("page", 1).max(1);
            let accounts = &account.sub_accounts;
            let items: Vec<_> = accounts
                .iter()
                .skip((page - 1).saturating_mul(per_page))
                .take(per_page)
                .map(|a| {
                    let used_kb = a.used_kb(clock).round();
                    json!({
                        "username": a.username,
                        "traffic_used": (used_kb / KB_PER_GB * 1000.0).round() / 1000.0,
                        "traffic_limit": a.limit_gb,
                        "is_active": a.enabled,
                        "note": a.remark,
                    })
                })
                .collect();
            json!({
                "items": items,
                "meta": {"current_page": page, "per_page": per_page,
                         "last_page": accounts.len().div_ceil(per_page).max(1), "total": accounts.len()},
            })
        }
        Resource::Ips => {
            let size = number("page_size", 10).clamp(1, 100);
            let cursor = number("cursor", 0);
            let ips = &account.static_ips;
            let results: Vec<_> = ips
                .iter()
                .skip(cursor)
                .take(size)
                .map(|ip| {
                    let expires = clock.start + chrono::Duration::seconds(ip.expires_in);
                    json!({
                        "ip": ip.ip,
                        "country_code": ip.country,
                        "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    })
                })
                .collect();
            let next = (cursor.saturating_add(size) < ips.len()).then(|| {
                format!(
                    "{BASE_PATH}/ips?cursor={}&page_size={size}",
                    cursor.saturating_add(size)
                )
            });
            json!({"count": ips.len(), "next": next, "results": results})
        }
    };
    json!({"code": 0, "message": "ok", "data": data})
}

/// The answer to a refused token.
pub(super) fn auth_error() -> Value {
    json!({"code": CODE_UNAUTHORIZED, "message": "invalid token", "data": null})
}
