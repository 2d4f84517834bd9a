//! `proxy-quota-exporter discover`: one GET of a provider's answer with the
//! credential, and the JSON pointers of every number, timestamp and list in
//! it, as a start for a custom target. The credential is never printed: every
//! line of the output, an error's included, goes through a [`Redactor`] of it
//! in all its wire forms.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::json::{describe, discover};
use crate::http::{CredentialPlacement, HttpClient};
use crate::secret::{Redactor, Secret};
use crate::units::Zone;

/// What `discover` needs: where to ask, how the credential goes, the zone of
/// zone-less timestamps.
pub struct Request {
    pub url: url::Url,
    pub placement: CredentialPlacement,
    pub credential: Secret,
    pub timeout: Duration,
    pub zone: Zone,
}

/// Fetches the answer and lists its figures; `Err` holds the error text. Both
/// are redacted of the credential.
pub async fn run(request: Request) -> Result<String, String> {
    let redactor = match &request.placement {
        CredentialPlacement::Basic { username } => {
            Redactor::default().basic(username, &request.credential)
        }
        _ => Redactor::of(&[&request.credential]),
    };
    let outcome = fetch(&request).await;
    match outcome {
        Ok(text) => Ok(redactor.apply(&text)),
        Err(text) => Err(redactor.apply(&text)),
    }
}

async fn fetch(request: &Request) -> Result<String, String> {
    if !request.url.username().is_empty() || request.url.password().is_some() {
        return Err("the URL must not hold a user name or password: use --basic-username and the credential file".into());
    }
    if let Some(name) = request.placement.query_name() {
        if request.url.query_pairs().any(|(k, _)| k == name) {
            return Err(format!(
                "the URL already has a `{name}` parameter, which --query sets to the credential: leave it out"
            ));
        }
    }
    let http = HttpClient::new(request.timeout, Arc::new(Semaphore::new(1)))
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let body = http
        .get(&request.url, &[], (&request.placement, &request.credential))
        .await
        .map_err(|e| format!("{} ({})", e.message, e.reason))?;
    let answer: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("GET {}: invalid JSON: {e}", request.url.path()))?;
    let found = discover(&answer, request.zone);
    let mut out = format!(
        "GET {} answered {} ({} bytes); {} places hold a number, a time or a list:\n\n",
        request.url.path(),
        describe(&answer),
        body.len(),
        found.len()
    );
    let width = found.iter().map(|f| f.pointer.len()).max().unwrap_or(0);
    let kinds = found.iter().map(|f| f.kind.len()).max().unwrap_or(0);
    for f in &found {
        out.push_str(&format!(
            "{:width$}  {:kinds$}  {}\n",
            f.pointer,
            f.kind,
            f.value,
            width = width,
            kinds = kinds
        ));
        let _ = out.trim_end();
    }
    out.push_str(
        "\nA list's items are shown by its first item (/list/0/…); in a custom target's \
         accounts, static_ips or a pool list, write item pointers without the /list/0 \
         part. Strings that are neither numbers nor times are not shown.\n",
    );
    Ok(out)
}
