//! The line `ai-line` runs, written against the `agent` crate directly:
//! register with a provider, answer every call with the echo agent (or
//! voicemail when it fails), keep the records in SQLite, stop on Ctrl-C.
//!
//! cargo run -p ai-line --example library_line -- sip.provider.example 1001 secret
use std::{collections::HashMap, sync::Arc};

use agent::agents::{Echo, Voicemail};
use agent::record::SqliteStore;
use agent::switch::{Agents, Switch, SwitchConfig};
use agent::SharedAgent;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [registrar, user, password] = &args[..] else {
        return Err("usage: library_line REGISTRAR USER PASSWORD".into());
    };
    let config: SwitchConfig = toml::from_str(&format!(
        r#"
        sip = {{ listen = ["0.0.0.0:5060"] }}
        rtp = {{ advertised_address = "203.0.113.5" }} # your public address behind NAT
        [[accounts]]
        name = "provider"
        tenant = "shop"
        registrar = "{registrar}"
        username = "{user}"
        password = "{password}"
        [[tenants]]
        name = "shop"
        default_country = "US"
        time_zone = "UTC"
        default_profile = "front"
        profiles.front = {{ agent = "echo", time_zone = "UTC", voicemail = true }}
        "#
    ))?;
    let store = Arc::new(SqliteStore::open_path("calls.sqlite".as_ref(), "default")?);
    let agents: Agents = HashMap::from([
        ("echo".to_string(), Arc::new(Echo) as SharedAgent),
        (
            "voicemail".to_string(),
            Arc::new(Voicemail::default()) as SharedAgent,
        ),
    ]);
    let switch = Switch::start(config, store, agents).await?; // registers, answers
    tokio::signal::ctrl_c().await?;
    switch.shutdown().await; // ends calls with BYE, unregisters
    Ok(())
}
