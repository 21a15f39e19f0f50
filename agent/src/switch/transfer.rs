//! Transfer by bridging: the switch places the call to the person itself
//! and joins the two calls' media, for far ends that do not take REFER
//! (or when the tenant wants to keep the call on its own records).
//!
//! A number (the profile's human number) is called through the tenant's
//! outbound routes ([`outbound`](super::outbound): its outbound policy,
//! the route's trunks with failover), and that call has its own record;
//! a SIP URI is dialled as given.
//!
//! While the second call (the *human leg*) rings, the caller hears
//! ringback in the tones of the tenant's country (ITU-T E.180, the plans
//! of [`rtp_media::progress`]); when it answers, its media session is
//! opened with what SDP negotiated and joined to the caller's
//! ([`MediaSession::join`]): each call's decoded frames become the other's
//! playback, inside the media workers. When either side hangs up, the
//! other is sent BYE. A human leg that is busy, declined, unanswered
//! within [`HUMAN_RING_TIMEOUT`] or unreachable is a
//! [`TransferFailure`], on which the switch goes on with the profile's
//! fallback (voicemail).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtp_media::dtmf::ToneGenerator;
use rtp_media::engine::MediaSession;
use rtp_media::progress::{Cadence, ProgressTone, TonePlan};
use sip_core::call::{Call, CallEvent as SipCallEvent};
use sip_core::outbound::{CallFailure, DialOptions, Progress};
use sip_core::resolve::CallTarget;
use sip_core::sdp::LocalMedia;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::media::session_params;
use super::outbound::{AnsweredLeg, NotConnected, OutboundRequest};
use super::Shared;
use crate::call::{CallHandle, CallOptions, LINE_RATE};
use crate::media::{BridgeEnd, LineSignal, MediaBridge};
use crate::policy::OutboundGrant;
use crate::record::HangupCause;

/// How long the human leg may ring before it is given up (CANCEL) and
/// the caller goes on to the fallback.
pub const HUMAN_RING_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a bridged transfer did not connect the caller to the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferFailure {
    /// The human leg was not answered: busy, declined, no answer, no such
    /// number, or the network failed (the SIP status, when one came).
    #[error("{target} did not answer: {reason}")]
    NotAnswered {
        /// Whom we called.
        target: String,
        /// The final SIP status of the human leg, when one came.
        status: Option<u16>,
        /// What happened, in words.
        reason: String,
    },
    /// The human leg could not be placed or its media not joined (no
    /// media ports, an answer without usable media).
    #[error("cannot bridge to {target}: {reason}")]
    Setup {
        /// Whom we called.
        target: String,
        /// What failed.
        reason: String,
    },
    /// The caller hung up (or their media ended) before the person
    /// answered; the human leg was cancelled.
    #[error("the caller left while {target} was ringing")]
    CallerLeft {
        /// Whom we called.
        target: String,
        /// How the caller's side ended.
        end: BridgeEnd,
    },
}

impl TransferFailure {
    /// The SIP status of the human leg's failure, when one came.
    pub fn status(&self) -> Option<u16> {
        match self {
            TransferFailure::NotAnswered { status, .. } => *status,
            _ => None,
        }
    }
}

/// How a bridged call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgedEnd {
    /// The caller's side ended (BYE from the caller, media timeout); the
    /// human leg was sent BYE. The [`BridgeEnd`] says how.
    Caller(BridgeEnd),
    /// The person hung up (or their leg failed); the caller is sent BYE.
    Human,
    /// The tenant's outbound minutes for the day ran out while the person
    /// talked; both are sent BYE.
    MinutesSpent,
}

/// A bridged transfer that connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridged {
    /// How it ended.
    pub end: BridgedEnd,
    /// How long the two calls were joined.
    pub talk_time: Duration,
}

/// The call progress tones of a country (ISO 3166-1 region), for the
/// ringback a caller hears: North America's, Britain's, Germany's and
/// Italy's own, and the European recommendation (ETSI ES 201 970) for
/// every other country.
pub fn tone_plan(country: &str) -> TonePlan {
    match country.to_ascii_uppercase().as_str() {
        // The North American Numbering Plan's countries share its tones.
        "US" | "CA" | "PR" | "VI" | "GU" | "AS" | "MP" | "AG" | "AI" | "BB" | "BM" | "BS"
        | "DM" | "DO" | "GD" | "JM" | "KN" | "KY" | "LC" | "MS" | "SX" | "TC" | "TT" | "VC"
        | "VG" => TonePlan::nanp(),
        "GB" => TonePlan::uk(),
        "DE" => TonePlan::germany(),
        "IT" => TonePlan::italy(),
        _ => TonePlan::etsi(),
    }
}

/// `length` of the ringback tone of `plan` at 8 kHz, starting with the
/// first ring (silence where the plan has no ringback).
pub fn ringback(plan: &TonePlan, length: Duration) -> Vec<i16> {
    let total = (length.as_millis() as usize) * (LINE_RATE as usize) / 1000;
    let mut out = vec![0i16; total];
    let Some(spec) = plan.tones.iter().find(|t| t.tone == ProgressTone::Ringback) else {
        return out;
    };
    let (f1, f2, amplitude) = match spec.freqs.as_slice() {
        // Two sines of one frequency: each at half the level of a pair's.
        [f] => (*f, *f, 2000),
        [f1, f2, ..] => (*f1, *f2, 2000),
        [] => return out,
    };
    let mut tone = ToneGenerator::continuous(f1, f2, amplitude, LINE_RATE);
    let segments: Vec<Duration> = match &spec.cadence {
        Cadence::Pattern(segments) if !segments.is_empty() => segments.clone(),
        _ => vec![length],
    };
    let samples = |d: &Duration| ((d.as_millis() as usize) * (LINE_RATE as usize) / 1000).max(1);
    let mut at = 0;
    for (i, segment) in segments.iter().cycle().enumerate() {
        if at >= total {
            break;
        }
        let end = (at + samples(segment)).min(total);
        if i % 2 == 0 {
            tone.fill(&mut out[at..end]);
        }
        at = end;
    }
    out
}

/// What the bridged transfer needs of the caller's call.
pub(crate) struct CallerSide<'a> {
    /// The caller's media, served between agents.
    pub bridge: &'a mut MediaBridge,
    /// What the caller's signalling reports (re-INVITEs, SIP INFO keys).
    pub signals: &'a mut mpsc::UnboundedReceiver<LineSignal>,
    /// Turns true when the caller's signalling is over.
    pub gone: watch::Receiver<bool>,
    /// The caller's call id (logs).
    pub call_id: &'a str,
}

/// The person's answered call: its dialog and its media session, open
/// with what the answer negotiated.
#[derive(Debug)]
pub(crate) enum HumanLeg {
    /// Dialled directly (a SIP URI).
    Direct {
        /// The dialog.
        call: Call,
        /// The media session.
        session: MediaSession,
    },
    /// Placed through the outbound routes: with its own call record and
    /// the tenant's minutes grant.
    Placed(Box<AnsweredLeg>),
}

impl HumanLeg {
    /// The dialog, the media session, and for a call placed through the
    /// outbound routes its minutes grant and when it was answered.
    fn parts(&mut self) -> HumanParts<'_> {
        match self {
            HumanLeg::Direct { call, session } => HumanParts {
                call,
                session,
                minutes: None,
            },
            HumanLeg::Placed(leg) => {
                let AnsweredLeg {
                    call,
                    session,
                    grant,
                    answered_at,
                    ..
                } = &mut **leg;
                HumanParts {
                    call,
                    session,
                    minutes: Some((grant, *answered_at)),
                }
            }
        }
    }

    /// BYE if the call is still up, and the media closed; a leg placed
    /// through the outbound routes also has its talk time charged and its
    /// record closed, with `cause`: the person hung up
    /// ([`HangupCause::Remote`]) or the caller's side ended the bridge
    /// ([`HangupCause::Agent`]: our side of that call).
    async fn end(self, cause: HangupCause) {
        match self {
            HumanLeg::Placed(leg) => leg.end(cause).await,
            HumanLeg::Direct { call, session } => {
                if call.is_active() {
                    let _ = call.hangup().await;
                }
                session.close().await;
            }
        }
    }
}

/// A [`HumanLeg`]'s parts, borrowed apart.
struct HumanParts<'a> {
    call: &'a mut Call,
    session: &'a MediaSession,
    minutes: Option<(&'a mut OutboundGrant, Instant)>,
}

/// Places the call to `e164` through the tenant's outbound routes (its
/// outbound policy, the route's trunks in order with failover), ringing
/// for at most [`HUMAN_RING_TIMEOUT`]; the call has its own record
/// (direction outbound, naming `profile`).
pub(crate) async fn place_through_routes(
    shared: &Arc<Shared>,
    tenant: &str,
    e164: &str,
    profile: Option<String>,
) -> Result<HumanLeg, TransferFailure> {
    let mut request = OutboundRequest::new(tenant, e164);
    request.ring_timeout = HUMAN_RING_TIMEOUT;
    request.profile = profile;
    info!(human = e164, record = %request.call_id, "bridged transfer: placing the call");
    match super::outbound::place(shared, request).await {
        Ok(leg) => Ok(HumanLeg::Placed(Box::new(leg))),
        Err(unanswered) => Err(TransferFailure::NotAnswered {
            target: e164.to_string(),
            status: match &unanswered.ending {
                NotConnected::Refused { status, .. } => Some(*status),
                _ => unanswered
                    .attempts
                    .last()
                    .and_then(|a| a.failure.as_ref())
                    .and_then(|f| f.status),
            },
            reason: unanswered.ending.to_string(),
        }),
    }
}

/// Dials `target` directly (a SIP URI), offering media on a new port
/// pair, presenting `from`; the answered leg, or why there is none.
pub(crate) async fn dial_direct(
    shared: &Shared,
    target: &CallTarget,
    from: Option<CallTarget>,
) -> Result<HumanLeg, TransferFailure> {
    let name = target.to_string();
    let setup = |reason: String| TransferFailure::Setup {
        target: name.clone(),
        reason,
    };
    let reservation = shared
        .engine
        .reserve_ports()
        .map_err(|e| setup(format!("media: {e}")))?;
    let rtp = reservation
        .advertised_rtp_addr(None)
        .map_err(|e| setup(format!("media: {e}")))?;
    let local = LocalMedia::new(rtp.ip(), rtp.port()).map_err(|e| setup(format!("media: {e}")))?;
    let mut options =
        DialOptions::with_media(&name, local).map_err(|e| setup(format!("target: {e}")))?;
    options.from = from;
    options.ring_timeout = HUMAN_RING_TIMEOUT;
    // Dropping the dialing (the caller left) cancels it.
    let mut dialing = shared
        .endpoint
        .dial(options)
        .map_err(|e| setup(format!("SIP: {e}")))?;
    info!(human = %name, human_call = dialing.call_id(), "bridged transfer: dialling");
    let call =
        final_progress(&mut dialing)
            .await
            .map_err(|failure| TransferFailure::NotAnswered {
                target: name.clone(),
                status: failure.code,
                reason: describe(&failure),
            })?;
    let Some(media) = call.media() else {
        let _ = call.hangup().await;
        return Err(setup("the answer has no usable media".into()));
    };
    match shared
        .engine
        .open_session_on(reservation, session_params(&media))
    {
        Ok(session) => Ok(HumanLeg::Direct { call, session }),
        Err(e) => {
            let _ = call.hangup().await;
            Err(setup(format!("media: {e}")))
        }
    }
}

/// Bridges the caller to the person `dial` calls (`name` in logs and
/// errors): ringback to the caller while it rings (in the tones of
/// `country`), the two calls' media joined once it answers; returns when
/// either side has hung up, the other sent BYE. A caller who leaves while
/// it rings drops `dial`, which cancels the person's call.
pub(crate) async fn bridge_to(
    caller: CallerSide<'_>,
    name: &str,
    dial: impl Future<Output = Result<HumanLeg, TransferFailure>>,
    country: &str,
) -> Result<Bridged, TransferFailure> {
    // Ringing: the caller hears ringback, played as an agent would.
    let (ringing, line) = CallHandle::new(caller.call_id, CallOptions::default());
    let tones = ringback(&tone_plan(country), HUMAN_RING_TIMEOUT);
    if ringing.play_at(tones, LINE_RATE).is_err() {
        warn!("no ringback: the caller's media is gone");
    }
    let mut human = {
        let run = caller.bridge.run_following(
            line,
            super::intake::remote_gone(caller.gone.clone()),
            &mut *caller.signals,
        );
        tokio::pin!(run);
        tokio::pin!(dial);
        let answered = tokio::select! {
            end = &mut run => {
                return Err(TransferFailure::CallerLeft { target: name.to_string(), end });
            }
            answered = &mut dial => answered,
        };
        drop(ringing);
        let end = run.await;
        match answered {
            Ok(leg) if end == BridgeEnd::AgentDone => leg,
            Ok(leg) => {
                leg.end(HangupCause::Agent).await;
                return Err(TransferFailure::CallerLeft {
                    target: name.to_string(),
                    end,
                });
            }
            Err(failure) => return Err(failure),
        }
    };

    // Answered: the person's media joined to the caller's.
    let joined = match MediaSession::join(caller.bridge.session(), human.parts().session) {
        Ok(joined) => joined,
        Err(e) => {
            human.end(HangupCause::Error).await;
            return Err(TransferFailure::Setup {
                target: name.to_string(),
                reason: format!("media: {e}"),
            });
        }
    };
    info!(human = %name, "bridged transfer: answered, media joined");
    let started = Instant::now();
    // The caller's side is still served (its signalling, its media
    // events); its frames go to the person while joined.
    let (holding, line) = CallHandle::new(caller.call_id, CallOptions::default());
    let end = {
        let run = caller.bridge.run_following(
            line,
            super::intake::remote_gone(caller.gone.clone()),
            &mut *caller.signals,
        );
        tokio::pin!(run);
        let HumanParts {
            call,
            session,
            minutes,
        } = human.parts();
        tokio::select! {
            end = &mut run => BridgedEnd::Caller(end),
            () = follow_human(call, session) => {
                drop(holding);
                let _ = run.await;
                BridgedEnd::Human
            }
            () = minutes_spent(minutes) => {
                warn!(human = %name, "the day's outbound minutes are spent; ending the bridged call");
                drop(holding);
                let _ = run.await;
                BridgedEnd::MinutesSpent
            }
        }
    };
    let talk_time = started.elapsed();
    drop(joined);
    human
        .end(match end {
            BridgedEnd::Human => HangupCause::Remote,
            BridgedEnd::Caller(_) => HangupCause::Agent,
            BridgedEnd::MinutesSpent => HangupCause::Switch,
        })
        .await;
    info!(human = %name, ?end, ?talk_time, "bridged transfer: over");
    Ok(Bridged { end, talk_time })
}

/// The human leg's final answer, provisional progress logged.
async fn final_progress(dialing: &mut sip_core::outbound::Dialing) -> Result<Call, CallFailure> {
    while let Some(progress) = dialing.next().await {
        match progress {
            Progress::Answered(call) => return Ok(call),
            Progress::Failed(failure) => return Err(failure),
            Progress::Ringing => info!("bridged transfer: the person's phone rings"),
            Progress::EarlyMedia { .. } | Progress::Trying => {}
        }
    }
    Err(CallFailure {
        kind: sip_core::outbound::FailureKind::Unreachable,
        code: None,
        reason: "the call attempt ended without an answer".into(),
    })
}

/// A failed human leg in words for the call record.
fn describe(failure: &CallFailure) -> String {
    use sip_core::outbound::FailureKind::*;
    let what = match failure.kind {
        Busy => "busy",
        Declined => "declined",
        NotFound => "no such number",
        NoAnswer => "no answer",
        Unauthorized => "refused by the trunk",
        NetworkError => "network failure",
        Unreachable => "unreachable",
        Other => "failed",
    };
    match failure.code {
        Some(code) => format!("{what} ({code} {})", failure.reason),
        None => format!("{what} ({})", failure.reason),
    }
}

/// Resolves once a call placed through the outbound routes has talked
/// for all the minutes its grant could reserve; never for a call without
/// a grant (dialled directly) or without a cap.
async fn minutes_spent(minutes: Option<(&mut OutboundGrant, Instant)>) {
    match minutes {
        Some((grant, answered_at)) => {
            super::originate::minutes_spent(grant, answered_at.into()).await
        }
        None => std::future::pending().await,
    }
}

/// Follows the human leg until it is over: re-INVITEs move its media.
async fn follow_human(human: &mut Call, session: &MediaSession) {
    loop {
        match human.next_event().await {
            None | Some(SipCallEvent::Hangup(_)) => return,
            Some(SipCallEvent::SessionModified {
                media: Some(media), ..
            }) => {
                if let Err(e) = session.update(session_params(&media)) {
                    warn!(error = %e, "the human leg's new media cannot be applied");
                }
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtp_media::progress::ProgressDetector;

    #[test]
    fn the_ringback_played_is_heard_as_ringback_in_the_countrys_own_tone_plan() {
        for country in ["IT", "us", "GB", "DE", "FR"] {
            let plan = tone_plan(country);
            let tones = ringback(&plan, Duration::from_secs(12));
            assert_eq!(tones.len(), 12 * 8000);
            let mut detector = ProgressDetector::new(plan);
            let heard: Vec<_> = tones.chunks(160).filter_map(|f| detector.feed(f)).collect();
            assert_eq!(heard, [ProgressTone::Ringback], "{country}");
        }
        // The ringback starts with a ring, not with the pause.
        let it = ringback(&TonePlan::italy(), Duration::from_millis(500));
        assert!(it.iter().any(|&s| s.abs() > 1000));
    }
}
