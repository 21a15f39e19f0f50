//! One incoming call, from the INVITE to its closed record: which line it
//! came in on, the caller and DID in E.164 with the tenant's country, the
//! tenant's policy (a refusal is answered and recorded before any media
//! opens), routing to a profile and its agent, the call record, the media
//! session and the answer, then the agent and the media join side by
//! side until the call ends.

use std::net::SocketAddr;
use std::path::PathBuf;
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
use super::status::ActiveCall;
use super::transfer::{
    bridge_to, dial_direct, place_through_routes, BridgedEnd, CallerSide, HumanLeg, TransferFailure,
};
use super::{Shared, GREETING_AGENT, VOICEMAIL_AGENT};
use crate::call::{AgentOutcome, BoxFuture, CallContext, CallHandle, CallOptions, TransferTarget};
use crate::journal::RecordLog;
use crate::media::{BridgeEnd, MediaBridge};
use crate::metrics as m;
use crate::numbers::Normalised;
use crate::policy::{InboundVerdict, OutboundVerdict};
use crate::record::{
    CallDirection, CallEnd, CallRecord, CallStore, CallUpdate, Handoff, HandoffKind, HangupCause,
    OpenCallRecord, Outcome, Party,
};
use crate::routing::{Profile, RouteAction, Tenant, TransferMethod};
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

    if *shared.closing.borrow() {
        incoming.reject_with(503, Some(&reason_header(503, "shutting down")));
        close(
            open,
            switch_end(failed(Some(503), "the switch is shutting down")),
        )
        .await;
        return;
    }

    let listed = shared.active.add(ActiveCall {
        call_id: record.call_id.clone(),
        line: record.line.clone(),
        tenant: record.tenant.clone(),
        direction: record.direction,
        caller: record.caller.clone(),
        did: record.did.clone(),
        agent: record.agent.clone(),
        since: record.start,
    });

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
        line: line.name.clone(),
        tenant: Some(line.tenant.clone()),
        direction: CallDirection::Inbound,
        caller: record.caller.clone(),
        did: record.did.clone(),
        profile: Some(profile),
        customer: route.customer.clone(),
    };
    // The settings of the profile that answers (the routed one, or the
    // one its out-of-hours action names).
    let settings = match &route.action {
        RouteAction::Answer { profile, .. } => profile.clone(),
        RouteAction::Greeting { .. } => route.profile.clone(),
    };
    let mut chain = Chain {
        settings: &settings,
        person_failed: false,
        voicemail: settings
            .voicemail()
            .then(|| shared.agents.get(VOICEMAIL_AGENT).cloned())
            .flatten(),
    };
    let mut next = Some(Step::Agent {
        name: agent_name,
        agent,
        handoff: None,
    });
    // The agent's failure, while no one else has taken the call.
    let mut failure: Option<String> = None;
    // A transfer that failed with nothing after it: (status, reason).
    let mut unplaced: Option<(Option<u16>, String)> = None;
    let mut bridged: Option<BridgedEnd> = None;
    let mut end = None;
    let mut hops = 0;
    while let (Some(step), Some(bridge)) = (next.take(), bridge.as_mut()) {
        hops += 1;
        if hops > MAX_AGENTS_PER_CALL {
            warn!(hops, "too many agents on one call; hanging up");
            log.error(
                "switch",
                format!("{MAX_AGENTS_PER_CALL} agents took turns on the call; hanging up"),
            );
            break;
        }
        match step {
            Step::Agent {
                name,
                agent,
                handoff,
            } => {
                if let Some(handoff) = handoff {
                    log.update(CallUpdate::Handoff(handoff));
                }
                listed.set_agent(&name);
                // The switch records the fallback it takes itself.
                let limits = Supervision::default();
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
                unplaced = None;
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
                            Some((name, agent)) => Some(Step::Agent {
                                name,
                                agent,
                                handoff: Some(Handoff {
                                    at: Timestamp::now(),
                                    kind: HandoffKind::Transfer,
                                    target: target.to_string(),
                                    reason,
                                }),
                            }),
                            // A person or a number.
                            None => Some(Step::Person {
                                target,
                                kind: HandoffKind::Transfer,
                                reason,
                            }),
                        }
                    }
                    Verdict::Finished(_) => None,
                    Verdict::Fallback(why) => {
                        m::agent_error();
                        let why = why.to_string();
                        failure = Some(why.clone());
                        // A failed voicemail is the end of the chain.
                        (name != VOICEMAIL_AGENT)
                            .then(|| chain.after_failure(why))
                            .flatten()
                    }
                };
                if !over {
                    next = then;
                }
            }
            Step::Apology { prompt, why } => {
                log.update(CallUpdate::Handoff(Handoff {
                    at: Timestamp::now(),
                    kind: HandoffKind::Fallback,
                    target: APOLOGY.to_string(),
                    reason: Some(why.clone()),
                }));
                let (handle, line_side) = CallHandle::new(call_id.clone(), CallOptions::default());
                let apologise = async move {
                    let played = match handle.play_file(prompt).await {
                        Ok(_) => handle.wait_playback().await,
                        Err(e) => Err(e),
                    };
                    // The bridge's run ends with the handle.
                    drop(handle);
                    played
                };
                let (ran, played) = tokio::join!(
                    bridge.run_following(line_side, remote_gone(gone.clone()), &mut signals),
                    apologise,
                );
                if let Err(e) = played {
                    warn!(error = %e, "the apology could not be played");
                    log.error("switch", format!("apology: {e}"));
                }
                let over = !matches!(ran, BridgeEnd::AgentDone);
                end = Some(ran);
                if !over {
                    next = chain.after_apology(why);
                }
            }
            Step::Person {
                target,
                kind,
                reason,
            } => {
                let destination = human_destination(&target, tenant, &settings);
                let placed = match (settings.transfer(), destination) {
                    (_, Err(why)) => Err((None, why)),
                    (TransferMethod::Refer, Ok(destination)) => {
                        match destination.refer_to(tenant, source, Timestamp::now()) {
                            Ok(uri) => refer(&sip_commands, uri.clone())
                                .await
                                .map(|()| uri.to_string()),
                            Err(why) => Err((None, why)),
                        }
                    }
                    (TransferMethod::Bridge, Ok(destination)) => {
                        let caller = CallerSide {
                            bridge: &mut *bridge,
                            signals: &mut signals,
                            gone: gone.clone(),
                            call_id: &call_id,
                        };
                        let country = tenant.normaliser().country().to_string();
                        let (name, dial): (
                            String,
                            BoxFuture<'_, Result<HumanLeg, TransferFailure>>,
                        ) = match destination {
                            Destination::Uri(uri) => {
                                let from = presented_identity(&record.caller, &shared);
                                let (shared, name) = (&shared, uri.to_string());
                                let dial = async move { dial_direct(shared, &uri, from).await };
                                (name, Box::pin(dial))
                            }
                            Destination::Number(e164) => {
                                let profile = Some(settings.name().to_string());
                                let (shared, tenant, number) =
                                    (&shared, line.tenant.clone(), e164.clone());
                                let dial = async move {
                                    place_through_routes(shared, &tenant, &number, profile).await
                                };
                                (e164, Box::pin(dial))
                            }
                        };
                        match bridge_to(caller, &name, dial, &country).await {
                            Ok(done) => {
                                if let BridgedEnd::Caller(ran) = &done.end {
                                    end = Some(ran.clone());
                                }
                                bridged = Some(done.end);
                                Ok(name)
                            }
                            Err(TransferFailure::CallerLeft { end: ran, .. }) => {
                                end = Some(ran);
                                Err((None, "the caller hung up while it rang".into()))
                            }
                            Err(e) => Err((e.status(), e.to_string())),
                        }
                    }
                };
                match placed {
                    Ok(reached) => {
                        log.update(CallUpdate::Handoff(Handoff {
                            at: Timestamp::now(),
                            kind,
                            target: reached,
                            reason,
                        }));
                        failure = None;
                    }
                    Err((status, why)) => {
                        warn!(%target, %why, "transfer failed");
                        log.error("transfer", format!("transfer to {target} failed: {why}"));
                        chain.person_failed = true;
                        let caller_left = *gone.borrow()
                            || end
                                .as_ref()
                                .is_some_and(|e| !matches!(e, BridgeEnd::AgentDone));
                        if !caller_left {
                            next =
                                chain.after_person(format!("transfer to {target} failed: {why}"));
                        }
                        if next.is_none() {
                            unplaced =
                                Some((status, format!("transfer to {target} failed: {why}")));
                            if let Some(f) = failure.as_mut() {
                                f.push_str(&format!(
                                    "; then the transfer to {target} failed: {why}"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let ended_by_shutdown = shutdown.stop();
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
        // Joined to the person: whichever of the two hung up first, or
        // the day's outbound minutes ran out.
        (None, _, _) if bridged == Some(BridgedEnd::MinutesSpent) => {
            (Outcome::Completed, HangupCause::Switch)
        }
        (None, _, _) if bridged.is_some() => (Outcome::Completed, HangupCause::Remote),
        (None, Some(BridgeEnd::MediaTimeout { .. }), _) => {
            (Outcome::Completed, HangupCause::MediaTimeout)
        }
        (None, None, _) | (None, Some(BridgeEnd::MediaStopped), _) => (
            failed(None, "the media session stopped"),
            HangupCause::Error,
        ),
        (None, _, CallEnding::Remote) => (Outcome::Completed, HangupCause::Remote),
        (None, _, CallEnding::Local) if ended_by_shutdown => {
            (Outcome::Completed, HangupCause::Shutdown)
        }
        (None, _, CallEnding::Local) => match unplaced {
            Some((status, reason)) => (failed(status, reason), HangupCause::Agent),
            None => (Outcome::Completed, HangupCause::Agent),
        },
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

/// The name the apology takes in the call record's handoffs.
const APOLOGY: &str = "apology";

/// One step of an answered call: an agent, the apology of the fallback
/// chain, or a person the call is handed to.
enum Step {
    /// An agent runs on the call; `handoff` is recorded as it starts.
    Agent {
        name: String,
        agent: crate::SharedAgent,
        handoff: Option<Handoff>,
    },
    /// The profile's apology is played after the agent failed with `why`.
    Apology { prompt: PathBuf, why: String },
    /// The call goes to a person (the profile's human number, a number,
    /// a URI), by REFER or by bridging as the profile says.
    Person {
        target: TransferTarget,
        kind: HandoffKind,
        reason: Option<String>,
    },
}

/// The fallback chain of a profile: after the agent fails, the apology,
/// then the human number, then voicemail, as far as the profile has them;
/// after a failed transfer, voicemail.
struct Chain<'a> {
    settings: &'a Profile,
    /// The call could not be handed to a person already: an agent failing
    /// after that goes straight to voicemail.
    person_failed: bool,
    /// The voicemail agent, where the profile offers voicemail.
    voicemail: Option<crate::SharedAgent>,
}

impl Chain<'_> {
    /// What follows an agent that failed with `why`.
    fn after_failure(&self, why: String) -> Option<Step> {
        match self.settings.apology() {
            Some(prompt) => Some(Step::Apology {
                prompt: prompt.to_path_buf(),
                why,
            }),
            None => self.after_apology(why),
        }
    }

    /// What follows the apology: the human number, else voicemail.
    fn after_apology(&self, why: String) -> Option<Step> {
        if self.settings.human_number().is_some() && !self.person_failed {
            return Some(Step::Person {
                target: TransferTarget::Operator,
                kind: HandoffKind::Fallback,
                reason: Some(why),
            });
        }
        self.voicemail_after(why)
    }

    /// What follows a person that could not be reached (`why`).
    fn after_person(&self, why: String) -> Option<Step> {
        self.voicemail_after(why)
    }

    fn voicemail_after(&self, why: String) -> Option<Step> {
        self.voicemail.clone().map(|agent| Step::Agent {
            name: VOICEMAIL_AGENT.to_string(),
            agent,
            handoff: Some(Handoff {
                at: Timestamp::now(),
                kind: HandoffKind::Fallback,
                target: TransferTarget::Voicemail.to_string(),
                reason: Some(why),
            }),
        })
    }
}

/// Sends a blind transfer on the call's signalling and waits for its
/// outcome: `Ok` once the far end's NOTIFY says the target answered.
async fn refer(
    sip_commands: &mpsc::UnboundedSender<SipCommand>,
    uri: CallTarget,
) -> Result<(), (Option<u16>, String)> {
    let (reply, outcome) = oneshot::channel();
    sip_commands
        .send(SipCommand::Transfer(uri, reply))
        .map_err(|_| (None, "the call ended".to_string()))?;
    outcome
        .await
        .unwrap_or_else(|_| Err("the call ended".into()))
        .map_err(|why| (None, why))
}

/// Who the person we bridge to sees calling: the caller's number at our
/// address, so they know whom they are put through to.
fn presented_identity(caller: &Party, shared: &Shared) -> Option<CallTarget> {
    let number = caller.e164.as_deref()?;
    let ours = shared.endpoint.udp_addr()?;
    CallTarget::parse(&format!("sip:{number}@{ours}")).ok()
}

/// Where a transfer to a person goes.
enum Destination {
    /// A SIP URI, used as given.
    Uri(CallTarget),
    /// A number, in E.164.
    Number(String),
}

impl Destination {
    /// The URI a REFER names: a number, once the tenant's outbound policy
    /// allows it, goes to `sip:+E164@` the address the call came from (the
    /// trunk's proxy or the gateway, which places the call; no minutes of
    /// ours are used).
    fn refer_to(
        self,
        tenant: &Tenant,
        source: SocketAddr,
        now: Timestamp,
    ) -> Result<CallTarget, String> {
        let e164 = match self {
            Destination::Uri(uri) => return Ok(uri),
            Destination::Number(e164) => e164,
        };
        match tenant
            .policy()
            .check_outbound(&tenant.normaliser().normalise(&e164), now)
        {
            OutboundVerdict::Refuse { reason, .. } => Err(format!("policy refuses it ({reason})")),
            OutboundVerdict::Admit(grant) => {
                grant.settle(std::time::Duration::ZERO);
                CallTarget::parse(&format!("sip:{e164}@{source}")).map_err(|e| e.to_string())
            }
        }
    }
}

/// Where a transfer to `target` goes: a number (the profile's operator is
/// its human number) in E.164, a SIP URI as given.
fn human_destination(
    target: &TransferTarget,
    tenant: &Tenant,
    settings: &Profile,
) -> Result<Destination, String> {
    let number = match target {
        TransferTarget::Uri(uri) => {
            return CallTarget::parse(uri)
                .map(Destination::Uri)
                .map_err(|e| e.to_string())
        }
        TransferTarget::Number(n) => n.clone(),
        TransferTarget::Operator => settings
            .human_number()
            .map(|n| n.e164().to_string())
            .ok_or("the profile has no human number")?,
        TransferTarget::Agent(_) | TransferTarget::Voicemail => {
            return Err(format!("{target} is not a destination on the network"))
        }
    };
    tenant
        .normaliser()
        .normalise(&number)
        .number()
        .map(|n| Destination::Number(n.e164().to_string()))
        .ok_or_else(|| format!("{number:?} is not a number"))
}

/// Resolves once the call is over on the signalling side.
pub(crate) async fn remote_gone(mut gone: watch::Receiver<bool>) {
    let _ = gone.wait_for(|g| *g).await;
}
