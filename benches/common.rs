//! Shared inputs for the benchmarks: an account list answer of any size and the
//! snapshot it becomes.

use std::sync::Arc;

use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::Reading;
use proxy_quota_exporter::store::{EndpointSnapshot, TargetSnapshot};

/// A `whitelist-account/list` answer with `n` sub-accounts, as the API documents it.
pub fn account_list(n: usize) -> Vec<u8> {
    let mut body = String::with_capacity(n * 200 + 64);
    body.push_str(r#"{"code":200,"msg":"success","data":{"list":["#);
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":{i},"username":"user{i:06}","password":"secret-{i}","created_at":"2024-01-01 00:00:00","remark":"team {}","product_type":9,"usage_flow":{},"limit_flow":{},"status":{}}}"#,
            i % 50,
            (i * 7919) % 100_000_000,
            if i % 10 == 0 { 0 } else { 100 },
            u8::from(i % 13 != 0)
        ));
    }
    body.push_str("]}}");
    body.into_bytes()
}

/// A target snapshot holding `reading` as its account list.
pub fn snapshot(reading: Reading) -> Arc<TargetSnapshot> {
    Arc::new(TargetSnapshot {
        target: "bench".into(),
        provider: "bestproxy",
        endpoints: vec![EndpointSnapshot {
            endpoint: Endpoint::Accounts,
            success: true,
            duration_seconds: 0.5,
            last_success_unix: Some(1.7e9),
            errors: [0; proxy_quota_exporter::http::Reason::COUNT],
            requests: Default::default(),
            reading: Some(Arc::new(reading)),
            stale_at: None,
            last_error: None,
        }],
        polled_at: 1.7e9,
        credential_in_clear: false,
    })
}
