//! One incoming call, from the INVITE to its closed record: which line it
//! came in on, the caller and DID in E.164 with the tenant's country, the
//! tenant's policy (a refusal is answered and recorded before any media
//! opens), routing to a profile and its agent, the call record, the media
//! session and the answer, then the agent and the media join side by
//! side until the call ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use rtp_media::engine::SessionParams;
use rtp_media::g711::Codec as MediaCodec;
use sip_core::call::{CallError, IncomingCall};
use sip_core::message::{percent_decode, Message};
use sip_core::resolve::CallTarget;
use sip_core::sdp::LocalMedia;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn, Instrument};

use super::media::{self, session_params, CallEnding, SipCommand};
use super::{Shared, GREETING_AGENT, VOICEMAIL_AGENT};
use crate::call::{AgentOutcome, CallContext, CallHandle, CallOptions, TransferTarget};
use crate::journal::RecordLog;
use crate::media::{BridgeEnd, MediaBridge};
use crate::metrics as m;
use crate::numbers::Normalised;
use crate::policy::{InboundVerdict, OutboundVerdict};
use crate::record::{
    CallDirection, CallEnd, CallRecord, CallStore, CallUpdate, Handoff, HandoffKind, HangupCause,
    OpenCallRecord, Outcome, Party,
};
use crate::routing::{Route, RouteAction, Tenant};
use crate::supervise::{supervise, Supervision, Verdict};

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
    m::call_ended(m::outcome_label(&outcome));
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
    m::call_ended(m::outcome_label(&end.outcome));
    if let Some(Err(e)) = blocking(move || record.close(&end)).await {
        error!(error = %e, "cannot close the call record");
    }
}

/// Most agents that may take turns on one call (transfers between agents,
/// fallbacks), so that two agents handing a call back and forth cannot
/// keep it forever.
pub(super) const MAX_AGENTS_PER_CALL: usize = 8;

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

/// The user part of the INVITE's To URI (the number dialled, when the
/// Request-URI names our account instead).
fn to_user(invite: &[u8]) -> Option<String> {
    let Ok(Message::Request(req)) = Message::parse(invite) else {
        return None;
    };
    let to = req.headers.to().ok()?;
    let user = to.uri.user?;
    Some(String::from_utf8_lossy(&percent_decode(user)).into_owned())
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
    // Read again only for a call sent to our account's user name.
    let to_user = line
        .account_user
        .as_deref()
        .filter(|user| *user == incoming.did())
        .and_then(|_| to_user(incoming.invite()));
    let did = normaliser.normalise(line.dialled(incoming.did(), to_user.as_deref()));
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
    let agent_name = match &route.action {
        RouteAction::Answer { agent, .. } => agent.clone(),
        RouteAction::Greeting { .. } => GREETING_AGENT.to_string(),
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
    let session = match shared.engine.open_session_on(reservation, params) {
        Ok(session) => session,
        Err(e) => {
            warn!(error = %e, "the negotiated media cannot be opened; hanging up");
            let _ = call.hangup().await;
            close(open, switch_end(failed(None, format!("media: {e}")))).await;
            return;
        }
    };
    let answered_at = Instant::now();
    let call_id = open.call_id().to_string();
    let log = match RecordLog::start(open) {
        Ok(log) => log,
        Err(e) => {
            // The record closes itself (as failed) as it is dropped.
            error!(error = %e, "cannot start the call record's writer; hanging up");
            let _ = call.hangup().await;
            session.close().await;
            m::call_ended("failed");
            return;
        }
    };
    // The record was opened with the profile and agent routing chose.
    log.update(CallUpdate::Answered(Timestamp::now()));
    m::call_answered();

    let (signals_tx, mut signals) = mpsc::unbounded_channel();
    let (gone_tx, gone) = watch::channel(false);
    let (sip_commands, sip_rx) = mpsc::unbounded_channel();
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
        line: line.name.clone(),
        tenant: Some(line.tenant.clone()),
        direction: CallDirection::Inbound,
        caller: record.caller.clone(),
        did: record.did.clone(),
        profile: Some(profile),
        customer: route.customer.clone(),
    };
    let voicemail_fallback =
        route.profile.voicemail() && shared.agents.contains_key(VOICEMAIL_AGENT);
    let mut next = Some((agent_name, agent));
    let mut failure: Option<String> = None;
    let mut end = None;
    let mut blind: Option<(TransferTarget, Option<String>)> = None;
    let mut hops = 0;
    while let (Some((name, agent)), Some(bridge)) = (next.take(), bridge.as_mut()) {
        let fallback =
            (voicemail_fallback && name != VOICEMAIL_AGENT).then(|| VOICEMAIL_AGENT.to_string());
        let limits = Supervision {
            fallback_target: fallback.clone(),
            ..Supervision::default()
        };
        let (handle, line_side) = CallHandle::new(
            call_id.clone(),
            CallOptions {
                audio_rate: agent.audio_rate(),
                recordings_dir: shared.recordings.clone(),
                record: Some(log.clone()),
            },
        );
        let (ran, verdict) = tokio::join!(
            bridge.run_following(line_side, remote_gone(gone.clone()), &mut signals),
            supervise(agent, ctx.clone(), handle, &limits),
        );
        info!(agent = %name, ?ran, ?verdict, "agent done");
        failure = None;
        let over = !matches!(ran, BridgeEnd::AgentDone);
        end = Some(ran);
        let then = match verdict {
            Verdict::Finished(AgentOutcome::Transfer { target, reason }) => {
                let to = match &target {
                    TransferTarget::Agent(n) => Some(n.clone()),
                    TransferTarget::Voicemail => Some(VOICEMAIL_AGENT.to_string()),
                    _ => None,
                };
                match to.and_then(|n| shared.agents.get(&n).map(|a| (n, a.clone()))) {
                    Some(found) => {
                        let handoff = Handoff {
                            at: Timestamp::now(),
                            kind: HandoffKind::Transfer,
                            target: target.to_string(),
                            reason,
                        };
                        Some((found, Some(handoff)))
                    }
                    None => {
                        // A person or a number: the far end places that call.
                        blind = Some((target, reason));
                        None
                    }
                }
            }
            Verdict::Finished(_) => None,
            Verdict::Fallback(why) => {
                m::agent_error();
                failure = Some(why.to_string());
                // The supervisor recorded the fallback's handoff.
                match fallback {
                    Some(n) => shared.agents.get(&n).map(|a| ((n, a.clone()), None)),
                    None => None,
                }
            }
        };
        hops += 1;
        if over {
            blind = None;
        } else if hops >= MAX_AGENTS_PER_CALL {
            warn!(hops, "too many agents on one call; hanging up");
            log.error(
                "switch",
                format!("{hops} agents took turns on the call; hanging up"),
            );
        } else if let Some((found, handoff)) = then {
            if let Some(handoff) = handoff {
                log.update(CallUpdate::Handoff(handoff));
            }
            next = Some(found);
        }
    }
    if let Some((target, reason)) = blind {
        let uri = transfer_uri(&target, tenant, &route, source, Timestamp::now());
        let (reply, outcome) = oneshot::channel();
        let result = match uri {
            Ok(uri) => match sip_commands.send(SipCommand::Transfer(uri.clone(), reply)) {
                Ok(()) => outcome
                    .await
                    .unwrap_or_else(|_| Err("the call ended".into()))
                    .map(|()| uri),
                Err(_) => Err("the call ended".into()),
            },
            Err(why) => Err(why),
        };
        match result {
            Ok(uri) => log.update(CallUpdate::Handoff(Handoff {
                at: Timestamp::now(),
                kind: HandoffKind::Transfer,
                target: uri.to_string(),
                reason,
            })),
            Err(why) => {
                warn!(%target, %why, "transfer failed; hanging up");
                log.error("switch", format!("transfer to {target} failed: {why}"));
            }
        }
    }
    // Whatever is left of the call ends from our side.
    let _ = sip_commands.send(SipCommand::HangUp);
    let ending = sip
        .await
        .unwrap_or_else(|e| CallEnding::Failed(format!("signalling task: {e}")));
    if let Some(bridge) = bridge {
        bridge.into_session().close().await;
    }
    // The tenant's channel is free once the call's media is.
    drop(channel);
    m::answered_call_ended(answered_at.elapsed());
    let (outcome, cause) = match (failure, end, ending) {
        (Some(reason), _, _) => (Outcome::AgentFailed { reason }, HangupCause::Error),
        (None, Some(BridgeEnd::MediaTimeout { .. }), _) => {
            (Outcome::Completed, HangupCause::MediaTimeout)
        }
        (None, None, _) | (None, Some(BridgeEnd::MediaStopped), _) => (
            failed(None, "the media session stopped"),
            HangupCause::Error,
        ),
        (None, _, CallEnding::Remote) => (Outcome::Completed, HangupCause::Remote),
        (None, _, CallEnding::Local) => (Outcome::Completed, HangupCause::Agent),
        (None, _, CallEnding::Transferred) => (Outcome::Completed, HangupCause::Transferred),
        (None, _, CallEnding::Failed(why)) => (failed(None, why), HangupCause::Error),
    };
    m::call_ended(m::outcome_label(&outcome));
    let end = CallEnd {
        at: Timestamp::now(),
        outcome,
        cause,
    };
    if let Err(e) = log.close(end).await {
        error!(error = %e, "cannot close the call record");
    }
}

/// The Refer-To URI of a blind transfer to `target`: a number (the
/// profile's operator is its human number) is checked against the
/// tenant's outbound policy and sent as `sip:+E164@` the address the call
/// came from (the trunk's proxy or the gateway, which places the call); a
/// SIP URI is used as given.
fn transfer_uri(
    target: &TransferTarget,
    tenant: &Tenant,
    route: &Route,
    source: SocketAddr,
    now: Timestamp,
) -> Result<CallTarget, String> {
    let number = match target {
        TransferTarget::Uri(uri) => return CallTarget::parse(uri).map_err(|e| e.to_string()),
        TransferTarget::Number(n) => n.clone(),
        TransferTarget::Operator => route
            .profile
            .human_number()
            .map(|n| n.e164().to_string())
            .ok_or("the profile has no human number")?,
        TransferTarget::Agent(_) | TransferTarget::Voicemail => {
            return Err(format!("{target} is not a destination on the network"))
        }
    };
    let destination = tenant.normaliser().normalise(&number);
    match tenant.policy().check_outbound(&destination, now) {
        OutboundVerdict::Refuse { reason, .. } => Err(format!("policy refuses it ({reason})")),
        OutboundVerdict::Admit(grant) => {
            // The far end places the call: no minutes of ours are used.
            grant.settle(std::time::Duration::ZERO);
            let e164 = destination
                .number()
                .map(|n| n.e164().to_string())
                .ok_or("not a number")?;
            CallTarget::parse(&format!("sip:{e164}@{source}")).map_err(|e| e.to_string())
        }
    }
}

/// Resolves once the call is over on the signalling side.
async fn remote_gone(mut gone: watch::Receiver<bool>) {
    let _ = gone.wait_for(|g| *g).await;
}
