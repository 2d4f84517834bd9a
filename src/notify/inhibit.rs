//! Inhibition: a firing alert (the source) mutes others (the targets) that
//! carry the same values of some labels. Alertmanager's `inhibit_rules:` with
//! the same keys and meaning (`config/common/inhibitrule.go`,
//! `inhibit/inhibit.go`).
//!
//! This module owns the rules as written ([`RawInhibitRule`]), their
//! validation with key paths, the contract's default rule
//! ([`InhibitRule::default_rules`]), and the question "which firing alert mutes
//! this one" ([`Inhibitor`], [`Sources`]). It is pure: the caller hands in the
//! alerts that fire now.
//!
//! The sources are indexed once per set of firing alerts, by rule and by the
//! values of the rule's `equal` labels, so that asking for each of n alerts
//! costs O(n × rules), not O(n²).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use super::fingerprint;
use super::matchers::{go_quote, MatchOp, Matcher, Matchers};
use super::route::{deprecated_matchers, RouteError};

/// The labels that tell apart the contract's alerts of one name: a critical
/// alert mutes only the warning about the same thing.
const DEFAULT_EQUAL: [&str; 8] = [
    "alertname",
    "provider",
    "target",
    "pool",
    "account",
    "product",
    "ip",
    "package_id",
];

/// An inhibition rule as written in the configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibitRule {
    /// An optional name, for people (Alertmanager has it too).
    #[serde(default)]
    pub name: String,
    /// What a muting alert matches, in Alertmanager's matcher syntax.
    #[serde(default)]
    pub source_matchers: Vec<String>,
    /// What a muted alert matches.
    #[serde(default)]
    pub target_matchers: Vec<String>,
    /// Labels whose values must be the same in both (a missing label is empty).
    #[serde(default)]
    pub equal: Vec<String>,
    /// Deprecated equality matchers for the source, still read.
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    /// Deprecated regex matchers for the source, still read.
    #[serde(default)]
    pub source_match_re: BTreeMap<String, String>,
    /// Deprecated equality matchers for the target, still read.
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    /// Deprecated regex matchers for the target, still read.
    #[serde(default)]
    pub target_match_re: BTreeMap<String, String>,
}

impl RawInhibitRule {
    /// Checks the rule written at `inhibit_rules[index]`: every matcher must
    /// parse, deprecated maps must use classic label names and valid regexes,
    /// `equal` names must not be empty. As in Alertmanager, a side without
    /// matchers matches every alert.
    pub fn validate(&self, index: usize) -> Result<InhibitRule, RouteError> {
        let path = ["inhibit_rules".to_owned(), format!("[{index}]")];
        let side = |key: &str, lines: &[String], equal, regex| {
            let mut matchers = deprecated_matchers(&path, equal, regex)?;
            for (i, line) in lines.iter().enumerate() {
                let parsed = Matchers::parse(line)
                    .map_err(|e| RouteError::at(&path, &[key, &format!("[{i}]")], e))?;
                parsed.into_iter().for_each(|m| matchers.push(m));
            }
            matchers.sort();
            Ok::<_, RouteError>(matchers)
        };
        let source = side(
            "source_matchers",
            &self.source_matchers,
            ("source_match", &self.source_match),
            ("source_match_re", &self.source_match_re),
        )?;
        let target = side(
            "target_matchers",
            &self.target_matchers,
            ("target_match", &self.target_match),
            ("target_match_re", &self.target_match_re),
        )?;
        let mut equal = BTreeSet::new();
        for (i, name) in self.equal.iter().enumerate() {
            if name.is_empty() {
                return Err(RouteError::at(
                    &path,
                    &["equal", &format!("[{i}]")],
                    format!("invalid label name {} in equal list", go_quote(name)),
                ));
            }
            equal.insert(name.clone());
        }
        Ok(InhibitRule {
            name: self.name.clone(),
            source,
            target,
            equal: equal.into_iter().collect(),
        })
    }
}

/// Checks every rule of an `inhibit_rules` list.
pub fn validate_rules(raw: &[RawInhibitRule]) -> Result<Vec<InhibitRule>, RouteError> {
    raw.iter().enumerate().map(|(i, r)| r.validate(i)).collect()
}

/// A validated inhibition rule.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    name: String,
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
}

impl InhibitRule {
    /// The contract's default, used when `inhibit_rules` is not written: a
    /// critical alert mutes its warning twin (`severity="critical"` mutes
    /// `severity="warning"` with equal `alertname`, `provider`, `target`,
    /// `pool`, `account`, `product`, `ip` and `package_id`).
    pub fn default_rules() -> Vec<InhibitRule> {
        let severity = |value: &str| -> Matchers {
            vec![Matcher::new("severity", MatchOp::Equal, value).expect("an equality matcher")]
                .into()
        };
        let mut equal: Vec<String> = DEFAULT_EQUAL.iter().map(|s| (*s).to_owned()).collect();
        equal.sort();
        vec![InhibitRule {
            name: String::new(),
            source: severity("critical"),
            target: severity("warning"),
            equal,
        }]
    }

    /// The rule's name, empty when it has none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What a muting alert matches (sorted as Alertmanager sorts them).
    pub fn source(&self) -> &Matchers {
        &self.source
    }

    /// What a muted alert matches.
    pub fn target(&self) -> &Matchers {
        &self.target
    }

    /// The labels that must be equal, sorted, each once.
    pub fn equal(&self) -> &[String] {
        &self.equal
    }

    /// The index key of an alert for this rule: the values of the `equal`
    /// labels (missing = empty), each followed by the byte 0xff, which UTF-8
    /// text never holds, so different values never share a key.
    fn equal_key(&self, labels: &BTreeMap<String, String>) -> Vec<u8> {
        let mut key = Vec::new();
        for name in &self.equal {
            key.extend_from_slice(labels.get(name).map_or("", String::as_str).as_bytes());
            key.push(0xff);
        }
        key
    }
}

/// The inhibition rules in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
}

/// The firing alerts that can mute others, indexed by rule and by their
/// `equal` values; built by [`Inhibitor::sources`] once per set of firing
/// alerts, then asked about each alert.
#[derive(Debug)]
pub struct Sources<'a, 'f> {
    rules: &'a [InhibitRule],
    by_rule: Vec<HashMap<Vec<u8>, Bucket<'f>>>,
}

/// The first source (in the order given) with one `equal` key, and the first
/// that does not also match the rule's target side, which is the one that
/// may mute an alert matching both sides.
#[derive(Debug)]
struct Bucket<'f> {
    first: &'f BTreeMap<String, String>,
    first_source_only: Option<&'f BTreeMap<String, String>>,
}

impl Inhibitor {
    /// An inhibitor applying `rules` in order.
    pub fn new(rules: Vec<InhibitRule>) -> Inhibitor {
        Inhibitor { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &[InhibitRule] {
        &self.rules
    }

    /// Indexes the alerts that fire now (only firing alerts mute), in O(n ×
    /// rules). When several sources could mute an alert, the first in
    /// `firing` order is named.
    pub fn sources<'f>(&self, firing: &[&'f BTreeMap<String, String>]) -> Sources<'_, 'f> {
        let by_rule = self
            .rules
            .iter()
            .map(|rule| {
                let mut index: HashMap<Vec<u8>, Bucket<'f>> = HashMap::new();
                for &alert in firing.iter().filter(|a| rule.source.matches(a)) {
                    let source_only = !rule.target.matches(alert);
                    let bucket = index.entry(rule.equal_key(alert)).or_insert(Bucket {
                        first: alert,
                        first_source_only: None,
                    });
                    if source_only && bucket.first_source_only.is_none() {
                        bucket.first_source_only = Some(alert);
                    }
                }
                index
            })
            .collect();
        Sources {
            rules: &self.rules,
            by_rule,
        }
    }

    /// [`Sources::inhibited_by`] for one alert (indexes `firing` each time;
    /// for many alerts, index once with [`Inhibitor::sources`]).
    pub fn inhibited_by(
        &self,
        firing: &[&BTreeMap<String, String>],
        target: &BTreeMap<String, String>,
    ) -> Vec<String> {
        self.sources(firing).inhibited_by(target)
    }
}

impl Sources<'_, '_> {
    /// The fingerprints of the firing alerts that mute an alert with labels
    /// `target`; empty when nothing mutes it. As Alertmanager's `Mutes`: the
    /// rules are tried in order, the first whose target side matches and that
    /// has a source with the same `equal` values names that source, so the
    /// list holds one fingerprint at most (Alertmanager's `inhibitedBy`).
    /// When `target` matches the source side of the rule too, only a source
    /// that does not match the target side mutes it: an alert never mutes
    /// itself, nor does one of two alike alerts mute the other.
    pub fn inhibited_by(&self, target: &BTreeMap<String, String>) -> Vec<String> {
        for (rule, index) in self.rules.iter().zip(&self.by_rule) {
            if index.is_empty() || !rule.target.matches(target) {
                continue;
            }
            let Some(bucket) = index.get(&rule.equal_key(target)) else {
                continue;
            };
            let source = if rule.source.matches(target) {
                bucket.first_source_only
            } else {
                Some(bucket.first)
            };
            if let Some(source) = source {
                // Named only when it mutes: most sources never do.
                return vec![fingerprint(source)];
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse(yaml: &str) -> Vec<RawInhibitRule> {
        match crate::yaml::parse::<Vec<RawInhibitRule>>(yaml) {
            Ok((_, raw)) => raw,
            Err(e) => panic!("line {}: {}", e.line, e.message),
        }
    }

    /// Alertmanager's `TestInhibitRuleMatches`: two rules, one source each;
    /// the second source matches both sides of its rule.
    #[test]
    fn mutes_as_alertmanagers_own_test() {
        let rules = validate_rules(&parse(
            r#"
- source_match: {s1: "1"}
  target_match: {t1: "1"}
  equal: [e]
- source_matchers: ['s2="1"']
  target_matchers: ['t2="1"']
  equal: [e]
"#,
        ))
        .unwrap();
        let inhibitor = Inhibitor::new(rules);
        let source1 = labels(&[("s1", "1"), ("t1", "2"), ("e", "1")]);
        let source2 = labels(&[("s2", "1"), ("t2", "1"), ("e", "1")]);
        let sources = inhibitor.sources(&[&source1, &source2]);
        /// A target's labels and the source that mutes it.
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Option<&'a BTreeMap<String, String>>,
        );
        let cases: &[Case] = &[
            (&[("t1", "1"), ("e", "1")], Some(&source1)),
            (&[("t2", "1"), ("e", "1")], Some(&source2)),
            (&[("t1", "1"), ("t3", "1"), ("e", "1")], Some(&source1)),
            (&[("t1", "1"), ("t2", "1"), ("e", "1")], Some(&source1)),
            (&[("t1", "0"), ("e", "1")], None),
            // Both sides of rule 1: muted, source1 matches only the source side.
            (&[("s1", "1"), ("t1", "1"), ("e", "1")], Some(&source1)),
            // Both sides of rule 2: source2 matches both sides too, no mute.
            (&[("s2", "1"), ("t2", "1"), ("e", "1")], None),
            (&[("t1", "1"), ("e", "0")], None),
        ];
        for (target, want) in cases {
            let target = labels(target);
            let want: Vec<String> = want.iter().map(|l| fingerprint(l)).collect();
            assert_eq!(sources.inhibited_by(&target), want, "{target:?}");
        }
    }

    #[test]
    fn an_alert_never_mutes_itself() {
        // Alertmanager's example of a rule with overlapping sides: every
        // alert with a severity mutes lower ones...
        let rules = validate_rules(&parse(
            "- source_matchers: [severity=~\"critical|warning\"]\n  target_matchers: [severity=~\"warning|info\"]\n  equal: [alertname]\n",
        ))
        .unwrap();
        let inhibitor = Inhibitor::new(rules);
        let warning = labels(&[("alertname", "A"), ("severity", "warning")]);
        let info = labels(&[("alertname", "A"), ("severity", "info")]);
        let critical = labels(&[("alertname", "A"), ("severity", "critical")]);
        // A warning alone matches both sides: it does not mute itself.
        assert!(inhibitor.inhibited_by(&[&warning], &warning).is_empty());
        // It mutes the info.
        assert_eq!(
            inhibitor.inhibited_by(&[&warning], &info),
            [fingerprint(&warning)]
        );
        // A critical (source side only) mutes the warning, whatever the order.
        for firing in [[&warning, &critical], [&critical, &warning]] {
            let sources = inhibitor.sources(&firing);
            assert_eq!(sources.inhibited_by(&warning), [fingerprint(&critical)]);
            assert!(sources.inhibited_by(&critical).is_empty());
        }
    }

    #[test]
    fn equal_labels_compare_missing_as_empty() {
        let inhibitor = Inhibitor::new(InhibitRule::default_rules());
        let critical = labels(&[
            ("alertname", "ProxyTrafficLow"),
            ("severity", "critical"),
            ("provider", "ipweb"),
            ("target", "t1"),
            ("pool", "residential"),
        ]);
        let mut warning = critical.clone();
        warning.insert("severity".into(), "warning".into());
        let sources = inhibitor.sources(&[&critical]);
        assert_eq!(sources.inhibited_by(&warning), [fingerprint(&critical)]);
        // A label only the target has differs from the source's missing one.
        let mut other_account = warning.clone();
        other_account.insert("account".into(), "sub1".into());
        assert!(sources.inhibited_by(&other_account).is_empty());
        // An empty value equals a missing label.
        let mut empty_account = warning.clone();
        empty_account.insert("account".into(), String::new());
        assert_eq!(
            sources.inhibited_by(&empty_account),
            [fingerprint(&critical)]
        );
        // Another pool, another target, another name: not muted.
        for (name, value) in [("pool", "dc"), ("target", "t2"), ("alertname", "X")] {
            let mut other = warning.clone();
            other.insert(name.into(), value.into());
            assert!(sources.inhibited_by(&other).is_empty(), "{name}");
        }
        // A label outside `equal` does not matter.
        let mut extra = warning.clone();
        extra.insert("status".into(), "x".into());
        assert_eq!(sources.inhibited_by(&extra), [fingerprint(&critical)]);
        // Only the firing alerts handed in mute: none, nothing muted.
        assert!(inhibitor.inhibited_by(&[], &warning).is_empty());
        // A critical is never muted by the default rule.
        assert!(sources.inhibited_by(&critical).is_empty());
    }

    #[test]
    fn no_equal_labels_any_source_mutes() {
        let rules = validate_rules(&parse("- source_matchers: [a=b]\n")).unwrap();
        let inhibitor = Inhibitor::new(rules);
        let source = labels(&[("a", "b")]);
        // No target matchers: every alert is a target, the source itself too,
        // but it matches both sides and so does not mute itself.
        let other = labels(&[("x", "y")]);
        let sources = inhibitor.sources(&[&source]);
        assert_eq!(sources.inhibited_by(&other), [fingerprint(&source)]);
        assert!(sources.inhibited_by(&source).is_empty());
    }

    #[test]
    fn rules_are_checked_with_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "- source_matchers: ['a=\"b']\n",
                "inhibit_rules[0].source_matchers[0]",
                "matcher value contains unescaped double quote",
            ),
            (
                "- {}\n- target_matchers: [a=b, 'c=~\"(\"']\n",
                "inhibit_rules[1].target_matchers[1]",
                r#"invalid regular expression "(""#,
            ),
            (
                "- source_match: {bad-name: x}\n",
                "inhibit_rules[0].source_match.bad-name",
                r#"invalid label name "bad-name""#,
            ),
            (
                "- target_match_re: {x: '['}\n",
                "inhibit_rules[0].target_match_re.x",
                r#"invalid regular expression "[""#,
            ),
            (
                "- equal: [a, '']\n",
                "inhibit_rules[0].equal[1]",
                r#"invalid label name "" in equal list"#,
            ),
        ];
        for (yaml, key, message) in cases {
            let e = validate_rules(&parse(yaml)).unwrap_err();
            assert_eq!(e.key(), *key, "{yaml}");
            assert!(e.message.starts_with(message), "{yaml}: {e}");
        }
        assert!(crate::yaml::parse::<Vec<RawInhibitRule>>("- source: x\n").is_err());
        // The contract's example reads as the default rule.
        let written = validate_rules(&parse(
            "- source_matchers: ['severity=\"critical\"']\n  target_matchers: ['severity=\"warning\"']\n  equal: [alertname, provider, target, pool, account, product, ip, package_id]\n",
        ))
        .unwrap();
        assert_eq!(written, InhibitRule::default_rules());
        // Deprecated maps and matchers together, sorted as Alertmanager.
        let rule = &validate_rules(&parse(
            "- source_match: {b: '1'}\n  source_match_re: {a: 'x.*'}\n  source_matchers: ['c=\"2\"']\n  name: r\n",
        ))
        .unwrap()[0];
        assert_eq!(rule.source().to_string(), r#"{a=~"^(?:x.*)$",b="1",c="2"}"#);
        assert_eq!(rule.name(), "r");
    }

    #[test]
    fn ten_thousand_alerts_index_in_linear_time() {
        let inhibitor = Inhibitor::new(InhibitRule::default_rules());
        let alerts: Vec<BTreeMap<String, String>> = (0..10_000)
            .map(|i| {
                let severity = if i % 2 == 0 { "critical" } else { "warning" };
                labels(&[
                    ("alertname", "ProxyTrafficLow"),
                    ("severity", severity),
                    ("target", &format!("t{}", i / 2)),
                ])
            })
            .collect();
        let firing: Vec<&BTreeMap<String, String>> = alerts.iter().collect();
        let started = std::time::Instant::now();
        let sources = inhibitor.sources(&firing);
        let muted = alerts
            .iter()
            .filter(|a| !sources.inhibited_by(a).is_empty())
            .count();
        assert_eq!(muted, 5_000);
        // Quadratic work (10^8 comparisons of label maps) would take far longer.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
