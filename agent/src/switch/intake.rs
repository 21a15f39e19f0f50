//! One incoming call, from the INVITE to its closed record: which line it
//! came in on, the caller and DID in E.164 with the tenant's country, the
//! tenant's policy (a refusal is answered and recorded before any media
//! opens), routing to a profile and its agent, the call record, the media
//! session and the answer, then the agent and the media join side by
//! side until the call ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rtp_media::engine::SessionParams;
use rtp_media::g711::Codec as MediaCodec;
use sip_core::call::{CallError, IncomingCall};
use sip_core::sdp::LocalMedia;
use tokio::sync::mpsc;
use tracing::{error, info, warn, Instrument};

use super::media::{self, session_params, CallEnding, CallInfo, SwitchCall};
use super::metrics as m;
use super::{Shared, GREETING_AGENT};
use crate::numbers::Normalised;
use crate::policy::InboundVerdict;
use crate::record::{
    CallDirection, CallEnd, CallRecord, CallStore, CallUpdate, HangupCause, OpenCallRecord,
    Outcome, Party,
};
use crate::routing::RouteAction;

/// How long an agent may take to return after its call ended before its
/// task is aborted.
const AGENT_GRACE: Duration = Duration::from_secs(5);

/// The stable name of an outcome, for the calls counter.
pub(crate) fn outcome_kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Completed => "completed",
        Outcome::Refused { .. } => "refused",
        Outcome::Busy => "busy",
        Outcome::NoAnswer => "no_answer",
        Outcome::Cancelled => "cancelled",
        Outcome::Failed { .. } => "failed",
        Outcome::AgentFailed { .. } => "agent_failed",
        Outcome::Interrupted => "interrupted",
    }
}

/// The Reason header of a refusal (RFC 3326), carrying the status and the
/// rule's stable code so the carrier's records say why.
fn reason_header(status: u16, text: &str) -> String {
    format!("SIP;cause={status};text=\"{text}\"")
}

/// Runs a blocking store operation off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) => {
            error!(error = %e, "call record task failed");
            None
        }
    }
}

/// A record that is closed as soon as it is opened (a refused or failed
/// call), counted by outcome.
async fn record_ended(store: Arc<dyn CallStore>, mut record: CallRecord, outcome: Outcome) {
    m::call_ended(outcome_kind(&outcome));
    record.end = Some(CallEnd {
        at: Timestamp::now(),
        outcome,
        cause: HangupCause::Switch,
    });
    if let Some(Err(e)) = blocking(move || store.open(&record)).await {
        error!(error = %e, "cannot store the call record");
    }
}

async fn close(record: OpenCallRecord, end: CallEnd) {
    m::call_ended(outcome_kind(&end.outcome));
    if let Some(Err(e)) = blocking(move || record.close(&end)).await {
        error!(error = %e, "cannot close the call record");
    }
}

/// An end the switch decided (a failure before or at the answer).
fn switch_end(outcome: Outcome) -> CallEnd {
    CallEnd {
        at: Timestamp::now(),
        outcome,
        cause: HangupCause::Switch,
    }
}

fn failed(status: Option<u16>, reason: impl Into<String>) -> Outcome {
    Outcome::Failed {
        status,
        reason: reason.into(),
    }
}

/// Serves one incoming call to its end.
pub(crate) async fn serve(shared: Arc<Shared>, incoming: IncomingCall) {
    let span = incoming.span().clone();
    serve_inner(shared, incoming).instrument(span).await
}

async fn serve_inner(shared: Arc<Shared>, incoming: IncomingCall) {
    let start = Timestamp::now();
    let source = incoming.source();
    let Some(line) = shared.lines.identify(source.ip(), incoming.did()).cloned() else {
        warn!(%source, did = incoming.did(), "INVITE from no line of ours");
        m::unknown_line();
        incoming.reject_with(403, Some(&reason_header(403, "unknown line")));
        return;
    };
    let Some(tenant) = shared.router.tenant(&line.tenant) else {
        // Validation checked every line's tenant exists.
        error!(tenant = %line.tenant, "line without its tenant");
        incoming.reject(500);
        return;
    };
    let normaliser = tenant.normaliser();
    let caller_id = incoming.caller();
    let caller: Normalised = if caller_id.anonymous {
        normaliser.normalise("anonymous")
    } else {
        normaliser.normalise(caller_id.number.as_deref().unwrap_or(""))
    };
    let did = normaliser.normalise(incoming.did());
    let mut party = Party::from(&caller);
    party.name = caller_id.display_name.clone();
    let mut record = CallRecord::new(
        incoming.call_id(),
        line.name.clone(),
        CallDirection::Inbound,
        party,
        start,
    );
    record.tenant = Some(line.tenant.clone());
    record.did = Some(did.key().to_string());
    info!(line = %line.name, tenant = %line.tenant, caller = caller.key(), did = did.key(), "call on a line");

    let channel = match tenant.policy().check_inbound(&caller, start) {
        InboundVerdict::Admit(guard) => guard,
        InboundVerdict::Refuse { status, reason } => {
            m::policy_refusal(reason.code());
            incoming.reject_with(status, Some(&reason_header(status, reason.code())));
            record_ended(shared.store.clone(), record, reason.into()).await;
            return;
        }
    };

    let route = {
        let s = shared.clone();
        let (tenant, did, caller) = (line.tenant.clone(), did.clone(), caller.clone());
        blocking(move || s.router.route(&tenant, &did, &caller, start)).await
    };
    let route = match route {
        Some(Ok(route)) => route,
        Some(Err(e)) => {
            warn!(error = %e, "call cannot be routed");
            incoming.reject(e.status());
            record_ended(
                shared.store.clone(),
                record,
                failed(Some(e.status()), e.to_string()),
            )
            .await;
            return;
        }
        None => {
            incoming.reject(500);
            record_ended(
                shared.store.clone(),
                record,
                failed(Some(500), "routing failed"),
            )
            .await;
            return;
        }
    };
    let (agent_name, greeting) = match &route.action {
        RouteAction::Answer { agent, .. } => (agent.clone(), None),
        RouteAction::Greeting { greeting, .. } => {
            (GREETING_AGENT.to_string(), Some(greeting.clone()))
        }
    };
    let profile = match &route.action {
        RouteAction::Answer { profile, .. } => profile.name().to_string(),
        RouteAction::Greeting { .. } => route.profile.name().to_string(),
    };
    record.profile = Some(profile.clone());
    let Some(agent) = shared.agents.get(&agent_name).cloned() else {
        warn!(agent = %agent_name, "no agent by that name");
        incoming.reject(503);
        record_ended(
            shared.store.clone(),
            record,
            failed(Some(503), format!("no agent named {agent_name:?}")),
        )
        .await;
        return;
    };
    record.agent = Some(agent_name.clone());

    let opened = {
        let store = shared.store.clone();
        let record = record.clone();
        blocking(move || OpenCallRecord::open(store, &record)).await
    };
    let open = match opened {
        Some(Ok(open)) => open,
        Some(Err(e)) => {
            error!(error = %e, "cannot open the call record; refusing the call");
            incoming.reject(503);
            return;
        }
        None => {
            incoming.reject(503);
            return;
        }
    };

    incoming.ring();
    // The port pair is reserved before the answer, so that its address
    // goes into our SDP; the session opens on it with what was negotiated.
    let reserved = shared.engine.reserve_ports().and_then(|r| {
        let addr = r.advertised_rtp_addr(None)?;
        Ok((r, addr))
    });
    let (reservation, rtp_addr) = match reserved {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "no media ports for the call");
            incoming.reject(503);
            close(open, switch_end(failed(Some(503), format!("media: {e}")))).await;
            return;
        }
    };
    let local = match LocalMedia::new(rtp_addr.ip(), rtp_addr.port()) {
        Ok(local) => local,
        Err(e) => {
            error!(error = %e, "no address to announce for the media");
            incoming.reject(500);
            close(open, switch_end(failed(Some(500), format!("media: {e}")))).await;
            return;
        }
    };
    let (call, negotiated) = match incoming.accept_media(local) {
        Ok(answered) => answered,
        Err(e) => {
            drop(reservation);
            let end = match &e {
                CallError::Cancelled => CallEnd {
                    at: Timestamp::now(),
                    outcome: Outcome::Cancelled,
                    cause: HangupCause::Remote,
                },
                CallError::Sdp(sdp) => switch_end(failed(Some(sdp.status()), sdp.to_string())),
                other => switch_end(failed(None, other.to_string())),
            };
            close(open, end).await;
            return;
        }
    };
    // Without an offer in the INVITE (delayed offer) the media is known
    // when the ACK brings the answer: it arrives as a session change.
    let params = negotiated
        .as_ref()
        .map_or_else(|| SessionParams::new(MediaCodec::Pcmu), session_params);
    let mut session = match shared.engine.open_session_on(reservation, params) {
        Ok(session) => session,
        Err(e) => {
            warn!(error = %e, "the negotiated media cannot be opened; hanging up");
            let _ = call.hangup().await;
            close(open, switch_end(failed(None, format!("media: {e}")))).await;
            return;
        }
    };
    let answered_at = Instant::now();
    {
        let store = shared.store.clone();
        let id = open.call_id().to_string();
        let now = Timestamp::now();
        if let Some(Err(e)) = blocking(move || {
            store.update(&id, &CallUpdate::Answered(now))?;
            store.update(
                &id,
                &CallUpdate::Routed {
                    profile,
                    agent: agent_name,
                },
            )
        })
        .await
        {
            warn!(error = %e, "cannot write the answer to the call record");
        }
    }
    m::call_answered();

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let handle = SwitchCall {
        info: CallInfo {
            call_id: open.call_id().to_string(),
            line: line.name.clone(),
            tenant: line.tenant.clone(),
            caller: caller.key().to_string(),
            did: did.key().to_string(),
            profile: route.profile.name().to_string(),
            greeting,
        },
        commands: cmd_tx,
        events: ev_rx,
        frames: session.take_frames().ok(),
    };
    let mut agent_task = tokio::spawn(agent.run(handle).instrument(tracing::Span::current()));
    let ending = media::join(call, session, cmd_rx, ev_tx).await;
    drop(channel);
    let agent_result = match tokio::time::timeout(AGENT_GRACE, &mut agent_task).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(join)) => Err(if join.is_panic() {
            "the agent panicked".to_string()
        } else {
            "the agent's task was cancelled".to_string()
        }),
        Err(_) => {
            // Dropping a JoinHandle does not stop its task: abort it, so
            // no agent outlives its call.
            agent_task.abort();
            Err("the agent did not return after the call ended".to_string())
        }
    };
    m::answered_call_ended(answered_at.elapsed());
    let (outcome, cause) = match (agent_result, ending) {
        (Err(reason), _) => {
            warn!(%reason, "agent failed");
            m::agent_error();
            (Outcome::AgentFailed { reason }, HangupCause::Error)
        }
        (Ok(()), CallEnding::Remote) => (Outcome::Completed, HangupCause::Remote),
        (Ok(()), CallEnding::Local) => (Outcome::Completed, HangupCause::Agent),
        (Ok(()), CallEnding::MediaTimeout) => (Outcome::Completed, HangupCause::MediaTimeout),
        (Ok(()), CallEnding::Failed(why)) => (failed(None, why), HangupCause::Error),
    };
    close(
        open,
        CallEnd {
            at: Timestamp::now(),
            outcome,
            cause,
        },
    )
    .await;
}
