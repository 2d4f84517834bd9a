//! Sharding: which targets one exporter process polls and serves when several
//! share one configuration file (`--shard N --total-shards M`).
//!
//! A target belongs to shard `fnv1a64(name) mod M`, where `fnv1a64` is the 64-bit
//! FNV-1a hash of the target name's UTF-8 bytes (offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`, XOR each byte in, then multiply,
//! wrapping at 2^64). The rule depends on nothing but the name and `M`, so M
//! processes with the same file cover every target exactly once, and other tools
//! can compute where a target is served (docs/scale-out.md, "The hash").

use std::fmt;

/// The FNV-1a offset basis (64-bit).
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV prime (64-bit).
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The shard, out of `total_shards`, that polls and serves the target `name`.
pub fn shard_of(name: &str, total_shards: u32) -> u32 {
    // `total_shards` is at least 1 in a `Shard`; 0 would divide by zero.
    (fnv1a64(name.as_bytes()) % u64::from(total_shards.max(1))) as u32
}

/// One process' share of the targets: shard `index` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    total: u32,
}

/// Why `--shard` and `--total-shards` were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--total-shards must be at least 1")]
    NoShards,
    #[error(
        "--shard {index} is out of range for --total-shards {total} (shards are numbered 0 to {last})",
        last = total - 1
    )]
    OutOfRange { index: u32, total: u32 },
}

impl Shard {
    /// The only shard of one: every target.
    pub const ALL: Shard = Shard { index: 0, total: 1 };

    /// Shard `index` of `total`; `0 <= index < total`.
    pub fn new(index: u32, total: u32) -> Result<Shard, ShardError> {
        if total == 0 {
            return Err(ShardError::NoShards);
        }
        if index >= total {
            return Err(ShardError::OutOfRange { index, total });
        }
        Ok(Shard { index, total })
    }

    /// This shard's number, from 0.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards share the targets.
    pub fn total(self) -> u32 {
        self.total
    }

    /// Whether this shard polls and serves the target `name`.
    pub fn owns(self, name: &str) -> bool {
        shard_of(name, self.total) == self.index
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {} of {}", self.index, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published FNV-1a 64 test vectors (Fowler, Noll, Vo; the IETF draft
    /// draft-eastlake-fnv): the hash is FNV-1a and not FNV-1 or another variant.
    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    /// The worked examples of docs/scale-out.md ("The hash"): other tools
    /// check their implementation against the same table.
    #[test]
    fn documented_examples() {
        for (name, hash, of2, of3, of4) in DOCUMENTED {
            assert_eq!(fnv1a64(name.as_bytes()), *hash, "{name}");
            assert_eq!(
                [shard_of(name, 2), shard_of(name, 3), shard_of(name, 4)],
                [*of2, *of3, *of4],
                "{name}"
            );
        }
    }

    /// (name, fnv1a64, shard of 2, of 3, of 4), as in docs/configuration.md.
    const DOCUMENTED: &[(&str, u64, u32, u32, u32)] = &[
        ("lite-main", 0x9336c2bdaa7d7479, 1, 0, 1),
        ("best-resi", 0xd6c0661bd63fb70b, 1, 1, 3),
        ("reseller", 0xe5dce761db033ffb, 1, 2, 3),
        ("demo-bestproxy", 0x99abd51114e8f9fd, 1, 0, 1),
        ("demo-proxylite", 0xf5cc809bfaf3bd73, 1, 2, 3),
        ("demo-ipweb", 0xa3443002dddc8f7e, 0, 1, 2),
    ];

    #[test]
    fn every_name_has_exactly_one_shard() {
        let names: Vec<String> = (0..300).map(|i| format!("target-{i:03}")).collect();
        for total in 1..=7 {
            let shards: Vec<_> = (0..total).map(|i| Shard::new(i, total).unwrap()).collect();
            for name in &names {
                let owners = shards.iter().filter(|s| s.owns(name)).count();
                assert_eq!(owners, 1, "{name} of {total}");
            }
            // Roughly even: no shard is left without targets at 300 names.
            for s in &shards {
                assert!(names.iter().any(|n| s.owns(n)), "{s} is empty");
            }
        }
    }

    #[test]
    fn flags_are_validated() {
        assert_eq!(Shard::new(0, 1), Ok(Shard::ALL));
        assert_eq!(Shard::new(0, 0), Err(ShardError::NoShards));
        let error = Shard::new(3, 3).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--shard 3 is out of range for --total-shards 3 (shards are numbered 0 to 2)"
        );
        assert!(Shard::ALL.owns("anything"));
    }
}
