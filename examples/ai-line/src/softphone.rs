//! `ai-line call`: the test-call softphone. It calls a line (ours or any
//! SIP URI) from a local endpoint of its own, offers PCMU (then PCMA),
//! runs the call's media through `rtp-media` like any other call, and
//! plays a script of turns: what to say (text-to-speech), a file to play,
//! keys to press (RFC 4733). After each turn it listens to the far end's
//! reply until the far end goes quiet, and reports per turn when the reply
//! began (the response latency), what the far end said (speech-to-text),
//! and at the end the call's RTP statistics (loss, jitter, MOS).
//!
//! [`call`] is the whole softphone as a library function, so tests drive
//! it in-process; the `call` subcommand prints its [`CallReport`].
//!
//! ```no_run
//! use ai_line::softphone::{call, CallPlan, Step};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut plan = CallPlan::new("sip:echo@127.0.0.1:5060")?;
//! plan.steps.push(Step::Play("hello.wav".into()));
//! plan.record = Some("heard.wav".into());
//! let report = call(plan).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! # How a turn is timed
//!
//! Everything is measured on the call's clock, which counts from the
//! answer and is the media timestamps of the 20 ms frames the far end's
//! audio arrives in, not the wall clock, so a busy machine shifts neither
//! end of a measurement. (The far end's media clock starts with its first
//! packet, which may come long after the answer from a far end that sends
//! only while it talks: that first frame is placed by the wall clock,
//! once, and before it the wall clock stands in.)
//! Our own speech ends where its last audible sample was sent (trailing
//! silence of a file or of synthesized speech does not count); the reply
//! begins at the first received frame whose level is above
//! [`SOUND_LEVEL_DBFS`], and ends once [`Timing::reply_silence`] passes
//! without one. The level gate, not the media engine's speech detector,
//! decides, because a test call must also time what is not speech: an
//! IVR's beep, an echo of a tone.

use std::fmt;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::CallArgs;
use agent::call::{CallCommand, CallHandle, CallOptions, LINE_RATE};
use agent::engines::{EspeakConfig, EspeakNg, PocketSphinx, PocketSphinxConfig};
use agent::media::{BridgeEnd, LineSignal, MediaBridge};
use agent::speech::{SpeechError, SpeechOut, SpeechToText, TextToSpeech};
use agent::switch::session_params;
use rtp_media::engine::{
    EngineConfig, MediaEngine, MediaError, MediaEvent, MediaSession, MediaStats,
};
use rtp_media::prompt::Prompt;
use rtp_media::recording::RecordMode;
use rtp_media::resample::resample;
use sip_core::call::{Call, CallEvent as SipEvent, HangupCause};
use sip_core::endpoint::{Endpoint, EndpointConfig, EndpointError};
use sip_core::message::Uri;
use sip_core::outbound::{CallFailure, CallTarget, DialOptions};
use sip_core::resolve::InvalidSetting;
use sip_core::sdp::{LocalMedia, SdpError};
use sip_core::transport::TransportConfig;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

mod report;
mod script;

pub use report::{CallReport, Ending, Latency, Reply, TurnReport};
pub use script::SOUND_LEVEL_DBFS;
use script::{Prepared, Script};

/// How long a SIP server that answers nothing at all (not even 100
/// Trying) is waited for: a test call should say at once that nobody is
/// there, not after RFC 3261's 32 s.
const SILENT_SERVER: Duration = Duration::from_secs(5);

/// How long to wait for the final statistics and the recording's file
/// once the call is over.
const CLOSING_WAIT: Duration = Duration::from_secs(2);

/// One thing the softphone does on the call, followed by listening to the
/// far end's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Say this text (needs a [`TextToSpeech`] engine in [`Speech`]).
    Say(String),
    /// Play this audio file (WAV, MP3, FLAC or OGG: whatever `rtp-media`'s
    /// prompt loader reads).
    Play(PathBuf),
    /// Press these keys (`0`-`9`, `*`, `#`, `A`-`D`), sent as RFC 4733
    /// telephone events (in-band tones when the far end takes no events).
    Digits(String),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Say(text) => write!(f, "said {text:?}"),
            Step::Play(path) => write!(f, "played {}", path.display()),
            Step::Digits(keys) => write!(f, "pressed {keys}"),
        }
    }
}

/// How long the softphone waits for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long the far end may ring before we give up (CANCEL).
    pub ring_timeout: Duration,
    /// How long, once answered, to listen for the far end to speak first
    /// (a greeting, a menu) before the first step.
    pub greeting_wait: Duration,
    /// How long after our turn the far end's reply may take to begin.
    pub reply_timeout: Duration,
    /// The silence that ends the far end's reply.
    pub reply_silence: Duration,
    /// The longest reply listened to; a far end still talking after it is
    /// cut off and the next step starts.
    pub max_reply: Duration,
    /// How long each key is held.
    pub digit_length: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            ring_timeout: Duration::from_secs(30),
            greeting_wait: Duration::from_secs(2),
            reply_timeout: Duration::from_secs(10),
            reply_silence: Duration::from_millis(1000),
            max_reply: Duration::from_secs(30),
            digit_length: Duration::from_millis(100),
        }
    }
}

/// The speech engines the softphone speaks and listens with; either may be
/// missing: without text-to-speech a [`Step::Say`] is refused before
/// dialling, without speech-to-text replies are timed but not transcribed.
#[derive(Clone, Default)]
pub struct Speech {
    /// Speaks each [`Step::Say`].
    pub tts: Option<Arc<dyn TextToSpeech>>,
    /// Transcribes each reply.
    pub stt: Option<Arc<dyn SpeechToText>>,
}

impl Speech {
    /// The offline engines: eSpeak NG speaks, PocketSphinx (US English)
    /// listens, for `expected_phrases` when given (what the far end is
    /// expected to say, recognised far more reliably than open speech),
    /// else for any English. Loads PocketSphinx's model, which takes a
    /// moment: call it once, before calling.
    pub fn offline(expected_phrases: Vec<String>) -> Result<Speech, SoftphoneError> {
        let tts = EspeakNg::new(EspeakConfig::default()).map_err(SoftphoneError::SpeechEngine)?;
        let stt = PocketSphinx::new(PocketSphinxConfig {
            expected_phrases,
            ..PocketSphinxConfig::default()
        })
        .map_err(SoftphoneError::SpeechEngine)?;
        Ok(Speech {
            tts: Some(Arc::new(tts)),
            stt: Some(Arc::new(stt)),
        })
    }
}

impl fmt::Debug for Speech {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Speech")
            .field("tts", &self.tts.is_some())
            .field("stt", &self.stt.is_some())
            .finish()
    }
}

/// What to call and what to do on the call.
#[derive(Debug, Clone)]
pub struct CallPlan {
    /// Whom to call.
    pub to: CallTarget,
    /// Our identity in From; `sip:softphone@<our address>` when unset.
    pub from: Option<CallTarget>,
    /// The local address SIP and RTP bind to; port 0 (the usual) takes a
    /// free port. An unspecified address (`0.0.0.0`) binds every
    /// interface and offers the one the system routes towards the far end.
    pub local: SocketAddr,
    /// The turns, in order, after listening for the far end's greeting.
    pub steps: Vec<Step>,
    /// Write what the far end sends us to this WAV file (8 kHz mono).
    pub record: Option<PathBuf>,
    /// How long to wait for what.
    pub timing: Timing,
    /// The speech engines.
    pub speech: Speech,
}

impl CallPlan {
    /// A plan to call `to` (a SIP URI) from a free port on the address the
    /// system routes towards it, with no steps: the greeting is listened
    /// to and the call hung up. The error names `to` when it is not a URI.
    pub fn new(to: &str) -> Result<CallPlan, SoftphoneError> {
        Ok(CallPlan {
            to: CallTarget::parse(to)?,
            from: None,
            local: SocketAddr::from(([0, 0, 0, 0], 0)),
            steps: Vec::new(),
            record: None,
            timing: Timing::default(),
            speech: Speech::default(),
        })
    }
}

/// Why a test call could not be made or did not connect.
#[derive(Debug, thiserror::Error)]
pub enum SoftphoneError {
    /// A setting (the URI to call, our From) is wrong.
    #[error(transparent)]
    Setting(#[from] InvalidSetting),
    /// Our SIP endpoint could not open its socket.
    #[error("SIP endpoint on {local}: {source}")]
    Endpoint {
        /// The address it tried.
        local: SocketAddr,
        /// Why.
        source: EndpointError,
    },
    /// Our media could not be set up (no free port, engine failure).
    #[error("media: {0}")]
    Media(#[from] MediaError),
    /// Our own media address cannot be offered.
    #[error("our media address: {0}")]
    MediaAddress(#[from] SdpError),
    /// No local address could be found to offer the far end.
    #[error("no local address reaches {host}: {reason}; give the local address to call from")]
    NoRoute {
        /// The far end's host.
        host: String,
        /// Why not.
        reason: String,
    },
    /// A file to play could not be read or decoded.
    #[error("{path}: {message}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// A step needs a speech engine this softphone does not have.
    #[error("{0} needs a text-to-speech engine, and none is configured")]
    NoTextToSpeech(String),
    /// A speech engine could not be made (no model, a bad setting).
    #[error("speech engine: {0}")]
    SpeechEngine(SpeechError),
    /// The text-to-speech engine failed.
    #[error("speaking {text:?}: {source}")]
    Speech {
        /// The text.
        text: String,
        /// The engine's error.
        source: SpeechError,
    },
    /// A key that DTMF cannot send.
    #[error("{0:?} is not a DTMF key (0-9, *, #, A-D)")]
    InvalidDigit(char),
    /// The call could not be placed (the URI names no host to send it to).
    #[error("the call cannot be placed: {0}")]
    Dial(#[from] sip_core::call::CallError),
    /// The call was not answered: refused with a SIP status, or the far
    /// end could not be reached.
    #[error("the call failed: {}", describe_failure(.0))]
    NotAnswered(CallFailure),
    /// The far end answered but its SDP gave us nothing to send media to.
    #[error("the far end answered without usable media (no common codec or no address)")]
    NoMedia,
    /// The recording could not be written.
    #[error("recording {path}: {source}")]
    Recording {
        /// The file.
        path: PathBuf,
        /// Why.
        source: MediaError,
    },
}

impl SoftphoneError {
    /// The SIP status the far end refused the call with, when it did.
    pub fn sip_status(&self) -> Option<u16> {
        match self {
            SoftphoneError::NotAnswered(f) => f.code,
            _ => None,
        }
    }
}

fn describe_failure(f: &CallFailure) -> String {
    match f.code {
        Some(code) => format!("{code} {}", f.reason),
        None => f.reason.clone(),
    }
}

/// Places the test call `plan` describes and reports what happened. Fails
/// before dialling on a step that cannot be done (a file that does not
/// decode, `Say` without text-to-speech, a bad key), and with
/// [`SoftphoneError::NotAnswered`] (carrying the SIP status) when the call
/// is refused or nobody answers.
pub async fn call(plan: CallPlan) -> Result<CallReport, SoftphoneError> {
    let mut prepared = Vec::with_capacity(plan.steps.len());
    for step in &plan.steps {
        prepared.push(prepare(step, &plan.speech).await?);
    }
    let local_ip = match plan.local.ip() {
        ip if ip.is_unspecified() => route_towards(&plan.to)?,
        ip => ip,
    };
    let endpoint_config = EndpointConfig {
        transport: TransportConfig {
            udp: vec![plan.local],
            tcp: Vec::new(),
            ..TransportConfig::default()
        },
        user_agent: concat!("ai-line-call/", env!("CARGO_PKG_VERSION")).to_string(),
        failover_timeout: Some(SILENT_SERVER),
        ..EndpointConfig::default()
    };
    let (endpoint, _incoming) =
        Endpoint::bind(endpoint_config)
            .await
            .map_err(|source| SoftphoneError::Endpoint {
                local: plan.local,
                source,
            })?;
    let engine = MediaEngine::new(EngineConfig {
        bind_ip: plan.local.ip(),
        advertised_ip: Some(local_ip),
        workers: 1,
        vad: None,
        ..EngineConfig::default()
    })?;
    let ports = engine.reserve_ports()?;
    let local_media = LocalMedia::new(local_ip, ports.rtp_port())?;
    let mut options = DialOptions::with_media(plan.to.as_str(), local_media)?;
    options.ring_timeout = plan.timing.ring_timeout;
    options.from = Some(match &plan.from {
        Some(from) => from.clone(),
        None => CallTarget::parse_setting("from", &sip_uri("softphone", &endpoint, local_ip))?,
    });
    info!(to = %plan.to, "dialling");
    let dialing = endpoint.dial(options)?;
    let sip_call = dialing
        .answered()
        .await
        .map_err(SoftphoneError::NotAnswered)?;
    let call_id = sip_call.call_id().to_string();
    info!(%call_id, media = ?sip_call.media(), "answered");
    let opened = sip_call
        .media()
        .filter(|m| m.remote_rtp.is_some())
        .ok_or(SoftphoneError::NoMedia)
        .and_then(|media| {
            let session = engine.open_session_on(ports, session_params(&media))?;
            if let Some(path) = &plan.record {
                session
                    .start_recording(path, RecordMode::Caller)
                    .map_err(|source| SoftphoneError::Recording {
                        path: path.clone(),
                        source,
                    })?;
            }
            Ok((media, session))
        });
    let (media, session) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            // The call is up: leave it before saying why it is of no use.
            let _ = sip_call.hangup().await;
            return Err(e);
        }
    };
    let mut bridge = MediaBridge::new(session)?;
    let (handle, line) = CallHandle::new(call_id.clone(), CallOptions::default());

    let (signals_tx, mut signals) = mpsc::unbounded_channel();
    let (gone_tx, gone_rx) = oneshot::channel();
    let (hang_up_tx, hang_up_rx) = oneshot::channel();
    let signalling = tokio::spawn(signalling(sip_call, signals_tx, gone_tx, hang_up_rx));
    let far_end_gone = async {
        if gone_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let script = Script::new(handle, plan.timing, plan.speech.stt.clone());
    let (bridge_end, played) = tokio::join!(
        bridge.run_following(line, far_end_gone, &mut signals),
        script.run(&plan.steps, prepared),
    );
    let _ = hang_up_tx.send(());
    let sip_ending = signalling
        .await
        .unwrap_or_else(|e| Ending::Failed(e.to_string()));
    let ending = match bridge_end {
        BridgeEnd::MediaTimeout { .. } => Ending::MediaTimeout,
        _ => sip_ending,
    };
    let last_stats = bridge.last_stats().cloned();
    let (stats, recorded) = close_media(bridge.into_session(), plan.record.is_some()).await;
    let mut turns = Vec::with_capacity(played.turns.len());
    for turn in played.turns {
        turns.push(turn.finish().await);
    }
    let greeting = match played.greeting {
        Some(g) => Some(g.finish().await),
        None => None,
    };
    Ok(CallReport {
        call_id,
        media,
        greeting,
        steps_left: plan.steps.len() - turns.len(),
        turns,
        ending,
        stats: stats.or(last_stats),
        recording: plan.record.zip(recorded),
    })
}

/// Decodes, synthesizes or checks one step.
async fn prepare(step: &Step, speech: &Speech) -> Result<Prepared, SoftphoneError> {
    match step {
        Step::Play(path) => {
            let p = path.clone();
            let loaded = tokio::task::spawn_blocking(move || Prompt::load(&p)).await;
            match loaded {
                Ok(Ok(prompt)) => Ok(Prepared::Audio(prompt.samples().to_vec())),
                Ok(Err(e)) => Err(SoftphoneError::Audio {
                    path: path.clone(),
                    message: e.to_string(),
                }),
                Err(e) => Err(SoftphoneError::Audio {
                    path: path.clone(),
                    message: e.to_string(),
                }),
            }
        }
        Step::Say(text) => {
            let tts = speech
                .tts
                .as_deref()
                .ok_or_else(|| SoftphoneError::NoTextToSpeech(step.to_string()))?;
            synthesize(tts, text)
                .await
                .map(Prepared::Audio)
                .map_err(|source| SoftphoneError::Speech {
                    text: text.clone(),
                    source,
                })
        }
        Step::Digits(keys) => {
            let keys: Vec<char> = keys.chars().filter(|c| !c.is_whitespace()).collect();
            match keys
                .iter()
                .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D' | 'a'..='d'))
            {
                Some(bad) => Err(SoftphoneError::InvalidDigit(*bad)),
                None => Ok(Prepared::Keys(
                    keys.iter().map(char::to_ascii_uppercase).collect(),
                )),
            }
        }
    }
}

/// Runs `tts` on `text` and returns its audio at 8 kHz: the engine
/// streams into a call's playback, so it is given one whose line side
/// only collects what it plays.
pub async fn synthesize(tts: &dyn TextToSpeech, text: &str) -> Result<Vec<i16>, SpeechError> {
    let (handle, mut line) = CallHandle::new("synthesis", CallOptions::default());
    let mut out = SpeechOut::new(handle.player());
    tts.synthesize(text, &mut out).await?;
    drop(out);
    drop(handle);
    // Chunks of one rate are resampled together, so no seams are made
    // between them.
    let mut runs: Vec<(u32, Vec<i16>)> = Vec::new();
    while let Some(command) = line.commands.recv().await {
        if let CallCommand::Play { samples, rate, .. } = command {
            match runs.last_mut() {
                Some((r, run)) if *r == rate => run.extend(samples),
                _ => runs.push((rate, samples)),
            }
        }
    }
    Ok(runs
        .into_iter()
        .flat_map(|(rate, run)| {
            if rate == LINE_RATE {
                run
            } else {
                resample(&run, rate, LINE_RATE)
            }
        })
        .collect())
}

/// `sip:user@host:port` for our endpoint at `ip`.
fn sip_uri(user: &str, endpoint: &Endpoint, ip: IpAddr) -> String {
    let port = endpoint.udp_addr().map_or(5060, |a| a.port());
    match ip {
        IpAddr::V4(v4) => format!("sip:{user}@{v4}:{port}"),
        IpAddr::V6(v6) => format!("sip:{user}@[{v6}]:{port}"),
    }
}

/// The local address the system sends from towards the host of `to`: the
/// one the far end can send media back to.
fn route_towards(to: &CallTarget) -> Result<IpAddr, SoftphoneError> {
    let no_route = |host: &str, reason: String| SoftphoneError::NoRoute {
        host: host.to_string(),
        reason,
    };
    let uri = Uri::parse(to.as_str()).map_err(|e| no_route(to.as_str(), e.to_string()))?;
    let host = uri.host_str.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port.unwrap_or(5060);
    let remote = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| no_route(host, e.to_string()))?
        .next()
        .ok_or_else(|| no_route(host, "the name has no address".into()))?;
    let any: SocketAddr = match remote {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = UdpSocket::bind(any).map_err(|e| no_route(host, e.to_string()))?;
    probe
        .connect(remote)
        .map_err(|e| no_route(host, e.to_string()))?;
    let ip = probe
        .local_addr()
        .map_err(|e| no_route(host, e.to_string()))?
        .ip();
    if ip.is_unspecified() {
        return Err(no_route(host, "the system has no route to it".into()));
    }
    Ok(ip)
}

/// The SIP side of the call: re-INVITEs go to the media, the far end's
/// BYE is told on `gone`, and `hang_up` sends ours.
async fn signalling(
    mut call: Call,
    signals: mpsc::UnboundedSender<LineSignal>,
    gone: oneshot::Sender<()>,
    hang_up: oneshot::Receiver<()>,
) -> Ending {
    tokio::pin!(hang_up);
    loop {
        tokio::select! {
            event = call.next_event() => match event {
                Some(SipEvent::Hangup(cause)) => {
                    let _ = gone.send(());
                    info!(?cause, "the far end ended the call");
                    return match cause {
                        HangupCause::Failed(why) | HangupCause::UnusableAnswer(why) => Ending::Failed(why),
                        _ => Ending::FarEndHungUp,
                    };
                }
                None => {
                    let _ = gone.send(());
                    return Ending::Failed("the call's signalling stopped".into());
                }
                Some(SipEvent::SessionModified { media: Some(media), .. }) => {
                    let _ = signals.send(LineSignal::Media(session_params(&media)));
                }
                Some(other) => debug!(event = ?other, "call event"),
            },
            _ = &mut hang_up => {
                if let Err(e) = call.hangup().await {
                    warn!(error = %e, "BYE failed");
                }
                return Ending::WeHungUp;
            }
        }
    }
}

/// Ends the media: the recording's file finished (its length), the final
/// statistics asked for, the session closed.
async fn close_media(
    mut session: MediaSession,
    recording: bool,
) -> (Option<MediaStats>, Option<Duration>) {
    let recorded = if recording {
        match tokio::time::timeout(CLOSING_WAIT, session.stop_recording()).await {
            Ok(Ok(summary)) => Some(Duration::from_secs_f64(
                summary.samples as f64 / f64::from(LINE_RATE),
            )),
            Ok(Err(e)) => {
                warn!(error = %e, "recording incomplete");
                None
            }
            Err(_) => {
                warn!("recording still being written");
                None
            }
        }
    } else {
        None
    };
    let mut stats = None;
    if session.request_stats().is_ok() {
        let wait = async {
            while let Some(event) = session.next_event().await {
                if let MediaEvent::Stats(s) = event {
                    return Some(s);
                }
            }
            None
        };
        stats = tokio::time::timeout(CLOSING_WAIT, wait)
            .await
            .ok()
            .flatten();
    }
    session.close().await;
    (stats, recorded)
}

impl CallPlan {
    /// The plan the `call` subcommand's arguments describe: the greeting,
    /// then each `--say`, `--play` and `--digits` in the order given.
    /// Speech engines are not set here (see [`Speech::offline`]).
    pub fn from_args(args: &CallArgs) -> Result<CallPlan, SoftphoneError> {
        let mut plan = CallPlan::new(&args.uri)?;
        if let Some(from) = &args.from {
            plan.from = Some(CallTarget::parse_setting("from", from)?);
        }
        if let Some(local) = args.local {
            plan.local = local;
        }
        plan.steps = args.steps.clone();
        plan.record = args.record.clone();
        if let Some(t) = args.greeting_wait {
            plan.timing.greeting_wait = t;
        }
        if let Some(t) = args.reply_timeout {
            plan.timing.reply_timeout = t;
        }
        if let Some(t) = args.reply_silence {
            plan.timing.reply_silence = t;
        }
        Ok(plan)
    }
}

/// Runs the `call` subcommand: places the call, prints the report, and
/// gives the process's exit status: 0 when the call was answered, 1 when
/// it was refused or failed (the SIP status printed), 2 when it could not
/// be placed.
pub async fn run(args: &CallArgs) -> i32 {
    let mut plan = match CallPlan::from_args(args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("ai-line call: {e}");
            return 2;
        }
    };
    // Loading the speech model blocks for a moment.
    let expect = args.expect.clone();
    let engines = tokio::task::spawn_blocking(move || Speech::offline(expect)).await;
    let speaks = plan.steps.iter().any(|s| matches!(s, Step::Say(_)));
    match engines {
        Ok(Ok(speech)) => plan.speech = speech,
        // Without engines a call that says nothing still runs.
        Ok(Err(e)) if !speaks => eprintln!("ai-line call: replies are not transcribed: {e}"),
        Ok(Err(e)) => {
            eprintln!("ai-line call: {e}");
            return 2;
        }
        Err(e) => {
            eprintln!("ai-line call: the speech engines: {e}");
            return 2;
        }
    }
    let started = Instant::now();
    match call(plan).await {
        Ok(report) => {
            print!("{report}");
            println!("call lasted {:.1} s", started.elapsed().as_secs_f64());
            match report.ending {
                Ending::Failed(_) => 1,
                _ => 0,
            }
        }
        Err(e @ SoftphoneError::NotAnswered(_)) => {
            eprintln!("ai-line call: {e}");
            1
        }
        Err(e) => {
            eprintln!("ai-line call: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_key_or_a_say_without_speech_engine_is_refused_before_dialling() {
        let speech = Speech::default();
        assert!(matches!(
            prepare(&Step::Digits("12x".into()), &speech).await,
            Err(SoftphoneError::InvalidDigit('x'))
        ));
        assert!(matches!(
            prepare(&Step::Say("hello".into()), &speech).await,
            Err(SoftphoneError::NoTextToSpeech(_))
        ));
        assert!(matches!(
            prepare(&Step::Play("/nonexistent/file.wav".into()), &speech).await,
            Err(SoftphoneError::Audio { .. })
        ));
    }

    #[test]
    fn the_address_offered_is_the_one_the_system_routes_towards_the_far_end() {
        let to = |uri: &str| CallTarget::parse(uri).unwrap();
        assert_eq!(
            route_towards(&to("sip:echo@127.0.0.1:5070")).unwrap(),
            IpAddr::from([127, 0, 0, 1])
        );
        if UdpSocket::bind("[::1]:0").is_ok() {
            assert_eq!(
                route_towards(&to("sip:echo@[::1]:5070")).unwrap(),
                "::1".parse::<IpAddr>().unwrap()
            );
        }
        assert!(matches!(
            route_towards(&to("tel:+390212345678")),
            Err(SoftphoneError::NoRoute { .. })
        ));
    }
}
