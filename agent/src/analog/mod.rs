//! Analog lines: an FXO port (a DAHDI channel facing the phone company)
//! answering calls with the same policy, routing, agents and call records
//! as a SIP call.
//!
//! A call on an FXO port goes:
//!
//! 1. The exchange rings the line; between the first and second ring it
//!    sends caller ID (Bell 202 or V.23 FSK, SDMF or MDMF, or DTMF), which
//!    [`wait_for_rings`] decodes with `rtp-media`'s receivers.
//! 2. After the configured number of rings the tenant's policy and router
//!    decide, the call record opens, and the port goes off hook (answers).
//! 3. The routed agent gets a [`CallHandle`] whose
//!    [`LineSide`](crate::call::LineSide) [`serve`] serves from the
//!    channel's 20 ms frames, on the one blocking thread that owns the
//!    channel: the caller's audio, speech from the VAD (with an
//!    [`EchoGate`] so the line's own echo of a prompt is no barge-in),
//!    keys from the in-band DTMF detector, and the agent's playback out.
//! 4. The far end hanging up shows as a polarity reversal, as battery loss,
//!    or (on lines that give neither) as busy or reorder tone; our hang-up
//!    puts the line on hook. Either way the record closes with its cause.
//!
//! Everything works over [`AnalogChannel`], so the simulated line of
//! `dahdi-sys` (rings, caller ID, hang-up and echo on a virtual clock)
//! stands in for a card in tests.

mod echo;
mod line;

pub use echo::{EchoGate, EchoGateSettings};
pub use line::{serve, HangupSignal, LineEnd, LineSettings};

use crate::call::{AgentOutcome, CallContext, CallHandle, CallOptions, FRAME_DURATION};
use crate::journal::RecordLog;
use crate::policy::InboundVerdict;
use crate::record::{
    CallDirection, CallEnd, CallRecord, CallStore, HangupCause, OpenCallRecord, Outcome, Party,
};
use crate::routing::{RouteAction, Router};
use crate::supervise::{supervise, Supervision, Verdict};
use crate::switch::{Agents, GREETING_AGENT};
use dahdi_sys::channel::{AnalogChannel, ChannelError, ChannelEvent, Hook};
use jiff::Timestamp;
use rtp_media::callerid::{CallerIdMessage, CallerIdReceiver, DtmfCallerIdReceiver, Modulation};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tracing::{info, warn};

/// How the exchange sends caller ID on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerIdStandard {
    /// Bell 202 FSK (North America, GR-30-CORE), SDMF or MDMF.
    Bell202,
    /// ITU-T V.23 FSK (most of Europe, ETSI EN 300 659-1), SDMF or MDMF.
    V23,
    /// DTMF digits (some European and Asian countries).
    Dtmf,
    /// The line sends none.
    None,
}

/// How one FXO port answers.
#[derive(Debug, Clone)]
pub struct FxoSettings {
    /// The line's name in call records (`"dahdi/1"`).
    pub name: String,
    /// The tenant whose policy, routing and agents take the calls.
    pub tenant: String,
    /// The line's own number, routed on as the DID; `None` routes to the
    /// tenant's default profile.
    pub number: Option<String>,
    /// Rings before answering (at least 1). Caller ID comes after the
    /// first ring, so answering on the first gives none.
    pub rings_before_answer: u32,
    /// How the line sends caller ID.
    pub caller_id: CallerIdStandard,
    /// No ring for this long after the last one: the caller gave up.
    pub ring_timeout: Duration,
    /// How the answered call is served (hang-up tones, echo gate, VAD).
    pub line: LineSettings,
}

impl FxoSettings {
    /// A port named `name` for `tenant`, answering after two rings with
    /// Bell 202 caller ID and North American hang-up tones.
    pub fn new(name: impl Into<String>, tenant: impl Into<String>) -> Self {
        FxoSettings {
            name: name.into(),
            tenant: tenant.into(),
            number: None,
            rings_before_answer: 2,
            caller_id: CallerIdStandard::Bell202,
            ring_timeout: Duration::from_secs(8),
            line: LineSettings::default(),
        }
    }
}

/// A ringing call, as far as the line told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingingCall {
    /// When the first ring began.
    pub started: Timestamp,
    /// Rings counted (each one whole).
    pub rings: u32,
    /// What the caller ID burst said, when one was decoded.
    pub caller_id: Option<CallerIdMessage>,
}

/// How the ringing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ringing {
    /// The configured rings came: answer.
    Answer(RingingCall),
    /// The rings stopped before then: the caller gave up.
    Abandoned(RingingCall),
    /// No ring came; the line is idle (a simulated line's script ended).
    Idle,
}

/// The caller ID receiver of a standard.
enum CallerIdDecoder {
    Fsk(Box<CallerIdReceiver>),
    Dtmf(Box<DtmfCallerIdReceiver>),
    None,
}

impl CallerIdDecoder {
    fn new(standard: CallerIdStandard) -> Self {
        match standard {
            CallerIdStandard::Bell202 => {
                CallerIdDecoder::Fsk(Box::new(CallerIdReceiver::new(Modulation::Bell202)))
            }
            CallerIdStandard::V23 => {
                CallerIdDecoder::Fsk(Box::new(CallerIdReceiver::new(Modulation::V23)))
            }
            CallerIdStandard::Dtmf => CallerIdDecoder::Dtmf(Box::new(DtmfCallerIdReceiver::new())),
            CallerIdStandard::None => CallerIdDecoder::None,
        }
    }

    fn feed(&mut self, samples: &[i16]) -> Option<CallerIdMessage> {
        let got = match self {
            CallerIdDecoder::Fsk(rx) => rx.feed(samples),
            CallerIdDecoder::Dtmf(rx) => rx.feed(samples),
            CallerIdDecoder::None => None,
        };
        match got? {
            Ok(message) => Some(message),
            Err(e) => {
                warn!(error = %e, "caller ID burst lost");
                None
            }
        }
    }
}

fn samples_of(frame: &dahdi_sys::channel::Frame) -> Vec<i16> {
    match frame {
        dahdi_sys::channel::Frame::Linear(s) => s.to_vec(),
        dahdi_sys::channel::Frame::Mulaw(c) => c
            .iter()
            .map(|&b| rtp_media::g711::ulaw_to_linear(b))
            .collect(),
    }
}

/// Waits on an idle line for a call and counts its rings, decoding caller
/// ID between them, until `settings.rings_before_answer` rings have come
/// (answer), the rings stop for `settings.ring_timeout` (the caller gave
/// up), or nothing comes at all. Blocks; reads the line's audio from the
/// first ring on.
pub fn wait_for_rings<C: AnalogChannel + ?Sized>(
    channel: &mut C,
    settings: &FxoSettings,
) -> Result<Ringing, ChannelError> {
    let wanted = settings.rings_before_answer.max(1);
    let mut call = loop {
        match channel.next_event(None)? {
            None => return Ok(Ringing::Idle),
            Some(ChannelEvent::RingBegin) => {
                break RingingCall {
                    started: Timestamp::now(),
                    rings: 0,
                    caller_id: None,
                }
            }
            Some(ChannelEvent::RingOffHook) => {
                let call = RingingCall {
                    started: Timestamp::now(),
                    rings: 1,
                    caller_id: None,
                };
                if wanted == 1 {
                    return Ok(Ringing::Answer(call));
                }
                break call;
            }
            Some(ChannelEvent::Removed) => return Ok(Ringing::Idle),
            Some(other) => {
                tracing::debug!(channel = channel.number(), event = ?other, "idle line event")
            }
        }
    };
    let mut decoder = CallerIdDecoder::new(settings.caller_id);
    let mut in_ring = call.rings == 0;
    let mut quiet = Duration::ZERO;
    loop {
        while let Some(event) = channel.next_event(Some(Duration::ZERO))? {
            match event {
                ChannelEvent::RingBegin => {
                    in_ring = true;
                    quiet = Duration::ZERO;
                }
                ChannelEvent::RingOffHook => {
                    in_ring = false;
                    quiet = Duration::ZERO;
                    call.rings += 1;
                    if call.rings >= wanted {
                        return Ok(Ringing::Answer(call));
                    }
                }
                ChannelEvent::Removed => return Ok(Ringing::Idle),
                other => {
                    tracing::debug!(channel = channel.number(), event = ?other, "event while ringing")
                }
            }
        }
        // The card sends silence while the line rings, as it always sends
        // something: each frame read has its frame written.
        channel.write_frame(&dahdi_sys::channel::Frame::silence(channel.format()))?;
        let frame = channel.read_frame()?;
        if in_ring {
            continue;
        }
        if call.caller_id.is_none() && call.rings >= 1 {
            call.caller_id = decoder.feed(&samples_of(&frame));
            if let Some(id) = &call.caller_id {
                info!(channel = channel.number(), number = ?id.number, name = ?id.name, "caller ID");
            }
        }
        quiet += FRAME_DURATION;
        if quiet >= settings.ring_timeout {
            return Ok(Ringing::Abandoned(call));
        }
    }
}

/// Why an analog port stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum AnalogError {
    /// The channel failed (the card, the driver).
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The port's tenant is not configured.
    #[error("analog line {line}: no tenant {tenant:?}")]
    UnknownTenant {
        /// The line.
        line: String,
        /// The tenant it names.
        tenant: String,
    },
    /// The call record could not be opened or written, so no call is
    /// answered on the line.
    #[error("analog line {line}: call record: {message}")]
    Record {
        /// The line.
        line: String,
        /// What the store said.
        message: String,
    },
}

/// What the switch lends an analog port: routing and policy, the call
/// store, the agents by name, and the limits agents run under.
#[derive(Clone)]
pub struct FxoServices {
    /// Tenants, their policy and routing.
    pub router: Arc<Router>,
    /// Where call records go.
    pub store: Arc<dyn CallStore>,
    /// The agents by name.
    pub agents: Agents,
    /// The limits each agent runs under.
    pub supervision: Supervision,
}

impl std::fmt::Debug for FxoServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FxoServices")
            .field("agents", &self.agents.keys().collect::<Vec<_>>())
            .field("supervision", &self.supervision)
            .finish_non_exhaustive()
    }
}

static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

/// A call id unique in this process and across restarts.
fn call_id(channel: u32) -> String {
    format!(
        "dahdi-{channel}-{}-{}",
        Timestamp::now().as_millisecond(),
        NEXT_CALL.fetch_add(1, Ordering::Relaxed)
    )
}

fn ended(outcome: Outcome, cause: HangupCause) -> CallEnd {
    CallEnd {
        at: Timestamp::now(),
        outcome,
        cause,
    }
}

/// Records a call that ended before it was answered.
fn record_unanswered(
    services: &FxoServices,
    mut record: CallRecord,
    outcome: Outcome,
    cause: HangupCause,
) -> Result<(), AnalogError> {
    let line = record.line.clone();
    let err = |e: crate::record::StoreError| AnalogError::Record {
        line: line.clone(),
        message: e.to_string(),
    };
    record.end = None;
    let open = OpenCallRecord::open(services.store.clone(), &record).map_err(err)?;
    open.close(&ended(outcome, cause)).map_err(err)?;
    Ok(())
}

/// Serves one call on an FXO port, from the first ring to the record's
/// close; `Ok(None)` when no call came (the line is idle).
///
/// Blocks this thread (which owns the channel) for the whole call; the
/// agent runs on `runtime`, so this must not be called from one of its
/// worker threads. Returns the call's id once its record is closed.
pub fn answer_one_call<C: AnalogChannel + ?Sized>(
    channel: &mut C,
    settings: &FxoSettings,
    services: &FxoServices,
    runtime: &Handle,
) -> Result<Option<String>, AnalogError> {
    let ringing = match wait_for_rings(channel, settings)? {
        Ringing::Idle => return Ok(None),
        Ringing::Answer(call) => Ok(call),
        Ringing::Abandoned(call) => Err(call),
    };
    let tenant =
        services
            .router
            .tenant(&settings.tenant)
            .ok_or_else(|| AnalogError::UnknownTenant {
                line: settings.name.clone(),
                tenant: settings.tenant.clone(),
            })?;
    let rang = match &ringing {
        Ok(call) | Err(call) => call.clone(),
    };
    let normaliser = tenant.normaliser();
    let caller = match rang.caller_id.as_ref().and_then(|id| id.number.as_deref()) {
        Some(number) => normaliser.normalise(number),
        None => normaliser.normalise("anonymous"),
    };
    let did = normaliser.normalise(settings.number.as_deref().unwrap_or(""));
    let mut party = Party::from(&caller);
    party.name = rang.caller_id.as_ref().and_then(|id| id.name.clone());
    let call_id = call_id(channel.number());
    let mut record = CallRecord::new(
        call_id.clone(),
        settings.name.clone(),
        CallDirection::Inbound,
        party,
        rang.started,
    );
    record.tenant = Some(settings.tenant.clone());
    record.did = settings.number.as_ref().map(|_| did.key().to_string());
    info!(line = %settings.name, caller = caller.key(), rings = rang.rings, "call on an analog line");
    if ringing.is_err() {
        record_unanswered(services, record, Outcome::Cancelled, HangupCause::Remote)?;
        return Ok(Some(call_id));
    }

    let start = rang.started;
    let _channel_guard = match tenant.policy().check_inbound(&caller, start) {
        InboundVerdict::Admit(guard) => guard,
        InboundVerdict::Refuse { reason, .. } => {
            // Not answered: the line rings out at the caller's end.
            info!(line = %settings.name, reason = reason.code(), "call refused by policy; not answered");
            record_unanswered(services, record, reason.into(), HangupCause::Switch)?;
            return Ok(Some(call_id));
        }
    };
    let route = match services
        .router
        .route(&settings.tenant, &did, &caller, start)
    {
        Ok(route) => route,
        Err(e) => {
            warn!(error = %e, "analog call cannot be routed; not answered");
            let outcome = Outcome::Failed {
                status: None,
                reason: e.to_string(),
            };
            record_unanswered(services, record, outcome, HangupCause::Switch)?;
            return Ok(Some(call_id));
        }
    };
    let (agent_name, profile) = match &route.action {
        RouteAction::Answer { agent, profile } => (agent.clone(), profile.name().to_string()),
        RouteAction::Greeting { .. } => {
            (GREETING_AGENT.to_string(), route.profile.name().to_string())
        }
    };
    record.profile = Some(profile.clone());
    let Some(agent) = services.agents.get(&agent_name).cloned() else {
        warn!(agent = %agent_name, "no agent by that name; not answered");
        let outcome = Outcome::Failed {
            status: None,
            reason: format!("no agent named {agent_name:?}"),
        };
        record_unanswered(services, record, outcome, HangupCause::Switch)?;
        return Ok(Some(call_id));
    };
    record.agent = Some(agent_name);
    let record_error = |message: String| AnalogError::Record {
        line: settings.name.clone(),
        message,
    };
    let open = OpenCallRecord::open(services.store.clone(), &record)
        .map_err(|e| record_error(e.to_string()))?;

    channel.set_hook(Hook::OffHook)?;
    let log = RecordLog::start(open).map_err(|e| record_error(e.to_string()))?;
    log.update(crate::record::CallUpdate::Answered(Timestamp::now()));
    let options = CallOptions {
        audio_rate: agent.audio_rate(),
        recordings_dir: None,
        record: Some(log.clone()),
    };
    let (call, line) = CallHandle::new(call_id.clone(), options);
    let ctx = CallContext {
        call_id: call_id.clone(),
        line: settings.name.clone(),
        tenant: Some(settings.tenant.clone()),
        direction: CallDirection::Inbound,
        caller: record.caller.clone(),
        did: record.did.clone(),
        profile: Some(profile),
        customer: route.customer.clone(),
    };
    let limits = services.supervision.clone();
    let verdict = runtime.spawn(async move { supervise(agent, ctx, call, &limits).await });

    let end = serve(channel, line, &settings.line);
    let hung_up = channel.set_hook(Hook::OnHook);
    let verdict = runtime.block_on(verdict);
    let call_end = match (&end, verdict) {
        (LineEnd::FarEndHungUp(signal), _) => {
            info!(line = %settings.name, ?signal, "the far end hung up");
            ended(Outcome::Completed, HangupCause::Remote)
        }
        (LineEnd::ChannelFailed(e), _) => {
            log.error("line", e.to_string());
            ended(
                Outcome::Failed {
                    status: None,
                    reason: e.to_string(),
                },
                HangupCause::Error,
            )
        }
        (LineEnd::ChannelRemoved, _) => ended(
            Outcome::Failed {
                status: None,
                reason: "the DAHDI channel was removed".into(),
            },
            HangupCause::Error,
        ),
        (LineEnd::AgentDone, Ok(Verdict::Finished(AgentOutcome::Transfer { target, .. }))) => {
            log.error(
                "line",
                format!("transfer to {target} is not available on an analog line; hung up"),
            );
            ended(Outcome::Completed, HangupCause::Agent)
        }
        (LineEnd::AgentDone, Ok(Verdict::Finished(_))) => {
            ended(Outcome::Completed, HangupCause::Agent)
        }
        (LineEnd::AgentDone, Ok(Verdict::Fallback(failure))) => {
            log.error("agent", failure.to_string());
            ended(
                Outcome::AgentFailed {
                    reason: failure.to_string(),
                },
                HangupCause::Error,
            )
        }
        (LineEnd::AgentDone, Err(e)) => ended(
            Outcome::AgentFailed {
                reason: e.to_string(),
            },
            HangupCause::Error,
        ),
    };
    if let Err(e) = runtime.block_on(log.close(call_end)) {
        warn!(error = %e, "analog call record not closed");
    }
    hung_up?;
    Ok(Some(call_id))
}

/// Serves calls on an FXO port on a thread of its own until the line goes
/// idle for good (a simulated line's script ends) or the channel fails.
pub fn spawn_fxo_port<C: AnalogChannel + Send + 'static>(
    mut channel: C,
    settings: FxoSettings,
    services: FxoServices,
    runtime: Handle,
) -> std::io::Result<std::thread::JoinHandle<Result<(), AnalogError>>> {
    std::thread::Builder::new()
        .name(format!("fxo-{}", channel.number()))
        .spawn(move || {
            while answer_one_call(&mut channel, &settings, &services, &runtime)?.is_some() {}
            Ok(())
        })
}
