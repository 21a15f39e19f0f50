//! Originated calls: the switch calls a number and a profile's agent
//! talks to whoever answers.
//!
//! [`Switch::originate`](super::Switch::originate) places the call through
//! the tenant's outbound routes ([`outbound`](super::outbound): policy,
//! trunks in order, failover), and when it is answered runs the
//! profile's agent on it under supervision, exactly as on an inbound
//! call: the media follows re-INVITEs, keys are reported once, the far
//! end's BYE ends the agent's run and our BYE ends the call when the
//! agent is done. With a daily minutes cap the call is hung up when the
//! day's minutes run out. The call's record (direction outbound) says
//! which trunk carried it, which failed over, how it ended and who hung
//! up.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::time::Instant;

use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn, Instrument};

use super::intake::MAX_AGENTS_PER_CALL;
use super::media::{self, CallEnding, SipCommand};
use super::outbound::{place, store_ended, AnsweredLeg, NotConnected, OutboundRequest, TrunkTry};
use super::status::ActiveCall;
use super::{CallTask, Shared, VOICEMAIL_AGENT};
use crate::call::{AgentOutcome, CallContext, CallHandle, CallOptions, TransferTarget};
use crate::media::{BridgeEnd, MediaBridge};
use crate::metrics as m;
use crate::policy::OutboundGrant;
use crate::record::{
    CallDirection, CallEnd, CallRecord, CallUpdate, Handoff, HandoffKind, HangupCause, Outcome,
    Party,
};
use crate::supervise::{supervise, Supervision, Verdict};

/// How an originated call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originated {
    /// The id of its record.
    pub call_id: String,
    /// How it ended, as its record says: completed (answered, the agent
    /// ran), the agent failed, busy, no answer, refused by policy, or
    /// failed with the status and cause.
    pub outcome: Outcome,
    /// The trunks tried, in order.
    pub attempts: Vec<TrunkTry>,
}

impl Originated {
    /// Whether somebody answered.
    pub fn answered(&self) -> bool {
        self.outcome.was_answered()
    }
}

/// Places `request` and runs the agent of `profile` on the answered call;
/// see the [module documentation](self).
pub(crate) async fn originate(
    shared: &Arc<Shared>,
    mut request: OutboundRequest,
    profile: &str,
) -> Originated {
    shared.call_tasks.fetch_add(1, Ordering::AcqRel);
    let _task = CallTask(shared.clone());
    let call_id = request.call_id.clone();
    let span = tracing::info_span!("originate", call_id = %call_id);
    async move {
        let agent = shared
            .router
            .tenant(&request.tenant)
            .ok_or_else(|| format!("no tenant is named {:?}", request.tenant))
            .and_then(|t| {
                t.profile(profile).ok_or_else(|| {
                    format!("tenant {:?} has no profile {profile:?}", request.tenant)
                })
            })
            .and_then(|p| {
                let name = p.agent().to_string();
                shared
                    .agents
                    .get(&name)
                    .cloned()
                    .map(|a| (name.clone(), a))
                    .ok_or_else(|| format!("no agent named {name:?}"))
            });
        let (agent_name, agent) = match agent {
            Ok(found) => found,
            Err(cause) => {
                warn!(%cause, "cannot originate");
                let mut record = CallRecord::new(
                    call_id.clone(),
                    String::new(),
                    CallDirection::Outbound,
                    Party::raw(request.caller_id.clone().unwrap_or_default()),
                    Timestamp::now(),
                );
                record.tenant = Some(request.tenant.clone());
                record.did = Some(request.destination.clone());
                record.profile = Some(profile.to_string());
                let ending = NotConnected::Failed { cause };
                let outcome = ending.outcome();
                store_ended(shared, record, &ending, HangupCause::Switch).await;
                return Originated {
                    call_id,
                    outcome,
                    attempts: vec![],
                };
            }
        };
        request.profile = Some(profile.to_string());
        request.agent = Some(agent_name.clone());
        let tenant = request.tenant.clone();
        match place(shared, request).await {
            Err(unanswered) => Originated {
                call_id,
                outcome: unanswered.ending.outcome(),
                attempts: unanswered.attempts,
            },
            Ok(leg) => {
                let attempts = leg.attempts.clone();
                let outcome = run_agent(shared, leg, tenant, profile, agent_name, agent).await;
                Originated {
                    call_id,
                    outcome,
                    attempts,
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Runs the agent on the answered leg until the call ends; closes the
/// record and returns its outcome.
async fn run_agent(
    shared: &Arc<Shared>,
    leg: AnsweredLeg,
    tenant: String,
    profile: &str,
    agent_name: String,
    agent: crate::SharedAgent,
) -> Outcome {
    let AnsweredLeg {
        call,
        session,
        record: log,
        mut grant,
        trunk,
        destination,
        caller,
        answered_at,
        ..
    } = leg;
    let call_id = log.call_id().to_string();
    let (signals_tx, mut signals) = mpsc::unbounded_channel();
    let (gone_tx, gone) = watch::channel(false);
    let (sip_commands, sip_rx) = mpsc::unbounded_channel();
    let shutdown = shared.end_on_shutdown(sip_commands.clone());
    let sip = tokio::spawn(
        media::signalling(call, signals_tx, gone_tx, sip_rx).instrument(tracing::Span::current()),
    );
    let mut bridge = match MediaBridge::new(session) {
        Ok(bridge) => Some(bridge),
        Err(e) => {
            log.error("media", e.to_string());
            None
        }
    };
    let ctx = CallContext {
        call_id: call_id.clone(),
        line: trunk,
        tenant: Some(tenant),
        direction: CallDirection::Outbound,
        caller,
        did: Some(destination),
        profile: Some(profile.to_string()),
        customer: None,
    };
    let listed = shared.active.add(ActiveCall {
        call_id: ctx.call_id.clone(),
        line: ctx.line.clone(),
        tenant: ctx.tenant.clone(),
        direction: ctx.direction,
        caller: ctx.caller.clone(),
        did: ctx.did.clone(),
        agent: None,
        since: Timestamp::now(),
    });
    let mut minutes_out = false;
    let mut run = None;
    let mut next = Some((agent_name, agent));
    let mut hops = 0;
    while let (Some((name, agent)), Some(bridge)) = (next.take(), bridge.as_mut()) {
        listed.set_agent(&name);
        let (handle, line_side) = CallHandle::new(
            call_id.clone(),
            CallOptions {
                audio_rate: agent.audio_rate(),
                recordings_dir: shared.recordings.clone(),
                record: Some(log.clone()),
            },
        );
        let hangup = hang_up_when(
            remote_gone(gone.clone()),
            &mut grant,
            Instant::from_std(answered_at),
            &mut minutes_out,
        );
        let limits = Supervision::default();
        let (ran, verdict) = tokio::join!(
            bridge.run_following(line_side, hangup, &mut signals),
            supervise(agent, ctx.clone(), handle, &limits),
        );
        info!(agent = %name, ?ran, ?verdict, "agent done");
        hops += 1;
        let over = !matches!(ran, BridgeEnd::AgentDone);
        if let Verdict::Finished(AgentOutcome::Transfer { target, reason }) = &verdict {
            // Another agent takes the call on the same line, as on an
            // inbound call; a person or a number is not reached from an
            // originated call yet.
            let to = match target {
                TransferTarget::Agent(n) => Some(n.clone()),
                TransferTarget::Voicemail => Some(VOICEMAIL_AGENT.to_string()),
                _ => None,
            };
            match to.and_then(|n| shared.agents.get(&n).map(|a| (n, a.clone()))) {
                Some(found) if !over && hops < MAX_AGENTS_PER_CALL => {
                    log.update(CallUpdate::Handoff(Handoff {
                        at: Timestamp::now(),
                        kind: HandoffKind::Transfer,
                        target: target.to_string(),
                        reason: reason.clone(),
                    }));
                    next = Some(found);
                }
                Some(_) if over => {}
                Some(_) => log.error(
                    "switch",
                    format!("{hops} agents took turns on the call; hanging up"),
                ),
                None => log.error(
                    "switch",
                    format!(
                        "the agent asked for a transfer to {target}, which originated calls do not \
                         take; hanging up"
                    ),
                ),
            }
        }
        run = Some((ran, verdict));
    }
    let ended_by_shutdown = shutdown.stop();
    let _ = sip_commands.send(SipCommand::HangUp);
    let ending = sip
        .await
        .unwrap_or_else(|e| CallEnding::Failed(format!("signalling task: {e}")));
    if let Some(bridge) = bridge {
        bridge.into_session().close().await;
    }
    grant.settle(answered_at.elapsed());
    m::answered_call_ended(answered_at.elapsed());
    let (outcome, cause) = match run {
        None => (
            Outcome::Failed {
                status: None,
                reason: "the media session could not be joined".into(),
            },
            HangupCause::Error,
        ),
        Some((_, Verdict::Fallback(why))) => {
            m::agent_error();
            (
                Outcome::AgentFailed {
                    reason: why.to_string(),
                },
                HangupCause::Error,
            )
        }
        Some((ran, Verdict::Finished(_))) => {
            let cause = if minutes_out {
                log.error("policy", "the tenant's outbound minutes for today ran out");
                HangupCause::Switch
            } else {
                match (ran, ending) {
                    (BridgeEnd::MediaTimeout { .. }, _) => HangupCause::MediaTimeout,
                    (BridgeEnd::MediaStopped, _) => HangupCause::Error,
                    (_, CallEnding::Remote) => HangupCause::Remote,
                    (_, CallEnding::Local) if ended_by_shutdown => HangupCause::Shutdown,
                    (_, CallEnding::Local) => HangupCause::Agent,
                    (_, CallEnding::Transferred) => HangupCause::Transferred,
                    (_, CallEnding::Failed(why)) => {
                        log.error("sip", why);
                        HangupCause::Error
                    }
                }
            };
            (Outcome::Completed, cause)
        }
    };
    m::call_ended(m::outcome_label(&outcome));
    let end = CallEnd {
        at: Timestamp::now(),
        outcome: outcome.clone(),
        cause,
    };
    if let Err(e) = log.close(end).await {
        warn!(error = %e, "cannot close the originated call's record");
    }
    outcome
}

/// Resolves when the far end is gone, or when the tenant's minutes for
/// the day are spent (setting `minutes_out`).
async fn hang_up_when(
    remote: impl Future<Output = ()>,
    grant: &mut OutboundGrant,
    answered_at: Instant,
    minutes_out: &mut bool,
) {
    tokio::select! {
        () = remote => {}
        () = minutes_spent(grant, answered_at) => *minutes_out = true,
    }
}

/// Resolves once the call has talked for all the minutes its grant could
/// reserve; never without a minutes cap. A call bridged to a person
/// (a transfer) is held to it too.
pub(crate) async fn minutes_spent(grant: &mut OutboundGrant, answered_at: Instant) {
    let Some(mut allowed) = grant.max_duration() else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep_until(answered_at + allowed).await;
        match grant.extend() {
            Some(more) if more > allowed => allowed = more,
            _ => return,
        }
    }
}

/// Resolves once the call is over on the signalling side.
async fn remote_gone(mut gone: watch::Receiver<bool>) {
    let _ = gone.wait_for(|g| *g).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::Normaliser;
    use crate::policy::{OutboundVerdict, Policy, PolicyConfig};
    use std::time::Duration;

    fn grant(policy: &Policy) -> OutboundGrant {
        let number = Normaliser::new("IT").unwrap().normalise("+390212345678");
        match policy.check_outbound(&number, Timestamp::now()) {
            OutboundVerdict::Admit(g) => g,
            OutboundVerdict::Refuse { reason, .. } => panic!("refused: {reason}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_is_cut_when_the_days_minutes_are_spent_after_extending_its_reservation() {
        let config: PolicyConfig = toml::from_str(
            r#"outbound = { allowed_destination_prefixes = ["+39"], minutes_per_day = 2, reserve_minutes = 1 }"#,
        )
        .unwrap();
        let policy = Policy::new(&config, jiff::tz::TimeZone::UTC).unwrap();
        let mut g = grant(&policy);
        assert_eq!(g.max_duration(), Some(Duration::from_secs(60)));
        let answered = Instant::now();
        {
            let spent = minutes_spent(&mut g, answered);
            tokio::pin!(spent);
            // The first minute's reservation is extended by the second.
            assert!(
                tokio::time::timeout(Duration::from_secs(119), &mut spent)
                    .await
                    .is_err(),
                "cut before the day's two minutes"
            );
            tokio::time::timeout(Duration::from_secs(2), &mut spent)
                .await
                .expect("cut once both minutes are talked");
        }
        assert_eq!(g.max_duration(), Some(Duration::from_secs(120)));
        g.settle(Duration::from_secs(120));
        let (used, reserved) = policy.minutes_used(Timestamp::now());
        assert_eq!((used, reserved), (Duration::from_secs(120), Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_minutes_cap_a_call_is_never_cut() {
        let config: PolicyConfig =
            toml::from_str(r#"outbound = { allowed_destination_prefixes = ["+39"] }"#).unwrap();
        let policy = Policy::new(&config, jiff::tz::TimeZone::UTC).unwrap();
        let mut g = grant(&policy);
        assert!(tokio::time::timeout(
            Duration::from_secs(86_400),
            minutes_spent(&mut g, Instant::now())
        )
        .await
        .is_err());
        g.settle(Duration::ZERO);
    }
}
