//! Which trunk carries an outbound call, and what is dialled on it.
//!
//! Every call the switch places (an originated call, a transfer, a fallback
//! to a human) goes through the same ordered list of routes, the way
//! FreePBX's outbound routes and FreeSWITCH's gateway dialplans work: the
//! first route whose pattern matches the destination wins; it names trunks
//! in order of preference, rewrites the number for each (strip N leading
//! characters, prepend a string: providers disagree on `+39…`, `0039…` or
//! `39…`), and says which caller ID to present.
//!
//! If a trunk fails the call moves on to the next one, but only when the
//! failure is the trunk's and not the callee's answer:
//! [`should_fail_over`] says which. A 5xx (the trunk or the network behind
//! it is in trouble, RFC 3261 §21.5), a 408 or no response at all (the
//! trunk did not answer in time, §17.1.1.2 Timer B) move on; a 4xx such as
//! 404, 486 or 480 and a 6xx such as 603 are the far end's answer, and
//! trying another trunk would ring the same person again.
//!
//! Destinations are matched in the form they are given, which should be
//! E.164 from [`numbers`](crate::numbers) (`+390212345678`), so a route for
//! `+39` catches the number however it was written; `strip` counts the `+`.

use std::collections::HashSet;

use regex::Regex;
use serde::Deserialize;

use crate::config::{ConfigError, Validate};
use crate::numbers::is_e164_prefix;

/// The ordered outbound routes of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundRoutesConfig {
    /// Tried in order; the first match wins.
    #[serde(default)]
    pub routes: Vec<OutboundRouteConfig>,
}

/// One outbound route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundRouteConfig {
    /// A name for logs and call records (`"italy"`, `"international"`).
    pub name: String,
    /// Match destinations that start with this (`"+39"`). Exactly one of
    /// `prefix` and `regex`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Match destinations this regular expression matches as a whole
    /// (`"\\+39(0|3)\\d{5,10}"`; it is anchored at both ends for you).
    #[serde(default)]
    pub regex: Option<String>,
    /// Characters removed from the front of the destination before
    /// dialling (the `+` counts).
    #[serde(default)]
    pub strip: usize,
    /// Put in front of the destination after stripping (`"00"`).
    #[serde(default)]
    pub prepend: String,
    /// Trunks in order of preference; each may rewrite the number its own
    /// way.
    pub trunks: Vec<TrunkChoice>,
    /// Caller ID to present on this route, in E.164; absent: the line's.
    #[serde(default)]
    pub caller_id: Option<String>,
}

/// A trunk of a route: its name, or its name with a rewrite of its own
/// that replaces the route's (`{ trunk = "backup", strip = 1, prepend = "00" }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TrunkChoice {
    /// Dial the route's rewritten number on this trunk.
    Name(String),
    /// Dial on this trunk with its own strip/prepend.
    Rewrite {
        /// The trunk's name.
        trunk: String,
        /// Replaces the route's `strip`.
        #[serde(default)]
        strip: Option<usize>,
        /// Replaces the route's `prepend`.
        #[serde(default)]
        prepend: Option<String>,
    },
}

impl TrunkChoice {
    /// The trunk's name.
    pub fn name(&self) -> &str {
        match self {
            TrunkChoice::Name(n) => n,
            TrunkChoice::Rewrite { trunk, .. } => trunk,
        }
    }
}

/// What to try for one destination: the trunks in order, each with the
/// string to dial on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// The route that matched.
    pub route: String,
    /// The caller ID to present, if the route sets one.
    pub caller_id: Option<String>,
    /// Trunks in order, each with what to dial; move to the next one when
    /// [`should_fail_over`] says so.
    pub attempts: Vec<TrunkAttempt>,
}

/// One trunk to try and the number to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkAttempt {
    /// The trunk's name.
    pub trunk: String,
    /// The user part to send (`00390212345678`).
    pub dial: String,
}

/// How an attempt on a trunk ended without the call being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkOutcome {
    /// The trunk sent this final response.
    Status(u16),
    /// Nothing came back in time (the INVITE transaction timed out, or the
    /// transport failed).
    NoAnswer,
}

/// Whether a failed attempt should move on to the route's next trunk:
/// yes on 5xx, 408 and no answer from the trunk (the trunk's trouble); no
/// on every other 4xx and on 6xx (the callee's answer: 404 no such number,
/// 486 busy, 603 declined), and no on anything that is not a failure.
pub fn should_fail_over(outcome: TrunkOutcome) -> bool {
    match outcome {
        TrunkOutcome::NoAnswer => true,
        TrunkOutcome::Status(408) => true,
        TrunkOutcome::Status(s) => (500..600).contains(&s),
    }
}

#[derive(Debug)]
enum Pattern {
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug)]
struct Route {
    name: String,
    pattern: Pattern,
    caller_id: Option<String>,
    trunks: Vec<(String, usize, String)>,
}

/// The compiled routes, ready to [`select`](Self::select).
#[derive(Debug)]
pub struct OutboundRoutes {
    routes: Vec<Route>,
}

fn dialable(text: &str) -> bool {
    let body = text.strip_prefix('+').unwrap_or(text);
    body.bytes()
        .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

impl OutboundRoutes {
    /// Compiles `config`, refusing what [`Validate`] refuses.
    pub fn new(config: &OutboundRoutesConfig) -> Result<Self, ConfigError> {
        let mut names = HashSet::new();
        let mut routes = Vec::with_capacity(config.routes.len());
        for (i, r) in config.routes.iter().enumerate() {
            let route = compile(r).map_err(|e| e.within(&format!("routes[{i}]")))?;
            if !names.insert(route.name.clone()) {
                return Err(ConfigError::new(
                    format!("routes[{i}].name"),
                    format!("{:?} names two routes", route.name),
                ));
            }
            routes.push(route);
        }
        Ok(OutboundRoutes { routes })
    }

    /// The plan for `destination`: the first route that matches, with the
    /// string to dial on each of its trunks; `None` when no route matches
    /// (the call cannot be placed).
    pub fn select(&self, destination: &str) -> Option<RoutePlan> {
        let route = self.routes.iter().find(|r| match &r.pattern {
            Pattern::Prefix(p) => destination.starts_with(p.as_str()),
            Pattern::Regex(re) => re.is_match(destination),
        })?;
        let attempts = route
            .trunks
            .iter()
            .filter_map(|(trunk, strip, prepend)| {
                // A strip longer than this number (possible with a regex
                // route) leaves nothing to dial on this trunk.
                let rest = destination.get(*strip..).filter(|r| !r.is_empty())?;
                Some(TrunkAttempt {
                    trunk: trunk.clone(),
                    dial: format!("{prepend}{rest}"),
                })
            })
            .collect::<Vec<_>>();
        if attempts.is_empty() {
            tracing::warn!(
                route = %route.name,
                destination,
                "outbound route matched but strips the whole number on every trunk"
            );
            return None;
        }
        Some(RoutePlan {
            route: route.name.clone(),
            caller_id: route.caller_id.clone(),
            attempts,
        })
    }
}

fn compile(r: &OutboundRouteConfig) -> Result<Route, ConfigError> {
    if r.name.trim().is_empty() {
        return Err(ConfigError::new("name", "a route needs a name"));
    }
    let pattern = match (&r.prefix, &r.regex) {
        (Some(p), None) => {
            if p.is_empty() || !dialable(p) {
                return Err(ConfigError::new(
                    "prefix",
                    format!("{p:?} is not a dialling prefix (\"+\", digits, * and #)"),
                ));
            }
            if r.strip > p.len() {
                return Err(ConfigError::new(
                    "strip",
                    format!(
                        "strips {} characters but the prefix {p:?} has {}",
                        r.strip,
                        p.len()
                    ),
                ));
            }
            Pattern::Prefix(p.clone())
        }
        (None, Some(re)) => Pattern::Regex(Regex::new(&format!("^(?:{re})$")).map_err(|e| {
            ConfigError::new("regex", format!("{re:?} is not a valid pattern: {e}"))
        })?),
        _ => {
            return Err(ConfigError::new(
                "prefix",
                "give exactly one of `prefix` and `regex`",
            ))
        }
    };
    if !dialable(&r.prepend) {
        return Err(ConfigError::new(
            "prepend",
            format!("{:?} is not dialable (\"+\", digits, * and #)", r.prepend),
        ));
    }
    if let Some(id) = &r.caller_id {
        if !is_e164_prefix(id) {
            return Err(ConfigError::new(
                "caller_id",
                format!("{id:?} is not an E.164 number"),
            ));
        }
    }
    if r.trunks.is_empty() {
        return Err(ConfigError::new(
            "trunks",
            "a route needs at least one trunk",
        ));
    }
    let mut trunks = Vec::with_capacity(r.trunks.len());
    for (i, t) in r.trunks.iter().enumerate() {
        let at = format!("trunks[{i}]");
        if t.name().trim().is_empty() {
            return Err(ConfigError::new(at, "a trunk needs a name"));
        }
        let (strip, prepend) = match t {
            TrunkChoice::Name(_) => (r.strip, r.prepend.clone()),
            TrunkChoice::Rewrite { strip, prepend, .. } => (
                strip.unwrap_or(r.strip),
                prepend.clone().unwrap_or_else(|| r.prepend.clone()),
            ),
        };
        if !dialable(&prepend) {
            return Err(ConfigError::new(
                format!("{at}.prepend"),
                format!("{prepend:?} is not dialable (\"+\", digits, * and #)"),
            ));
        }
        if let Pattern::Prefix(p) = &pattern {
            if strip > p.len() {
                return Err(ConfigError::new(
                    format!("{at}.strip"),
                    format!(
                        "strips {strip} characters but the prefix {p:?} has {}",
                        p.len()
                    ),
                ));
            }
        }
        trunks.push((t.name().to_string(), strip, prepend));
    }
    Ok(Route {
        name: r.name.clone(),
        pattern,
        caller_id: r.caller_id.clone(),
        trunks,
    })
}

impl Validate for OutboundRoutesConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        OutboundRoutes::new(self).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = r#"
        [[routes]]
        name = "emergency"
        regex = "11[2-8]"
        trunks = ["local"]

        [[routes]]
        name = "italy-mobile"
        prefix = "+393"
        strip = 3
        trunks = ["mobile-gw", { trunk = "voip-it", strip = 1, prepend = "00" }]
        caller_id = "+390212345678"

        [[routes]]
        name = "italy"
        prefix = "+39"
        strip = 1
        prepend = "00"
        trunks = ["voip-it", "voip-eu"]

        [[routes]]
        name = "uk-london"
        regex = '\+4420\d{8}'
        strip = 3
        prepend = "0"
        trunks = ["voip-uk"]
    "#;

    fn routes() -> OutboundRoutes {
        let config: OutboundRoutesConfig = toml::from_str(ROUTES).unwrap();
        config.validate().unwrap();
        OutboundRoutes::new(&config).unwrap()
    }

    fn dials(plan: &RoutePlan) -> Vec<(&str, &str)> {
        plan.attempts
            .iter()
            .map(|a| (a.trunk.as_str(), a.dial.as_str()))
            .collect()
    }

    #[test]
    fn first_matching_route_wins_and_rewrites_per_trunk() {
        let r = routes();
        let mobile = r.select("+393471234567").unwrap();
        assert_eq!(mobile.route, "italy-mobile");
        assert_eq!(mobile.caller_id.as_deref(), Some("+390212345678"));
        assert_eq!(
            dials(&mobile),
            [("mobile-gw", "3471234567"), ("voip-it", "00393471234567")]
        );
        let land = r.select("+390212345678").unwrap();
        assert_eq!(land.route, "italy");
        assert_eq!(land.caller_id, None);
        assert_eq!(
            dials(&land),
            [("voip-it", "00390212345678"), ("voip-eu", "00390212345678")]
        );
    }

    #[test]
    fn regex_routes_match_the_whole_number() {
        let r = routes();
        assert_eq!(
            dials(&r.select("+442079460018").unwrap()),
            [("voip-uk", "02079460018")]
        );
        assert_eq!(dials(&r.select("112").unwrap()), [("local", "112")]);
        assert_eq!(r.select("1123"), None, "anchored: 1123 is not 112");
        assert_eq!(r.select("+4420794600189"), None, "one digit too many");
        assert_eq!(r.select("+12125550123"), None, "no route for the US");
    }

    #[test]
    fn fails_over_on_trunk_trouble_but_not_on_the_callees_answer() {
        for s in [500, 502, 503, 504, 580, 408] {
            assert!(should_fail_over(TrunkOutcome::Status(s)), "{s}");
        }
        assert!(should_fail_over(TrunkOutcome::NoAnswer));
        for s in [
            400, 403, 404, 480, 484, 486, 487, 600, 603, 604, 606, 180, 200, 302,
        ] {
            assert!(!should_fail_over(TrunkOutcome::Status(s)), "{s}");
        }
    }

    #[test]
    fn a_regex_route_that_strips_too_much_has_nothing_to_dial() {
        let config: OutboundRoutesConfig = toml::from_str(
            r#"
            [[routes]]
            name = "short"
            regex = '\d+'
            strip = 4
            trunks = ["a"]
            "#,
        )
        .unwrap();
        let r = OutboundRoutes::new(&config).unwrap();
        assert_eq!(r.select("123"), None);
        assert_eq!(dials(&r.select("12345").unwrap()), [("a", "5")]);
    }

    #[test]
    fn bad_routes_are_refused_naming_the_setting() {
        let bad = |body: &str| -> String {
            let text = format!(
                "[[routes]]\nname = \"ok\"\nprefix = \"+39\"\ntrunks = [\"a\"]\n[[routes]]\n{body}"
            );
            let c: OutboundRoutesConfig = toml::from_str(&text).unwrap();
            c.validate().unwrap_err().setting
        };
        assert_eq!(
            bad("name = \"r\"\nregex = \"(\"\ntrunks = [\"a\"]"),
            "routes[1].regex"
        );
        assert_eq!(
            bad("name = \"r\"\nprefix = \"+39\"\nregex = \"x\"\ntrunks = [\"a\"]"),
            "routes[1].prefix"
        );
        assert_eq!(bad("name = \"r\"\ntrunks = [\"a\"]"), "routes[1].prefix");
        assert_eq!(
            bad("name = \"r\"\nprefix = \"+3a\"\ntrunks = [\"a\"]"),
            "routes[1].prefix"
        );
        assert_eq!(
            bad("name = \"r\"\nprefix = \"+39\"\nstrip = 4\ntrunks = [\"a\"]"),
            "routes[1].strip"
        );
        assert_eq!(
            bad("name = \"r\"\nprefix = \"+39\"\nprepend = \"0x\"\ntrunks = [\"a\"]"),
            "routes[1].prepend"
        );
        assert_eq!(
            bad("name = \"r\"\nprefix = \"+39\"\ntrunks = []"),
            "routes[1].trunks"
        );
        assert_eq!(
            bad("name = \"r\"\nprefix = \"+39\"\ntrunks = [\"a\", { trunk = \"b\", strip = 9 }]"),
            "routes[1].trunks[1].strip"
        );
        assert_eq!(
            bad("name = \"r\"\nprefix = \"+39\"\ntrunks = [\"\"]"),
            "routes[1].trunks[0]"
        );
        assert_eq!(
            bad("name = \"r\"\nprefix = \"+39\"\ntrunks = [\"a\"]\ncaller_id = \"02 1234\""),
            "routes[1].caller_id"
        );
        assert_eq!(
            bad("name = \"ok\"\nprefix = \"+1\"\ntrunks = [\"a\"]"),
            "routes[1].name"
        );
        assert_eq!(
            bad("name = \" \"\nprefix = \"+1\"\ntrunks = [\"a\"]"),
            "routes[1].name"
        );
    }
}
