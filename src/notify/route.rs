//! The route tree: which receivers an alert goes to, grouped by which labels,
//! on which timing. Alertmanager's `route:` with the same keys, defaults and
//! meaning (`config/config.go`'s `Route`, `dispatch/route.go`).
//!
//! This module owns the `route` section as written ([`RawRoute`]), its
//! validation with the key path of each mistake ([`RouteError`]), the validated
//! tree ([`Route`], [`RouteNode`]), the default when no route is written
//! ([`Route::without_config`]), matching an alert against the tree and the
//! identity of the group an alert falls in ([`RouteNode::group_key`]). It is
//! pure: no I/O, no clock.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::matchers::{go_quote, MatchOp, Matcher, Matchers};

/// A route's timers (Alertmanager's `group_wait`, `group_interval`,
/// `repeat_interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a new group waits before its first notification.
    pub group_wait: Duration,
    /// How long a group waits before telling of changes (new or resolved alerts).
    pub group_interval: Duration,
    /// How long a group waits before repeating an unchanged notification.
    pub repeat_interval: Duration,
}

impl Timing {
    /// Alertmanager's defaults for a root route: 30s, 5m, 4h.
    pub const ALERTMANAGER: Timing = Timing {
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(5 * 60),
        repeat_interval: Duration::from_secs(4 * 3600),
    };
}

/// A route as written in the configuration (the root `route:` and each of its
/// `routes:`). Every key is optional; [`RawRoute::validate`] checks them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// The receiver's name; empty or absent: the parent's.
    #[serde(default)]
    pub receiver: String,
    /// The grouping labels; `['...']` groups by every label, `[]` puts all
    /// alerts of the route in one group; absent: the parent's.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Absent: the parent's.
    #[serde(default, with = "humantime_serde")]
    pub group_wait: Option<Duration>,
    /// Absent: the parent's; never zero.
    #[serde(default, with = "humantime_serde")]
    pub group_interval: Option<Duration>,
    /// Absent: the parent's; never zero.
    #[serde(default, with = "humantime_serde")]
    pub repeat_interval: Option<Duration>,
    /// Matchers in Alertmanager's syntax; a line may hold several
    /// (`'{a="b", c=~"d"}'`). All must match.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Deprecated equality matchers (`label: value`), still read.
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    /// Deprecated regex matchers (`label: regex`), still read.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Whether an alert that matched this route goes on to the next siblings.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// The child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// A mistake in the routing configuration (route tree or inhibition rules):
/// where, as the path of keys (`["route", "routes", "[1]", "matchers", "[0]"]`),
/// and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// The keys down to the mistake; a list item is `[i]`.
    pub path: Vec<String>,
    /// What is wrong.
    pub message: String,
}

impl RouteError {
    pub(crate) fn at(path: &[String], keys: &[&str], message: impl Into<String>) -> RouteError {
        let mut path = path.to_vec();
        path.extend(keys.iter().map(|k| (*k).to_owned()));
        RouteError {
            path,
            message: message.into(),
        }
    }

    /// The path as one key: `route.routes[1].matchers[0]`.
    pub fn key(&self) -> String {
        let mut key = String::new();
        for step in &self.path {
            if !key.is_empty() && !step.starts_with('[') {
                key.push('.');
            }
            key.push_str(step);
        }
        key
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key(), self.message)
    }
}

impl std::error::Error for RouteError {}

/// Which labels make up a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// Every label of the alert (`group_by: ['...']`): one group per alert.
    All,
    /// These labels (those the alert has); none: one group for the route.
    By(Vec<String>),
}

/// A validated route tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    root: RouteNode,
}

/// One node of the tree, with every setting resolved (its own or inherited).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteNode {
    receiver: String,
    grouping: Grouping,
    timing: Timing,
    matchers: Matchers,
    continue_: bool,
    routes: Vec<RouteNode>,
    key: String,
    id: String,
}

/// What a node passes down to its children.
struct Inherited<'a> {
    receiver: &'a str,
    grouping: &'a Grouping,
    timing: Timing,
    key: Option<&'a str>,
    id: Option<&'a str>,
}

impl RawRoute {
    /// Checks the tree as Alertmanager does and resolves what each node
    /// inherits. `receivers` are the configured receivers' names; `defaults`
    /// are the root's timers where it leaves them out (Alertmanager's
    /// [`Timing::ALERTMANAGER`] for a written route).
    ///
    /// Refused: a root without a receiver or with matchers, a receiver that is
    /// not configured, a bad matcher or label name, `...` with other labels in
    /// `group_by`, a label twice in `group_by`, a zero `group_interval` or
    /// `repeat_interval`. A `repeat_interval` shorter than the
    /// `group_interval` is allowed, as in Alertmanager ([`Route::warnings`]).
    pub fn validate(&self, receivers: &[&str], defaults: Timing) -> Result<Route, RouteError> {
        let path = ["route".to_owned()];
        if self.receiver.is_empty() {
            return Err(RouteError::at(
                &path,
                &["receiver"],
                "root route must specify a default receiver",
            ));
        }
        for (key, empty) in [
            ("matchers", self.matchers.is_empty()),
            ("match", self.match_.is_empty()),
            ("match_re", self.match_re.is_empty()),
        ] {
            if !empty {
                return Err(RouteError::at(
                    &path,
                    &[key],
                    "root route must not have any matchers",
                ));
            }
        }
        let inherited = Inherited {
            receiver: "",
            grouping: &Grouping::By(Vec::new()),
            timing: defaults,
            key: None,
            id: None,
        };
        let root = self.build(&path, &inherited, 0, receivers)?;
        Ok(Route { root })
    }

    /// The route's timing, each value not given inherited; intervals not zero.
    fn timing(&self, path: &[String], inherited: Timing) -> Result<Timing, RouteError> {
        let interval = |key: &str, value: Option<Duration>, parent: Duration| match value {
            Some(d) if d.is_zero() => Err(RouteError::at(
                path,
                &[key],
                format!("{key} cannot be zero"),
            )),
            value => Ok(value.unwrap_or(parent)),
        };
        Ok(Timing {
            group_wait: self.group_wait.unwrap_or(inherited.group_wait),
            group_interval: interval(
                "group_interval",
                self.group_interval,
                inherited.group_interval,
            )?,
            repeat_interval: interval(
                "repeat_interval",
                self.repeat_interval,
                inherited.repeat_interval,
            )?,
        })
    }

    /// Every matcher the route has (`match`, `match_re`, `matchers`), sorted.
    fn matchers(&self, path: &[String]) -> Result<Matchers, RouteError> {
        let mut matchers =
            deprecated_matchers(path, ("match", &self.match_), ("match_re", &self.match_re))?;
        for (i, line) in self.matchers.iter().enumerate() {
            let parsed = Matchers::parse(line)
                .map_err(|e| RouteError::at(path, &["matchers", &format!("[{i}]")], e))?;
            parsed.into_iter().for_each(|m| matchers.push(m));
        }
        matchers.sort();
        Ok(matchers)
    }

    fn build(
        &self,
        path: &[String],
        parent: &Inherited,
        index: usize,
        receivers: &[&str],
    ) -> Result<RouteNode, RouteError> {
        let receiver = if self.receiver.is_empty() {
            parent.receiver.to_owned()
        } else if receivers.contains(&self.receiver.as_str()) {
            self.receiver.clone()
        } else {
            return Err(RouteError::at(
                path,
                &["receiver"],
                format!("unknown receiver {}", go_quote(&self.receiver)),
            ));
        };
        let grouping = match &self.group_by {
            None => parent.grouping.clone(),
            Some(list) => grouping(path, list)?,
        };
        let timing = self.timing(path, parent.timing)?;
        let matchers = self.matchers(path)?;
        let key = match parent.key {
            Some(parent) => format!("{parent}/{matchers}"),
            None => matchers.to_string(),
        };
        let id = match parent.id {
            Some(parent) => format!("{parent}/{matchers}/{index}"),
            None => matchers.to_string(),
        };
        let mut routes = Vec::with_capacity(self.routes.len());
        {
            let inherited = Inherited {
                receiver: &receiver,
                grouping: &grouping,
                timing,
                key: Some(&key),
                id: Some(&id),
            };
            for (i, child) in self.routes.iter().enumerate() {
                let mut child_path = path.to_vec();
                child_path.extend(["routes".to_owned(), format!("[{i}]")]);
                routes.push(child.build(&child_path, &inherited, i, receivers)?);
            }
        }
        Ok(RouteNode {
            receiver,
            grouping,
            timing,
            matchers,
            continue_: self.continue_,
            routes,
            key,
            id,
        })
    }
}

/// `group_by` as written, checked as Alertmanager does.
fn grouping(path: &[String], list: &[String]) -> Result<Grouping, RouteError> {
    let mut all = false;
    let mut labels: Vec<String> = Vec::with_capacity(list.len());
    for (i, label) in list.iter().enumerate() {
        let at = |message: String| RouteError::at(path, &["group_by", &format!("[{i}]")], message);
        if label == "..." {
            all = true;
        } else if label.is_empty() {
            return Err(at(format!(
                "invalid label name {} in group_by list",
                go_quote(label)
            )));
        } else if labels.contains(label) {
            return Err(at(format!(
                "duplicated label {} in group_by",
                go_quote(label)
            )));
        } else {
            labels.push(label.clone());
        }
    }
    match (all, labels.is_empty()) {
        (true, true) => Ok(Grouping::All),
        (true, false) => Err(RouteError::at(
            path,
            &["group_by"],
            "cannot have wildcard group_by (`...`) and other labels at the same time",
        )),
        (false, _) => Ok(Grouping::By(labels)),
    }
}

/// The deprecated `match`/`match_re` (or `source_match`/`source_match_re`, ...)
/// maps as matchers, as Alertmanager converts them: names must be classic
/// label names; a regex becomes the value `^(?:re)$`, which Alertmanager then
/// anchors once more (the same meaning; it shows in route keys).
pub(crate) fn deprecated_matchers(
    path: &[String],
    (equal_key, equal): (&str, &BTreeMap<String, String>),
    (regex_key, regex): (&str, &BTreeMap<String, String>),
) -> Result<Matchers, RouteError> {
    let mut matchers = Matchers::default();
    for (key, map, op) in [
        (equal_key, equal, MatchOp::Equal),
        (regex_key, regex, MatchOp::Regex),
    ] {
        for (name, value) in map {
            let at = |message: String| RouteError::at(path, &[key, name.as_str()], message);
            if !is_classic_label_name(name) {
                return Err(at(format!("invalid label name {}", go_quote(name))));
            }
            let matcher = if op == MatchOp::Regex {
                Matcher::new(name, op, value).map_err(at)?;
                Matcher::new(name, op, format!("^(?:{value})$"))
            } else {
                Matcher::new(name, op, value)
            };
            matchers.push(matcher.map_err(at)?);
        }
    }
    Ok(matchers)
}

/// Prometheus' classic label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_classic_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Route {
    /// The route used when the configuration writes none (the contract's
    /// default): every alert goes to every receiver, grouped by
    /// `[alertname, target]`, with `timing`. Modelled as a root without a
    /// receiver and one child per receiver, without matchers and with
    /// `continue: true`, so each alert matches every child, in the order of
    /// `receivers`; with no receivers, nothing matches.
    pub fn without_config(receivers: &[&str], timing: Timing) -> Route {
        let root_key = Matchers::default().to_string();
        let grouping = Grouping::By(vec!["alertname".to_owned(), "target".to_owned()]);
        let routes = receivers
            .iter()
            .enumerate()
            .map(|(i, receiver)| RouteNode {
                receiver: (*receiver).to_owned(),
                grouping: grouping.clone(),
                timing,
                matchers: Matchers::default(),
                continue_: true,
                routes: Vec::new(),
                key: format!("{root_key}/{root_key}"),
                id: format!("{root_key}/{root_key}/{i}"),
            })
            .collect();
        Route {
            root: RouteNode {
                receiver: String::new(),
                grouping,
                timing,
                matchers: Matchers::default(),
                continue_: false,
                routes,
                key: root_key.clone(),
                id: root_key,
            },
        }
    }

    /// The nodes an alert with these labels is routed to, as Alertmanager's
    /// `Route.Match`: depth first, children in order; a matching child ends
    /// the search among its siblings unless it has `continue: true`; a node
    /// whose children all miss is itself the match.
    pub fn matching(&self, labels: &BTreeMap<String, String>) -> Vec<&RouteNode> {
        let mut found = Vec::new();
        self.root.collect(labels, &mut found);
        // Only the root of a `without_config` tree has no receiver.
        found.retain(|node| !node.receiver.is_empty());
        found
    }

    /// The root node.
    pub fn root(&self) -> &RouteNode {
        &self.root
    }

    /// Every node, depth first, the root first (Alertmanager's `Walk`).
    pub fn nodes(&self) -> Vec<&RouteNode> {
        let mut nodes = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(node) = stack.pop() {
            nodes.push(node);
            stack.extend(node.routes.iter().rev());
        }
        nodes
    }

    /// What Alertmanager logs as a warning when it loads this tree: a node
    /// whose `repeat_interval` is shorter than its `group_interval` (its
    /// notifications then repeat only every `group_interval`).
    pub fn warnings(&self) -> Vec<String> {
        self.nodes()
            .into_iter()
            .filter(|n| n.timing.repeat_interval < n.timing.group_interval)
            .map(|n| {
                format!(
                    "route {}: repeat_interval {} is less than group_interval {}; notifications will not repeat until the next group_interval",
                    n.key,
                    humantime::format_duration(n.timing.repeat_interval),
                    humantime::format_duration(n.timing.group_interval),
                )
            })
            .collect()
    }
}

impl RouteNode {
    fn collect<'a>(
        &'a self,
        labels: &BTreeMap<String, String>,
        found: &mut Vec<&'a RouteNode>,
    ) -> bool {
        if !self.matchers.matches(labels) {
            return false;
        }
        let before = found.len();
        for child in &self.routes {
            if child.collect(labels, found) && !child.continue_ {
                break;
            }
        }
        if found.len() == before {
            found.push(self);
        }
        true
    }

    /// The receiver's name (the node's own or inherited).
    pub fn receiver(&self) -> &str {
        &self.receiver
    }

    /// The timers (the node's own or inherited).
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The grouping labels (the node's own or inherited).
    pub fn grouping(&self) -> &Grouping {
        &self.grouping
    }

    /// The node's own matchers (its parents' are not repeated), sorted as
    /// Alertmanager sorts them.
    pub fn matchers(&self) -> &Matchers {
        &self.matchers
    }

    /// Whether an alert that matched this node goes on to the next siblings.
    pub fn continues(&self) -> bool {
        self.continue_
    }

    /// The child routes.
    pub fn routes(&self) -> &[RouteNode] {
        &self.routes
    }

    /// Alertmanager's route key: the matchers of each node from the root,
    /// joined by `/` (`{}/{severity="critical"}`). Siblings with the same
    /// matchers share it.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Alertmanager's route ID: the key with each node's index among its
    /// siblings (`{}/{severity="critical"}/0`); unique in the tree, and the
    /// same as long as the tree is written the same.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The group an alert with these labels falls in on this node: its
    /// identity, and its labels (the alert's labels named in `group_by`, all of
    /// them for `...`). The identity is the route's [`id`](Self::id), `:`, and
    /// the group's labels as Alertmanager writes a label set
    /// (`{alertname="X", target="t"}`). Alertmanager's own group key puts the
    /// route [`key`](Self::key) first and keeps groups apart per route; the ID
    /// makes this identity unique by itself, for one receiver or several.
    pub fn group_key(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> (String, BTreeMap<String, String>) {
        let group: BTreeMap<String, String> = match &self.grouping {
            Grouping::All => labels.clone(),
            Grouping::By(names) => names
                .iter()
                .filter_map(|n| labels.get_key_value(n))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        (format!("{}:{}", self.id, label_set_string(&group)), group)
    }
}

/// A label set as Alertmanager writes one (prometheus/common's
/// `LabelSet.String`): `{a="1", b="2"}`, names sorted, values Go-quoted.
pub fn label_set_string(labels: &BTreeMap<String, String>) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&go_quote(value));
    }
    out.push('}');
    out
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

    fn parse(yaml: &str) -> RawRoute {
        match crate::yaml::parse::<RawRoute>(yaml) {
            Ok((_, raw)) => raw,
            Err(e) => panic!("line {}: {}", e.line, e.message),
        }
    }

    const RECEIVERS: &[&str] = &[
        "notify-def",
        "notify-A",
        "notify-testing",
        "notify-productionA",
        "notify-productionB",
        "notify-BC",
    ];

    /// The tree of Alertmanager's own routing test (dispatch/route_test.go).
    const TREE: &str = r#"
receiver: 'notify-def'
routes:
- match:
    owner: 'team-A'
  receiver: 'notify-A'
  routes:
  - match:
      env: 'testing'
    receiver: 'notify-testing'
    group_by: [...]
  - match:
      env: "production"
    receiver: 'notify-productionA'
    group_wait: 1m
    continue: true
  - match_re:
      env: "produ.*"
      job: ".*"
    receiver: 'notify-productionB'
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
    group_by: ['job']
- match_re:
    owner: 'team-(B|C)'
  group_by: ['foo', 'bar']
  group_wait: 2m
  receiver: 'notify-BC'
- match:
    group_by: 'role'
  group_by: ['role']
  routes:
  - match:
      env: 'testing'
    receiver: 'notify-testing'
    routes:
    - match:
        wait: 'long'
      group_wait: 2m
"#;

    /// A route's receiver, grouping, timing and key, as a test expects them.
    type Want<'a> = (&'a str, Grouping, Timing, &'a str);

    /// Alertmanager's own routing cases (dispatch/route_test.go) for [`TREE`]:
    /// labels, and the routes they reach.
    fn alertmanagers_cases() -> Vec<(BTreeMap<String, String>, Vec<Want<'static>>)> {
        let def = Timing::ALERTMANAGER;
        let by = |names: &[&str]| Grouping::By(names.iter().map(|s| (*s).to_owned()).collect());
        let secs = Duration::from_secs;
        vec![
            (
                labels(&[("owner", "team-A")]),
                vec![("notify-A", by(&[]), def, r#"{}/{owner="team-A"}"#)],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "unset")]),
                vec![("notify-A", by(&[]), def, r#"{}/{owner="team-A"}"#)],
            ),
            (
                labels(&[("owner", "team-C")]),
                vec![(
                    "notify-BC",
                    by(&["foo", "bar"]),
                    Timing {
                        group_wait: secs(120),
                        ..def
                    },
                    r#"{}/{owner=~"^(?:team-(B|C))$"}"#,
                )],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "testing")]),
                vec![(
                    "notify-testing",
                    Grouping::All,
                    def,
                    r#"{}/{owner="team-A"}/{env="testing"}"#,
                )],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "production")]),
                vec![
                    (
                        "notify-productionA",
                        by(&[]),
                        Timing {
                            group_wait: secs(60),
                            ..def
                        },
                        r#"{}/{owner="team-A"}/{env="production"}"#,
                    ),
                    (
                        "notify-productionB",
                        by(&["job"]),
                        Timing {
                            group_wait: secs(30),
                            group_interval: secs(300),
                            repeat_interval: secs(3600),
                        },
                        r#"{}/{owner="team-A"}/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}"#,
                    ),
                ],
            ),
            (
                labels(&[("group_by", "role")]),
                vec![("notify-def", by(&["role"]), def, r#"{}/{group_by="role"}"#)],
            ),
            (
                labels(&[("env", "testing"), ("group_by", "role")]),
                vec![(
                    "notify-testing",
                    by(&["role"]),
                    def,
                    r#"{}/{group_by="role"}/{env="testing"}"#,
                )],
            ),
            (
                labels(&[("env", "testing"), ("group_by", "role"), ("wait", "long")]),
                vec![(
                    "notify-testing",
                    by(&["role"]),
                    Timing {
                        group_wait: secs(120),
                        ..def
                    },
                    r#"{}/{group_by="role"}/{env="testing"}/{wait="long"}"#,
                )],
            ),
            // Nothing below the root matches: the root itself.
            (
                labels(&[("owner", "team-Z")]),
                vec![("notify-def", by(&[]), def, "{}")],
            ),
        ]
    }

    #[test]
    fn routes_as_alertmanagers_own_test() {
        let tree = parse(TREE)
            .validate(RECEIVERS, Timing::ALERTMANAGER)
            .unwrap();
        for (alert, want) in alertmanagers_cases() {
            let got: Vec<Want> = tree
                .matching(&alert)
                .into_iter()
                .map(|n| (n.receiver(), n.grouping().clone(), n.timing(), n.key()))
                .collect();
            assert_eq!(got, want, "{alert:?}");
        }
    }

    #[test]
    fn ids_are_unique_and_nodes_walk_depth_first() {
        let tree = parse(TREE)
            .validate(RECEIVERS, Timing::ALERTMANAGER)
            .unwrap();
        let ids: Vec<&str> = tree.nodes().into_iter().map(RouteNode::id).collect();
        assert_eq!(
            ids,
            [
                "{}",
                r#"{}/{owner="team-A"}/0"#,
                r#"{}/{owner="team-A"}/0/{env="testing"}/0"#,
                r#"{}/{owner="team-A"}/0/{env="production"}/1"#,
                r#"{}/{owner="team-A"}/0/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}/2"#,
                r#"{}/{owner=~"^(?:team-(B|C))$"}/1"#,
                r#"{}/{group_by="role"}/2"#,
                r#"{}/{group_by="role"}/2/{env="testing"}/0"#,
                r#"{}/{group_by="role"}/2/{env="testing"}/0/{wait="long"}/0"#,
            ]
        );
        assert_eq!(tree.root().routes().len(), 3);
    }

    #[test]
    fn continue_goes_on_to_siblings_and_nested_routes_inherit() {
        let raw = parse(
            r#"
receiver: chat
group_by: [alertname, target]
group_wait: 10s
routes:
  - matchers: ['severity="critical"', 'target=~"lite-.*"']
    receiver: phone
    continue: true
  - matchers: ['{severity="critical", provider="ipweb"}']
    receiver: mail
    repeat_interval: 1h
    routes:
      - matchers: [pool=residential]
        group_by: ['...']
  - matchers: [severity=~"warning|critical"]
    receiver: hook
  - receiver: never
"#,
        );
        let tree = raw
            .validate(
                &["chat", "phone", "mail", "hook", "never"],
                Timing::ALERTMANAGER,
            )
            .unwrap();
        let receivers = |pairs: &[(&str, &str)]| -> Vec<String> {
            tree.matching(&labels(pairs))
                .into_iter()
                .map(|n| n.receiver().to_owned())
                .collect()
        };
        // `continue` on phone: on to the next siblings; mail does not continue.
        assert_eq!(
            receivers(&[
                ("severity", "critical"),
                ("target", "lite-1"),
                ("provider", "ipweb")
            ]),
            ["phone", "mail"]
        );
        assert_eq!(
            receivers(&[("severity", "critical"), ("target", "lite-1")]),
            ["phone", "hook"]
        );
        assert_eq!(receivers(&[("severity", "warning")]), ["hook"]);
        // The last child has no matchers: it catches the rest, the root never does.
        assert_eq!(receivers(&[("severity", "info")]), ["never"]);
        // The nested route inherits the receiver, timing it does not set, and
        // replaces the grouping.
        let alert = labels(&[
            ("severity", "critical"),
            ("provider", "ipweb"),
            ("pool", "residential"),
            ("alertname", "ProxyTrafficLow"),
        ]);
        let nodes = tree.matching(&alert);
        assert_eq!(nodes.len(), 1);
        let node = nodes[0];
        assert_eq!(node.receiver(), "mail");
        assert_eq!(node.grouping(), &Grouping::All);
        assert_eq!(
            node.timing(),
            Timing {
                group_wait: Duration::from_secs(10),
                group_interval: Duration::from_secs(300),
                repeat_interval: Duration::from_secs(3600),
            }
        );
        assert_eq!(
            node.key(),
            r#"{}/{provider="ipweb",severity="critical"}/{pool="residential"}"#
        );
        // `...`: the group is the alert's every label.
        let (key, group) = node.group_key(&alert);
        assert_eq!(group, alert);
        assert_eq!(
            key,
            r#"{}/{provider="ipweb",severity="critical"}/1/{pool="residential"}/0:{alertname="ProxyTrafficLow", pool="residential", provider="ipweb", severity="critical"}"#
        );
    }

    #[test]
    fn group_keys_take_the_group_by_labels_the_alert_has() {
        let tree = parse("receiver: a\ngroup_by: [alertname, target, missing]\n")
            .validate(&["a"], Timing::ALERTMANAGER)
            .unwrap();
        let alert = labels(&[("alertname", "X"), ("target", "t\"1"), ("pool", "p")]);
        let (key, group) = tree.matching(&alert)[0].group_key(&alert);
        assert_eq!(group, labels(&[("alertname", "X"), ("target", "t\"1")]));
        assert_eq!(key, r#"{}:{alertname="X", target="t\"1"}"#);
        // No group_by: one group for the route.
        let tree = parse("receiver: a\n")
            .validate(&["a"], Timing::ALERTMANAGER)
            .unwrap();
        let (key, group) = tree.root().group_key(&alert);
        assert!(group.is_empty());
        assert_eq!(key, "{}:{}");
        // An explicit empty list replaces the parent's grouping.
        let tree = parse("receiver: a\ngroup_by: [x]\nroutes:\n  - group_by: []\n")
            .validate(&["a"], Timing::ALERTMANAGER)
            .unwrap();
        assert_eq!(tree.root().routes()[0].grouping(), &Grouping::By(vec![]));
    }

    #[test]
    fn the_default_route_sends_everything_everywhere() {
        let timing = Timing {
            group_wait: Duration::ZERO,
            group_interval: Duration::from_secs(30),
            repeat_interval: Duration::from_secs(4 * 3600),
        };
        let tree = Route::without_config(&["am", "chat", "log"], timing);
        let alert = labels(&[("alertname", "A"), ("target", "t"), ("pool", "p")]);
        let nodes = tree.matching(&alert);
        let names: Vec<&str> = nodes.iter().map(|n| n.receiver()).collect();
        assert_eq!(names, ["am", "chat", "log"]);
        let keys: Vec<String> = nodes.iter().map(|n| n.group_key(&alert).0).collect();
        assert_eq!(
            keys,
            [
                r#"{}/{}/0:{alertname="A", target="t"}"#,
                r#"{}/{}/1:{alertname="A", target="t"}"#,
                r#"{}/{}/2:{alertname="A", target="t"}"#,
            ]
        );
        assert!(nodes.iter().all(|n| n.timing() == timing));
        assert!(Route::without_config(&[], timing)
            .matching(&alert)
            .is_empty());
    }

    #[test]
    fn the_root_takes_the_defaults_it_leaves_out() {
        let today = Timing {
            group_wait: Duration::ZERO,
            group_interval: Duration::from_secs(30),
            repeat_interval: Duration::from_secs(60),
        };
        let tree = parse("receiver: a\ngroup_interval: 1m\n")
            .validate(&["a"], today)
            .unwrap();
        assert_eq!(
            tree.root().timing(),
            Timing {
                group_interval: Duration::from_secs(60),
                ..today
            }
        );
        // group_wait may be zero; repeat_interval < group_interval is a warning.
        let tree = parse("receiver: a\ngroup_wait: 0s\nrepeat_interval: 1m\ngroup_interval: 5m\n")
            .validate(&["a"], Timing::ALERTMANAGER)
            .unwrap();
        assert_eq!(tree.root().timing().group_wait, Duration::ZERO);
        assert_eq!(tree.warnings().len(), 1, "{:?}", tree.warnings());
        assert!(tree.warnings()[0].contains("repeat_interval 1m is less than group_interval 5m"));
    }

    #[test]
    fn mistakes_are_refused_with_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("group_by: [a]\n", "route.receiver", "root route must specify a default receiver"),
            (
                "receiver: a\nmatchers: ['x=\"y\"']\n",
                "route.matchers",
                "root route must not have any matchers",
            ),
            (
                "receiver: a\nmatch: {x: y}\n",
                "route.match",
                "root route must not have any matchers",
            ),
            ("receiver: x\n", "route.receiver", r#"unknown receiver "x""#),
            (
                "receiver: a\nroutes:\n  - receiver: a\n  - receiver: b\n    routes:\n      - receiver: nope\n",
                "route.routes[1].routes[0].receiver",
                r#"unknown receiver "nope""#,
            ),
            (
                "receiver: a\nroutes:\n  - receiver: a\n  - matchers: ['a=\"b\"', 'c=~\"(\"']\n",
                "route.routes[1].matchers[1]",
                r#"invalid regular expression "(": "#,
            ),
            (
                "receiver: a\nroutes:\n  - matchers: ['a=\"b']\n",
                "route.routes[0].matchers[0]",
                r#"matcher value contains unescaped double quote: "b"#,
            ),
            (
                "receiver: a\nroutes:\n  - match: {bad-name: x}\n",
                "route.routes[0].match.bad-name",
                r#"invalid label name "bad-name""#,
            ),
            (
                "receiver: a\nroutes:\n  - match_re: {x: '['}\n",
                "route.routes[0].match_re.x",
                r#"invalid regular expression "[": "#,
            ),
            (
                "receiver: a\ngroup_by: ['...', alertname]\n",
                "route.group_by",
                "cannot have wildcard group_by (`...`) and other labels at the same time",
            ),
            (
                "receiver: a\ngroup_by: [alertname, target, alertname]\n",
                "route.group_by[2]",
                r#"duplicated label "alertname" in group_by"#,
            ),
            (
                "receiver: a\ngroup_by: ['']\n",
                "route.group_by[0]",
                r#"invalid label name "" in group_by list"#,
            ),
            (
                "receiver: a\ngroup_interval: 0s\n",
                "route.group_interval",
                "group_interval cannot be zero",
            ),
            (
                "receiver: a\nroutes:\n  - repeat_interval: 0s\n",
                "route.routes[0].repeat_interval",
                "repeat_interval cannot be zero",
            ),
        ];
        for (yaml, key, message) in cases {
            let e = parse(yaml)
                .validate(&["a", "b"], Timing::ALERTMANAGER)
                .unwrap_err();
            assert_eq!(e.key(), *key, "{yaml}");
            assert!(e.message.starts_with(message), "{yaml}: {e}");
            assert_eq!(e.to_string(), format!("{}: {}", e.key(), e.message));
        }
        // Keys Alertmanager has and this agent does not are refused at parse.
        let e = crate::yaml::parse::<RawRoute>("receiver: a\nmute_time_intervals: [x]\n")
            .err()
            .unwrap();
        assert!(e.message.contains("mute_time_intervals"), "{}", e.message);
    }
}
