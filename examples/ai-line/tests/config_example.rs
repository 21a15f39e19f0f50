//! The commented example configuration next to the crate (`ai-line.toml`)
//! parses, passes every check, and sets every option, so it cannot rot
//! as settings are added or renamed.

use std::path::Path;

use ai_line::config;
use toml::de::{DeTable, DeValue};

fn example_path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/ai-line.toml"))
}

/// Every dotted key the document writes (array elements share their
/// array's path).
fn keys(value: &DeValue<'_>, path: &str, out: &mut Vec<String>) {
    match value {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                let p = if path.is_empty() {
                    k.get_ref().to_string()
                } else {
                    format!("{path}.{}", k.get_ref())
                };
                out.push(p.clone());
                keys(v.get_ref(), &p, out);
            }
        }
        DeValue::Array(a) => {
            for v in a.iter() {
                keys(v.get_ref(), path, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_example_configuration_parses_and_passes_every_check() {
    let config = config::load(example_path()).expect("the example is valid");
    assert_eq!(config.accounts.len(), 1);
    assert!(config.agents.ivr.is_some());
    assert!(config.tenants[0].profiles.len() >= 2);
}

#[test]
fn the_example_configuration_shows_every_option() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let doc = DeTable::parse(&text).unwrap();
    let mut written = Vec::new();
    keys(&DeValue::Table(doc.into_inner()), "", &mut written);
    let every = [
        "sip.listen",
        "sip.external_address",
        "sip.max_calls",
        "rtp.bind",
        "rtp.ports",
        "rtp.advertised_address",
        "rtp.workers",
        "rtp.timeout_secs",
        "accounts.name",
        "accounts.tenant",
        "accounts.registrar",
        "accounts.username",
        "accounts.password",
        "accounts.auth_username",
        "accounts.domain",
        "accounts.outbound_proxy",
        "accounts.expiry_secs",
        "accounts.transport",
        "trusted_peers.name",
        "trusted_peers.address",
        "trusted_peers.tenant",
        "tenants.name",
        "tenants.default_country",
        "tenants.time_zone",
        "tenants.default_profile",
        "tenants.dids",
        "tenants.profiles",
        "tenants.limits.refuse_anonymous",
        "tenants.limits.allowed_caller_prefixes",
        "tenants.limits.allow_named_callers",
        "tenants.limits.blocked_callers",
        "tenants.limits.channels",
        "tenants.limits.rate.per_minute",
        "tenants.limits.rate.per_hour",
        "tenants.limits.rate.max_tracked_callers",
        "tenants.limits.outbound.allowed_destination_prefixes",
        "tenants.limits.outbound.minutes_per_day",
        "tenants.limits.outbound.reserve_minutes",
        "tenants.outbound_routes.routes.name",
        "tenants.outbound_routes.routes.prefix",
        "tenants.outbound_routes.routes.strip",
        "tenants.outbound_routes.routes.prepend",
        "tenants.outbound_routes.routes.trunks",
        "tenants.outbound_routes.routes.caller_id",
        "store.database",
        "store.recordings",
        "store.instance",
        "http.listen",
        "http.token",
        "agents.voicemail.silence_secs",
        "agents.voicemail.max_length_secs",
        "agents.ivr.prompt",
        "agents.ivr.choices",
        "agents.ivr.timeout_secs",
        "agents.ivr.attempts",
        "agents.ivr.no_choice",
        "speech.voice",
        "speech.words_per_minute",
        "speech.model_dir",
        "speech.matching",
        "speech.decoders",
    ];
    for action in ["profile", "greeting"] {
        assert!(
            text.contains(&format!("action = \"{action}\"")),
            "the example shows out_of_hours action {action}"
        );
    }
    for key in every {
        assert!(written.iter().any(|k| k == key), "the example shows {key}");
    }
    let profile = [
        "agent",
        "greeting",
        "human_number",
        "voicemail",
        "transfer",
        "apology",
        "time_zone",
        "hours",
        "holidays",
        "out_of_hours",
        "faq",
        "menu",
        "not_understood",
    ];
    for key in profile {
        assert!(
            written
                .iter()
                .any(|k| k.starts_with("tenants.profiles.") && k.ends_with(&format!(".{key}"))),
            "a profile in the example shows {key}"
        );
    }
}
