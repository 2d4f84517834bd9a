//! The exposition cache: the encoded `/metrics` bytes, plain and gzip, that
//! scrapes copy, and each target's part of them for `/probe`. One task
//! re-encodes on each new snapshot and when a served reading goes stale.
//! Encoding is coalesced: a change after a quiet spell is encoded at once,
//! changes that follow within [`ENCODE_SPACING`] are folded into one encoding at
//! its end, so a thousand targets finishing their polls together cost a handful
//! of encodings, not a thousand.
//!
//! An encoding formats only the targets whose snapshot changed (or whose values
//! went stale) since the last one; every other target's lines are copied from
//! the previous page ([`encoder::assemble`]). The page remembers where each
//! target's lines are, so `/probe` serves slices of the very bytes `/metrics`
//! serves, with the families' HELP and TYPE lines between them: a probe neither
//! encodes nor copies. Its gzip copy is compressed at the first gzip probe and
//! kept until the target changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;

use crate::encoder::{self, ExporterStatus, Segment, Source};
use crate::shard::Shard;
use crate::snapshots::{Snapshots, TargetSnapshot};

/// The shortest time between two encodings of a busy exposition.
pub const ENCODE_SPACING: Duration = Duration::from_millis(25);

/// One encoding of every snapshot, plain and gzip-compressed.
pub struct Exposition {
    pub plain: Bytes,
    pub gzip: Bytes,
    /// Whether every configured target was in it.
    pub ready: bool,
    /// Where each polled target's lines are in `plain`.
    targets: HashMap<String, Arc<Placed>>,
    /// The targets of the running configuration (this shard's).
    expected: BTreeSet<String>,
}

/// One target's part of a page.
struct Placed {
    /// Its sample lines in the page, family by family.
    segments: Vec<Segment>,
    /// Its `/probe` body, gzip-compressed, once a probe asked for it; kept
    /// across pages while the target's lines stay the same.
    gzip: Arc<OnceLock<Bytes>>,
}

/// What `/probe` finds for a target name.
#[derive(Debug)]
pub enum Probe {
    /// The target's series: chunks to send one after another (the families'
    /// HELP and TYPE lines and the target's lines of the page, or its gzip copy).
    Found(Vec<Bytes>),
    /// A target of this process whose first poll has not finished: no series yet.
    Pending,
    /// Not a target of this process.
    Unknown,
}

impl Exposition {
    /// The `/probe` answer for `target`, gzip-compressed when `gzip`.
    pub fn probe(&self, target: &str, gzip: bool) -> Probe {
        let Some(placed) = self.targets.get(target) else {
            return if self.expected.contains(target) {
                Probe::Pending
            } else {
                Probe::Unknown
            };
        };
        let chunks = self.chunks(placed);
        if !gzip {
            return Probe::Found(chunks);
        }
        let compressed = placed.gzip.get_or_init(|| {
            let mut encoder = gzip_encoder(chunks.iter().map(Bytes::len).sum());
            for chunk in &chunks {
                // Writing into a Vec cannot fail.
                let _ = std::io::Write::write_all(&mut encoder, chunk);
            }
            Bytes::from(encoder.finish().unwrap_or_default())
        });
        Probe::Found(vec![compressed.clone()])
    }

    /// A target's plain text: each family's header, then the target's lines.
    fn chunks(&self, placed: &Placed) -> Vec<Bytes> {
        placed
            .segments
            .iter()
            .flat_map(|s| [encoder::header(s.family), self.plain.slice(s.range.clone())])
            .collect()
    }
}

/// The latest [`Exposition`]; see the module documentation.
pub struct ExpositionCache {
    current: ArcSwap<Exposition>,
    shard: Shard,
}

impl ExpositionCache {
    /// A cache holding an encoding of `snapshots` as they are now, for a process
    /// serving `shard`.
    pub fn new(store: &Snapshots, shard: Shard) -> Arc<Self> {
        let (exposition, _) = IncrementalEncoder::new(shard).encode(store);
        Arc::new(ExpositionCache {
            current: ArcSwap::from_pointee(exposition),
            shard,
        })
    }

    /// The latest encoding.
    pub fn current(&self) -> Arc<Exposition> {
        self.current.load_full()
    }

    /// The share of the targets this process serves.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Whether every configured target has finished its first poll and is in
    /// the exposition `/metrics` serves.
    pub fn ready(&self) -> bool {
        self.current.load().ready
    }

    /// Re-encodes on every new snapshot and when a served reading goes
    /// stale, until the snapshots are dropped or the task is aborted.
    pub async fn run(self: Arc<Self>, store: Arc<Snapshots>) {
        let mut changes = store.subscribe();
        let mut encoder = IncrementalEncoder::new(self.shard);
        let (exposition, mut next_expiry) = encoder.encode(&store);
        self.current.store(Arc::new(exposition));
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
            let (exposition, expiry) = encoder.encode(&store);
            self.current.store(Arc::new(exposition));
            next_expiry = expiry;
        }
    }
}

/// What the encoding task keeps from one encoding to the next.
struct IncrementalEncoder {
    shard: Shard,
    /// The last page's plain bytes.
    page: Bytes,
    /// Every target of the last page, by name.
    entries: HashMap<String, Entry>,
}

/// A target as it was last encoded.
struct Entry {
    snapshot: Arc<TargetSnapshot>,
    /// When one of its readings goes stale: its lines must be encoded again then.
    valid_until: Option<Instant>,
    placed: Arc<Placed>,
}

impl Entry {
    /// Whether its lines in the last page are still right for `snapshot` at `now`.
    fn current_for(&self, snapshot: &Arc<TargetSnapshot>, now: Instant) -> bool {
        Arc::ptr_eq(&self.snapshot, snapshot) && self.valid_until.is_none_or(|at| now < at)
    }
}

impl IncrementalEncoder {
    fn new(shard: Shard) -> Self {
        IncrementalEncoder {
            shard,
            page: Bytes::new(),
            entries: HashMap::new(),
        }
    }

    /// Encodes the snapshots now, formatting only the targets that changed; also
    /// returns when the next served reading goes stale.
    fn encode(&mut self, store: &Snapshots) -> (Exposition, Option<Instant>) {
        let view = store.view();
        let now = Instant::now();
        // Whether each target's lines in the last page are still right.
        let reused: Vec<bool> = view
            .snapshots
            .iter()
            .map(|t| {
                self.entries
                    .get(&t.target)
                    .is_some_and(|e| e.current_for(t, now))
            })
            .collect();
        let status = ExporterStatus {
            reload: view.reload,
            agent: &view.agent,
            storage: view.storage,
            shard: self.shard,
            silences: view.silences,
        };
        let page = {
            let sources: Vec<Source> = view
                .snapshots
                .iter()
                .zip(&reused)
                .map(|(t, &reused)| match self.entries.get(&t.target) {
                    Some(entry) if reused => Source::Page {
                        bytes: &self.page,
                        segments: &entry.placed.segments,
                    },
                    _ => Source::Snapshot(t),
                })
                .collect();
            encoder::assemble(&sources, &status, now)
        };

        let mut entries = HashMap::with_capacity(view.snapshots.len());
        let mut targets = HashMap::with_capacity(view.snapshots.len());
        for ((snapshot, reused), segments) in view.snapshots.iter().zip(reused).zip(page.segments) {
            let (valid_until, gzip) = match self.entries.remove(&snapshot.target) {
                Some(old) if reused => (old.valid_until, Arc::clone(&old.placed.gzip)),
                _ => (valid_until(snapshot, now), Arc::default()),
            };
            let placed = Arc::new(Placed { segments, gzip });
            targets.insert(snapshot.target.clone(), Arc::clone(&placed));
            entries.insert(
                snapshot.target.clone(),
                Entry {
                    snapshot: Arc::clone(snapshot),
                    valid_until,
                    placed,
                },
            );
        }
        self.entries = entries;
        let next_expiry = self.entries.values().filter_map(|e| e.valid_until).min();

        let ready = view.complete();
        let plain = Bytes::from(page.bytes);
        self.page = plain.clone();
        let exposition = Exposition {
            gzip: Bytes::from(gzip(&plain)),
            plain,
            ready,
            targets,
            expected: view.expected,
        };
        (exposition, next_expiry)
    }
}

/// When the first reading of `snapshot` still served at `now` goes stale.
fn valid_until(snapshot: &TargetSnapshot, now: Instant) -> Option<Instant> {
    snapshot
        .endpoints
        .iter()
        .filter_map(|e| e.stale_at)
        .filter(|at| *at > now)
        .min()
}

/// Gzip at the fast level: compression happens once per encoding, not per scrape.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = gzip_encoder(bytes.len());
    // Writing into a Vec cannot fail.
    let _ = std::io::Write::write_all(&mut encoder, bytes);
    encoder.finish().unwrap_or_default()
}

fn gzip_encoder(len: usize) -> flate2::write::GzEncoder<Vec<u8>> {
    flate2::write::GzEncoder::new(Vec::with_capacity(len / 8), flate2::Compression::fast())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Outcome;
    use crate::http::Reason;
    use crate::providers::Endpoint;
    use crate::readings::{DailyUsage, PoolReading, Reading};
    use crate::snapshots::{EndpointSnapshot, TargetSnapshot};

    fn snapshot(target: &str, remaining: f64, stale_at: Option<Instant>) -> TargetSnapshot {
        let endpoint = |endpoint, reading| EndpointSnapshot {
            endpoint,
            success: true,
            duration_seconds: 0.25,
            last_success_unix: Some(1.7e9),
            errors: [0; Reason::COUNT],
            requests: [1; Outcome::COUNT],
            labels_truncated: 0,
            reading: Some(Arc::new(reading)),
            stale_at,
            last_error: None,
        };
        TargetSnapshot {
            target: target.into(),
            provider: "proxylite",
            display_name: "Display".into(),
            endpoints: vec![
                endpoint(
                    Endpoint::Summary,
                    Reading::Summary(vec![PoolReading {
                        pool: "dynamic_residential".into(),
                        remaining_bytes: Some(remaining),
                        purchased_bytes: Some(1e9),
                        ..PoolReading::default()
                    }]),
                ),
                endpoint(
                    Endpoint::Usage,
                    Reading::Usage(DailyUsage {
                        today_bytes: 5.0,
                        yesterday_bytes: 7.0,
                    }),
                ),
            ],
            polled_at: 1.7e9,
            credential_in_clear: false,
        }
    }

    fn store(names: &[&str]) -> Arc<Snapshots> {
        let store = Snapshots::new(names.iter().map(|n| n.to_string()));
        for (i, name) in names.iter().enumerate() {
            store.publish(snapshot(name, i as f64, None));
        }
        store
    }

    /// The page every target encoded afresh would give.
    fn encoded_afresh(store: &Snapshots, now: Instant) -> Vec<u8> {
        let view = store.view();
        let status = ExporterStatus {
            reload: view.reload,
            agent: &view.agent,
            storage: Default::default(),
            shard: Shard::ALL,
            silences: view.silences,
        };
        encoder::encode(&view.snapshots, &status, now)
    }

    fn text(chunks: &[Bytes]) -> String {
        chunks
            .iter()
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect()
    }

    fn found(probe: Probe) -> Vec<Bytes> {
        match probe {
            Probe::Found(chunks) => chunks,
            other => panic!("expected series, got {other:?}"),
        }
    }

    #[test]
    fn a_page_with_copied_lines_is_the_page_encoded_afresh() {
        let store = store(&["a", "b", "c"]);
        let mut encoder = IncrementalEncoder::new(Shard::ALL);
        let (first, _) = encoder.encode(&store);
        assert_eq!(first.plain, encoded_afresh(&store, Instant::now()));
        let gzip_of = |e: &Exposition, t: &str| Arc::clone(&e.targets[t].gzip);

        store.publish(snapshot("b", 42.0, None));
        let (second, _) = encoder.encode(&store);
        assert_eq!(second.plain, encoded_afresh(&store, Instant::now()));
        assert!(String::from_utf8_lossy(&second.plain).contains(
            "proxy_traffic_remaining_bytes{provider=\"proxylite\",target=\"b\",pool=\"dynamic_residential\"} 42\n"
        ));
        // Unchanged targets were copied (their gzip cell carried over), the
        // changed one was encoded again.
        assert!(Arc::ptr_eq(&gzip_of(&first, "a"), &gzip_of(&second, "a")));
        assert!(Arc::ptr_eq(&gzip_of(&first, "c"), &gzip_of(&second, "c")));
        assert!(!Arc::ptr_eq(&gzip_of(&first, "b"), &gzip_of(&second, "b")));
    }

    #[test]
    fn a_probe_is_the_targets_lines_of_the_page_with_their_headers() {
        let store = store(&["a", "b", "c"]);
        let (exposition, _) = IncrementalEncoder::new(Shard::ALL).encode(&store);
        let page = String::from_utf8(exposition.plain.to_vec()).unwrap();
        for name in ["a", "b", "c"] {
            let probe = text(&found(exposition.probe(name, false)));
            // The page's lines of this target, each family's header before them.
            let label = format!("target=\"{name}\"");
            let mut expected = String::new();
            let mut header = String::new();
            for line in page.lines() {
                if line.starts_with("# HELP") {
                    header = format!("{line}\n");
                } else if line.starts_with("# TYPE") {
                    header.push_str(line);
                    header.push('\n');
                } else if line.contains(&label) {
                    expected.push_str(&std::mem::take(&mut header));
                    expected.push_str(line);
                    expected.push('\n');
                }
            }
            assert_eq!(probe, expected, "{name}");
            assert!(probe.contains("proxy_up{"), "{probe}");
            assert!(!probe.contains("proxy_exporter_build_info"));

            let gzip = found(exposition.probe(name, true));
            assert_eq!(gzip.len(), 1);
            let mut plain = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&gzip[0][..]),
                &mut plain,
            )
            .unwrap();
            assert_eq!(plain, expected);
        }
    }

    #[test]
    fn a_probe_tells_a_pending_target_from_an_unknown_one() {
        let store = Snapshots::new(["polled".to_owned(), "pending".to_owned()]);
        store.publish(snapshot("polled", 1.0, None));
        let (exposition, _) = IncrementalEncoder::new(Shard::ALL).encode(&store);
        assert!(matches!(exposition.probe("polled", false), Probe::Found(_)));
        assert!(matches!(exposition.probe("pending", false), Probe::Pending));
        assert!(matches!(exposition.probe("other", false), Probe::Unknown));
    }

    #[test]
    fn a_target_is_encoded_again_when_its_values_go_stale() {
        let store = Snapshots::new(["a".to_owned(), "b".to_owned()]);
        let stale_at = Instant::now() + Duration::from_millis(50);
        store.publish(snapshot("a", 1.0, Some(stale_at)));
        store.publish(snapshot("b", 2.0, None));
        let mut encoder = IncrementalEncoder::new(Shard::ALL);
        let (first, next) = encoder.encode(&store);
        assert_eq!(next, Some(stale_at));
        let a = text(&found(first.probe("a", false)));
        assert!(a.contains("proxy_traffic_remaining_bytes{"), "{a}");
        std::thread::sleep(Duration::from_millis(60));
        let (second, next) = encoder.encode(&store);
        assert_eq!(next, None);
        let a = text(&found(second.probe("a", false)));
        assert!(!a.contains("proxy_traffic_remaining_bytes{"), "{a}");
        assert!(a.contains("proxy_up{"), "{a}");
        assert_eq!(second.plain, encoded_afresh(&store, Instant::now()));
    }
}
