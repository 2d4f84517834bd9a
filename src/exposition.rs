//! The exposition cache: the encoded `/metrics` bytes, plain and gzip, that
//! scrapes copy. One task re-encodes when the store changes and when a served
//! reading goes stale. Encoding is coalesced: a change after a quiet spell is
//! encoded at once, changes that follow within [`ENCODE_SPACING`] are folded
//! into one encoding at its end, so a thousand targets finishing their polls
//! together cost a handful of encodings, not a thousand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;

use crate::encoder;
use crate::store::Store;

/// The shortest time between two encodings of a busy exposition.
pub const ENCODE_SPACING: Duration = Duration::from_millis(25);

/// One encoding of every snapshot, plain and gzip-compressed.
pub struct Exposition {
    pub plain: Bytes,
    pub gzip: Bytes,
    /// Whether every configured target was in it.
    pub ready: bool,
}

/// The latest [`Exposition`]; see the module documentation.
pub struct ExpositionCache {
    current: ArcSwap<Exposition>,
}

impl ExpositionCache {
    /// A cache holding an encoding of `store` as it is now.
    pub fn new(store: &Store) -> Arc<Self> {
        let (exposition, _) = encode(store);
        Arc::new(ExpositionCache {
            current: ArcSwap::from_pointee(exposition),
        })
    }

    /// The latest encoding.
    pub fn current(&self) -> Arc<Exposition> {
        self.current.load_full()
    }

    /// Whether every configured target has finished its first poll and is in
    /// the exposition `/metrics` serves.
    pub fn ready(&self) -> bool {
        self.current.load().ready
    }

    /// Re-encodes on every change of `store` and when a served reading goes
    /// stale, until the store is dropped or the task is aborted.
    pub async fn run(self: Arc<Self>, store: Arc<Store>) {
        let mut changes = store.subscribe();
        let mut next_expiry = encode(&store).1;
        let mut last = Instant::now();
        loop {
            let expiry = async {
                match next_expiry {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = expiry => {}
            }
            let since = last.elapsed();
            if since < ENCODE_SPACING {
                tokio::time::sleep(ENCODE_SPACING - since).await;
            }
            // Changes during the spacing are in this encoding.
            changes.borrow_and_update();
            last = Instant::now();
            let (exposition, expiry) = encode(&store);
            self.current.store(Arc::new(exposition));
            next_expiry = expiry;
        }
    }
}

/// Encodes the store now; also returns when the next served reading goes stale.
fn encode(store: &Store) -> (Exposition, Option<Instant>) {
    let view = store.view();
    let now = Instant::now();
    let plain = encoder::encode(&view.snapshots, view.reload, &view.agent, view.storage, now);
    let next_expiry = view
        .snapshots
        .iter()
        .flat_map(|t| t.endpoints.iter().filter_map(|e| e.stale_at))
        .filter(|at| *at > now)
        .min();
    let exposition = Exposition {
        gzip: Bytes::from(gzip(&plain)),
        plain: Bytes::from(plain),
        ready: view.complete(),
    };
    (exposition, next_expiry)
}

/// Gzip at the fast level: compression happens once per encoding, not per scrape.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}
