//! Shutting the switch down while calls are up: an outbound campaign's
//! answered call (SIPp as the trunk) gets our BYE and its record closes
//! with the cause shutdown, as an inbound call's does
//! (`switch_sipp.rs`).

mod sipp;
mod trunks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agent::call::{AgentOutcome, CallEvent};
use agent::record::{CallDirection, CampaignSettings, CampaignStore, HangupCause, Outcome};
use agent::routing::TenantConfig;
use agent::switch::{Agents, CampaignOptions};
use agent::{agent_fn, SharedAgent};
use sipp::*;
use trunks::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_ends_an_answered_campaign_call_with_bye_and_records_the_shutdown() {
    let dir = TempDir::new("shutdown-outbound");
    let port = free_port();
    let tenant: TenantConfig = toml::from_str(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"
[limits]
outbound = { allowed_destination_prefixes = ["+39"] }
[[outbound_routes.routes]]
name = "all"
prefix = "+39"
trunks = ["trunk"]
[profiles.front]
agent = "test"
time_zone = "Europe/Rome"
"#,
    )
    .expect("tenant config");
    // The agent stays on the call until it is hung up.
    let agent = agent_fn(|_ctx, mut call| async move {
        while let Some(event) = call.next_event().await {
            if event == CallEvent::HungUp {
                break;
            }
        }
        Ok(AgentOutcome::CallerHungUp)
    });
    let agents: Agents = HashMap::from([("test".to_string(), Arc::new(agent) as SharedAgent)]);
    let sf = scenario(&dir.0, "answer.xml", &answers_until_bye());
    let sipp_trunk = start_trunk(port, &sf, &[]);
    until_listening(port).await;
    let (switch, store, _) = start_switch_with(&dir.0, tenant, agents, move |c| {
        c.trusted_peers.push(trunk("trunk", port));
    })
    .await;
    let settings: CampaignSettings = toml::from_str(
        r#"
name = "one-call"
line = "trunk"
profile = "front"
max_concurrent = 1
calls_per_second = 1
max_attempts = 1
retry_delay = "1s"
"#,
    )
    .expect("campaign settings");
    store
        .create_campaign(
            &settings,
            &["+390211111111".to_string()],
            jiff::Timestamp::now(),
        )
        .unwrap();
    let runner = switch.run_campaigns(
        store.clone(),
        CampaignOptions {
            poll: Duration::from_millis(100),
            ring_timeout: Duration::from_secs(5),
        },
    );
    wait_until("the campaign's call is answered", || {
        switch.media_sessions() == 1
    })
    .await;

    switch.shutdown().await;
    runner.stop().await;
    let out = sipp_trunk.await.unwrap();
    assert!(
        out.status.success(),
        "the trunk got BYE: {}",
        sipp_report(&out)
    );
    let r = records(&store)
        .into_iter()
        .find(|r| r.direction == CallDirection::Outbound)
        .expect("the campaign call's record");
    let end = r.end.expect("closed by the shutdown");
    assert_eq!(
        (end.outcome, end.cause),
        (Outcome::Completed, HangupCause::Shutdown)
    );
}
