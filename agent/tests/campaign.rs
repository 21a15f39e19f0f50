//! Campaigns run by the switch over the SQLite campaign store, with SIPp
//! trunks on loopback that answer, answer busy and never answer: busy and
//! unanswered numbers are retried after the delay up to the attempt
//! limit, every attempt has its outbound call record, and a switch and
//! store opened again in the middle of the campaign carry on where the
//! stopped ones left off.

mod sipp;
mod trunks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agent::call::AgentOutcome;
use agent::record::{
    CallDirection, CallStore, CampaignSettings, CampaignStore, NumberState, Outcome, SqliteStore,
};
use agent::routing::TenantConfig;
use agent::switch::{Agents, CampaignOptions};
use agent::{agent_fn, SharedAgent};
use sipp::*;
use trunks::*;

const ANSWERS: &str = "+390211111111";
const BUSY: &str = "+390222222222";
const NEVER: &str = "+390233333333";

/// Tenant "acme" whose routes send each test number to its own trunk.
fn tenant() -> TenantConfig {
    toml::from_str(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[limits]
outbound = { allowed_destination_prefixes = ["+39"] }

[[outbound_routes.routes]]
name = "answers"
prefix = "+39021"
trunks = ["trunk-answer"]

[[outbound_routes.routes]]
name = "busy"
prefix = "+39022"
trunks = ["trunk-busy"]

[[outbound_routes.routes]]
name = "never"
prefix = "+39023"
trunks = ["trunk-ring"]

[profiles.front]
agent = "test"
time_zone = "Europe/Rome"

[profiles.reminder]
agent = "test"
time_zone = "Europe/Rome"
"#,
    )
    .expect("tenant config")
}

/// The agent "test": says its piece (half a second of tone) and hangs up.
fn agents() -> Agents {
    let agent = agent_fn(|_ctx, call| async move {
        call.play(tone(1)[..4000].to_vec())?;
        call.wait_playback().await?;
        Ok(AgentOutcome::hang_up("reminder given"))
    });
    HashMap::from([("test".to_string(), Arc::new(agent) as SharedAgent)])
}

fn settings() -> CampaignSettings {
    toml::from_str(
        r#"
name = "december-reminders"
line = "trunk-answer"
profile = "reminder"
max_concurrent = 3
calls_per_second = 20
max_attempts = 2
retry_delay = "3s"
"#,
    )
    .expect("campaign settings")
}

fn options() -> CampaignOptions {
    CampaignOptions {
        poll: Duration::from_millis(100),
        ring_timeout: Duration::from_secs(1),
    }
}

/// The states and attempt counts of the campaign's numbers, by number.
fn numbers(
    store: &SqliteStore,
    id: agent::record::CampaignId,
) -> HashMap<String, (NumberState, u32)> {
    store
        .numbers(id)
        .unwrap()
        .into_iter()
        .map(|n| (n.number, (n.state, n.attempts)))
        .collect()
}

/// Polls the campaign's numbers every 50 ms for up to 30 s until `done`
/// holds; fails showing the numbers and attempts otherwise.
async fn until_numbers(
    store: &SqliteStore,
    id: agent::record::CampaignId,
    done: impl Fn(&HashMap<String, (NumberState, u32)>) -> bool,
) {
    for _ in 0..600 {
        if done(&numbers(store, id)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the campaign did not get there: numbers {:?}, attempts {:#?}",
        numbers(store, id),
        store.attempts(id).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_retries_busy_and_unanswered_numbers_records_every_attempt_and_survives_a_restart(
) {
    let dir = TempDir::new("campaign");
    let (p_answer, p_busy, p_ring) = (free_port(), free_port(), free_port());
    let trunks = move |c: &mut agent::switch::SwitchConfig| {
        c.trusted_peers.push(trunk("trunk-answer", p_answer));
        c.trusted_peers.push(trunk("trunk-busy", p_busy));
        c.trusted_peers.push(trunk("trunk-ring", p_ring));
    };
    let sf_answer = scenario(&dir.0, "answer.xml", &answers_until_bye());
    let sf_busy = scenario(&dir.0, "busy.xml", &rejects(486, "Busy Here"));
    let sf_ring = scenario(&dir.0, "ring.xml", &rings_until_cancelled());
    let mp = free_port().to_string();
    // Exactly the calls each number should get over the whole campaign:
    // one answered; two busy; two unanswered.
    let answer = start_trunk_for(p_answer, &sf_answer, 1, &["-mp", &mp]);
    let busy = start_trunk_for(p_busy, &sf_busy, 2, &[]);
    let ring = start_trunk_for(p_ring, &sf_ring, 2, &[]);
    for p in [p_answer, p_busy, p_ring] {
        until_listening(p).await;
    }

    // The first process: the first attempt to each number.
    let (switch, store, _) = start_switch_with(&dir.0, tenant(), agents(), trunks).await;
    let numbers_given: Vec<String> = [ANSWERS, BUSY, NEVER, BUSY].map(String::from).to_vec();
    let id = store
        .create_campaign(&settings(), &numbers_given, jiff::Timestamp::now())
        .unwrap();
    let runner = switch.run_campaigns(store.clone(), options());
    until_numbers(&store, id, |n| {
        n[ANSWERS] == (NumberState::Answered, 1)
            && n[BUSY] == (NumberState::Pending, 1)
            && n[NEVER] == (NumberState::Pending, 1)
    })
    .await;
    runner.stop().await;
    switch.shutdown().await;
    assert_eq!(
        store.attempts(id).unwrap().len(),
        3,
        "the duplicate number is called once"
    );
    drop(store);

    // The process starts again on the same database: the retries follow.
    let (switch, store, _) = start_switch_with(&dir.0, tenant(), agents(), trunks).await;
    let runner = switch.run_campaigns(store.clone(), options());
    until_numbers(&store, id, |n| {
        n[BUSY] == (NumberState::Failed, 2) && n[NEVER] == (NumberState::Failed, 2)
    })
    .await;
    runner.stop().await;
    switch.shutdown().await;
    for (name, out) in [
        ("answer", answer.await.unwrap()),
        ("busy", busy.await.unwrap()),
        ("ring", ring.await.unwrap()),
    ] {
        assert!(out.status.success(), "trunk {name}: {}", sipp_report(&out));
    }
    assert_eq!(numbers(&store, id)[ANSWERS], (NumberState::Answered, 1));

    // Every attempt: its outcome in the campaign and its call record.
    let attempts = store.attempts(id).unwrap();
    let by_number: HashMap<_, _> = store
        .numbers(id)
        .unwrap()
        .into_iter()
        .map(|n| (n.id, n.number))
        .collect();
    let mut seen: Vec<(String, u32, Outcome)> = Vec::new();
    for a in &attempts {
        let outcome = a.outcome.clone().expect("every attempt finished");
        let record = store
            .get(&a.call_id)
            .unwrap()
            .expect("every attempt has its record");
        assert_eq!(record.direction, CallDirection::Outbound);
        assert_eq!(record.profile.as_deref(), Some("reminder"));
        assert_eq!(record.end.as_ref().map(|e| &e.outcome), Some(&outcome));
        assert_eq!(record.did.as_ref(), Some(&by_number[&a.number]));
        seen.push((by_number[&a.number].clone(), a.attempt, outcome));
    }
    seen.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
    assert_eq!(
        seen,
        [
            (ANSWERS.to_string(), 1, Outcome::Completed),
            (BUSY.to_string(), 1, Outcome::Busy),
            (BUSY.to_string(), 2, Outcome::Busy),
            (NEVER.to_string(), 1, Outcome::NoAnswer),
            (NEVER.to_string(), 2, Outcome::NoAnswer),
        ]
    );
    // The retry waited for the delay.
    let busy_starts: Vec<_> = attempts
        .iter()
        .filter(|a| by_number[&a.number] == BUSY)
        .map(|a| (a.started, a.ended.unwrap()))
        .collect();
    let waited = busy_starts[1].0.duration_since(busy_starts[0].1);
    assert!(
        waited >= jiff::SignedDuration::from_secs(3),
        "retried after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_left_open_by_a_killed_process_is_retried_after_the_restart_and_calls_keep_to_the_concurrency_limit(
) {
    let dir = TempDir::new("campaign-cut");
    let (p_answer, p_ring) = (free_port(), free_port());
    let trunks = move |c: &mut agent::switch::SwitchConfig| {
        c.trusted_peers.push(trunk("trunk-answer", p_answer));
        c.trusted_peers.push(trunk("trunk-busy", free_port()));
        c.trusted_peers.push(trunk("trunk-ring", p_ring));
    };
    let sf_answer = scenario(&dir.0, "answer.xml", &answers_until_bye());
    let sf_ring = scenario(&dir.0, "ring.xml", &rings_until_cancelled());
    let mp = free_port().to_string();
    let answer = start_trunk_for(p_answer, &sf_answer, 2, &["-mp", &mp]);
    let ring = start_trunk_for(p_ring, &sf_ring, 1, &[]);
    for p in [p_answer, p_ring] {
        until_listening(p).await;
    }
    let second = "+390211111112";
    let one_at_a_time = CampaignSettings {
        max_concurrent: 1,
        ..settings()
    };

    // What a process killed while calling the first number leaves in the
    // database: the campaign, and that number's attempt started and
    // never finished.
    let id = {
        let store = SqliteStore::open_path(&dir.0.join("calls.sqlite"), "test").unwrap();
        let now = jiff::Timestamp::now();
        let id = store
            .create_campaign(
                &one_at_a_time,
                &[NEVER.to_string(), ANSWERS.to_string(), second.to_string()],
                now,
            )
            .unwrap();
        let first = store.due(id, now, 1).unwrap().remove(0);
        assert_eq!(first.number, NEVER);
        store.start_attempt(first.id, "out-killed", now).unwrap();
        assert_eq!(numbers(&store, id)[NEVER], (NumberState::InProgress, 1));
        id
    };

    // The next process: the open attempt is finished as interrupted and
    // the number retried after the delay; one call at a time.
    let (switch, store, _) = start_switch_with(&dir.0, tenant(), agents(), trunks).await;
    let runner = switch.run_campaigns(store.clone(), options());
    until_numbers(&store, id, |n| {
        n[NEVER] == (NumberState::Failed, 2)
            && n[ANSWERS] == (NumberState::Answered, 1)
            && n[second] == (NumberState::Answered, 1)
    })
    .await;
    runner.stop().await;
    switch.shutdown().await;
    for (name, out) in [
        ("answer", answer.await.unwrap()),
        ("ring", ring.await.unwrap()),
    ] {
        assert!(out.status.success(), "trunk {name}: {}", sipp_report(&out));
    }

    let mut attempts = store.attempts(id).unwrap();
    attempts.sort_by_key(|a| a.started);
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|a| (a.call_id == "out-killed", a.attempt, a.outcome.clone()))
        .collect();
    assert_eq!(outcomes.len(), 4, "{attempts:#?}");
    assert_eq!(outcomes[0], (true, 1, Some(Outcome::Interrupted)));
    assert_eq!(
        attempts.last().map(|a| (a.attempt, a.outcome.clone())),
        Some((2, Some(Outcome::NoAnswer))),
        "the interrupted number, retried last after its delay"
    );
    for pair in attempts[1..].windows(2) {
        assert!(
            pair[1].started >= pair[0].ended.expect("finished"),
            "a call started while another was up: {pair:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_waits_for_a_free_channel_of_its_tenant_instead_of_spending_attempts_on_refusals(
) {
    let dir = TempDir::new("campaign-channels");
    let p_answer = free_port();
    let trunks = move |c: &mut agent::switch::SwitchConfig| {
        c.trusted_peers.push(trunk("trunk-answer", p_answer));
        c.trusted_peers.push(trunk("trunk-busy", free_port()));
        c.trusted_peers.push(trunk("trunk-ring", free_port()));
    };
    let sf_answer = scenario(&dir.0, "answer.xml", &answers_until_bye());
    let mp = free_port().to_string();
    let answer = start_trunk_for(p_answer, &sf_answer, 2, &["-mp", &mp]);
    until_listening(p_answer).await;
    // One channel for the tenant; the campaign alone would allow three
    // calls at once.
    let mut one_channel = tenant();
    one_channel.limits.channels = Some(1);
    let (switch, store, _) = start_switch_with(&dir.0, one_channel, agents(), trunks).await;
    let second = "+390211111112";
    let id = store
        .create_campaign(
            &settings(),
            &[ANSWERS.to_string(), second.to_string()],
            jiff::Timestamp::now(),
        )
        .unwrap();
    let runner = switch.run_campaigns(store.clone(), options());
    until_numbers(&store, id, |n| {
        n[ANSWERS] == (NumberState::Answered, 1) && n[second] == (NumberState::Answered, 1)
    })
    .await;
    runner.stop().await;
    switch.shutdown().await;
    let out = answer.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let mut attempts = store.attempts(id).unwrap();
    attempts.sort_by_key(|a| a.started);
    assert_eq!(attempts.len(), 2, "no attempt refused: {attempts:#?}");
    assert!(attempts[1].started >= attempts[0].ended.expect("finished"));
}
