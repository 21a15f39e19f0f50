//! The turn helper: the speech-to-text → respond → text-to-speech loop.
//!
//! Each turn: the caller's utterance is collected from the start to the
//! end of speech (as the voice activity detector placed them), and the
//! turn is over once [`TurnConfig::end_of_turn`] of silence has followed
//! the speech. The utterance goes to a [`SpeechToText`], its text and the
//! conversation so far to a [`Responder`], and the reply is spoken with a
//! [`TextToSpeech`] whose audio is played as it is produced. If the caller
//! speaks while the reply plays, playback stops at once (the media side
//! clears it on the first speech event, see [`crate::media`]), synthesis is
//! abandoned, and the helper listens to the new utterance
//! ([`TurnConfig::barge_in`]).
//!
//! The caller's turn may also be a key, speech in which speech-to-text
//! found no words, or (with [`TurnConfig::no_input`]) silence; the
//! [`Responder`]'s [`reply`](Responder::reply) sees each and may end the
//! conversation with an [`AgentOutcome`] once its words are said (a
//! transfer to a person, voicemail, a hang-up). A key pressed while a
//! reply plays stops it, as speech does, when barge-in is on.
//!
//! Every turn writes two transcript lines: the caller's (end of speech,
//! transcript ready) and the agent's (all four moments: end of speech,
//! transcript ready, reply ready, first audio on the wire).
//!
//! ```no_run
//! use agent::speech::{Responder, SpeechToText, TextToSpeech};
//! use agent::turn::{TurnAgent, TurnConfig};
//! use std::sync::Arc;
//!
//! fn receptionist(
//!     stt: Arc<dyn SpeechToText>,
//!     llm: Arc<dyn Responder>,
//!     tts: Arc<dyn TextToSpeech>,
//! ) -> TurnAgent {
//!     TurnAgent::new(stt, llm, tts, TurnConfig {
//!         greeting: Some("Hello, how can I help?".into()),
//!         ..TurnConfig::default()
//!     })
//! }
//! ```

use crate::call::{AgentOutcome, CallContext, CallEvent, CallHandle, Frame, FRAME_DURATION};
use crate::record::{Speaker, TurnTimings};
use crate::speech::{
    CallerTurn, Line, Responder, SpeechOut, SpeechToText, TextToSpeech, Utterance,
};
use crate::{Agent, AgentError};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the turn helper listens and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// Silence after the end of speech before the caller's turn is over
    /// (default 600 ms). The end of speech is only known once the voice
    /// activity detector's stop hangover has passed, so a shorter value
    /// waits that long.
    pub end_of_turn: Duration,
    /// Stop the reply the moment the caller starts talking, and listen
    /// (default on). Off: the reply plays to its end; an utterance that
    /// ends while it plays is not answered.
    pub barge_in: bool,
    /// Said when the call starts.
    pub greeting: Option<String>,
    /// Longest utterance; a longer one is cut into turns (default 30 s).
    pub max_utterance: Duration,
    /// The caller's audio at this rate, Hz (default 8000; 16000 for most
    /// speech-to-text models).
    pub audio_rate: u32,
    /// How long the caller may stay silent after the agent last spoke
    /// before that silence is a turn of its own
    /// ([`CallerTurn::Silent`]); `None` (the default) waits for ever.
    pub no_input: Option<Duration>,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            end_of_turn: Duration::from_millis(600),
            barge_in: true,
            greeting: None,
            max_utterance: Duration::from_secs(30),
            audio_rate: crate::call::LINE_RATE,
            no_input: None,
        }
    }
}

/// An [`Agent`] that holds a conversation with three speech engines.
#[derive(Clone)]
pub struct TurnAgent {
    stt: Arc<dyn SpeechToText>,
    responder: Arc<dyn Responder>,
    tts: Arc<dyn TextToSpeech>,
    config: TurnConfig,
}

impl std::fmt::Debug for TurnAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnAgent")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TurnAgent {
    /// A conversation agent from its engines.
    pub fn new(
        stt: Arc<dyn SpeechToText>,
        responder: Arc<dyn Responder>,
        tts: Arc<dyn TextToSpeech>,
        config: TurnConfig,
    ) -> Self {
        TurnAgent {
            stt,
            responder,
            tts,
            config,
        }
    }
}

impl Agent for TurnAgent {
    async fn run(
        &self,
        _ctx: CallContext,
        mut call: CallHandle,
    ) -> Result<AgentOutcome, AgentError> {
        converse(
            &mut call,
            &*self.stt,
            &*self.responder,
            &*self.tts,
            &self.config,
        )
        .await
    }

    fn audio_rate(&self) -> u32 {
        self.config.audio_rate
    }
}

/// Where the listener is in the caller's turn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hearing {
    /// Nobody speaking.
    Quiet,
    /// Speech started at this position (and this moment).
    Speech { start: Duration, seen: Instant },
    /// Speech from `start` stopped at `stop`; waiting for the end of turn.
    Trailing {
        start: Duration,
        seen: Instant,
        stop: Duration,
        stop_seen: Instant,
    },
}

/// A finished utterance and when its edges were seen.
#[derive(Debug)]
struct Heard {
    utterance: Utterance,
    started: Instant,
    end_of_speech: Instant,
}

/// Collects the caller's utterances from the call's events.
#[derive(Debug)]
struct Listener {
    /// Recent frames: the start of speech is reported after it happened.
    frames: VecDeque<Frame>,
    hearing: Hearing,
    end_of_turn: Duration,
    max_utterance: Duration,
    rate: u32,
    /// Keys pressed and not yet taken as a turn.
    keys: VecDeque<char>,
}

/// What one event meant to the listener.
#[derive(Debug)]
enum Step {
    Nothing,
    SpeechStarted,
    TurnOver(Heard),
    Key,
    HungUp,
}

impl Listener {
    fn new(config: &TurnConfig, rate: u32) -> Self {
        Listener {
            frames: VecDeque::new(),
            hearing: Hearing::Quiet,
            end_of_turn: config.end_of_turn,
            max_utterance: config.max_utterance,
            rate,
            keys: VecDeque::new(),
        }
    }

    /// Whether nobody is speaking.
    fn is_quiet(&self) -> bool {
        self.hearing == Hearing::Quiet
    }

    /// The oldest key not taken yet. A key is the caller's turn: speech
    /// heard around it (the key's own tone, in band) is dropped.
    fn take_key(&mut self) -> Option<char> {
        let key = self.keys.pop_front()?;
        self.hearing = Hearing::Quiet;
        Some(key)
    }

    /// Frames older than this before speech are not kept.
    const KEEP_BEFORE: Duration = Duration::from_secs(1);

    fn on_event(&mut self, event: Option<CallEvent>) -> Step {
        let Some(event) = event else {
            return Step::HungUp;
        };
        match event {
            CallEvent::HungUp => Step::HungUp,
            CallEvent::SpeechStarted { at } => {
                self.hearing = match self.hearing {
                    // A pause inside the turn: the same utterance goes on.
                    Hearing::Trailing { start, seen, .. } => Hearing::Speech { start, seen },
                    Hearing::Speech { start, seen } => Hearing::Speech { start, seen },
                    Hearing::Quiet => Hearing::Speech {
                        start: at,
                        seen: Instant::now(),
                    },
                };
                Step::SpeechStarted
            }
            CallEvent::SpeechStopped { at } => {
                if let Hearing::Speech { start, seen } = self.hearing {
                    self.hearing = Hearing::Trailing {
                        start,
                        seen,
                        stop: at,
                        stop_seen: Instant::now(),
                    };
                }
                Step::Nothing
            }
            CallEvent::Audio(frame) => self.on_frame(frame),
            CallEvent::Dtmf { digit, .. } => {
                self.keys.push_back(digit);
                Step::Key
            }
            CallEvent::PlaybackFinished { .. } => Step::Nothing,
        }
    }

    fn on_frame(&mut self, frame: Frame) -> Step {
        let at = frame.at;
        self.frames.push_back(frame);
        match self.hearing {
            Hearing::Quiet => {
                while self
                    .frames
                    .front()
                    .is_some_and(|f| f.at + Self::KEEP_BEFORE < at)
                {
                    self.frames.pop_front();
                }
                Step::Nothing
            }
            Hearing::Speech { start, seen } => {
                if at.saturating_sub(start) >= self.max_utterance {
                    let now = Instant::now();
                    Step::TurnOver(self.take(start, at + FRAME_DURATION, seen, now))
                } else {
                    Step::Nothing
                }
            }
            Hearing::Trailing {
                start,
                seen,
                stop,
                stop_seen,
            } => {
                if at + FRAME_DURATION >= stop + self.end_of_turn {
                    Step::TurnOver(self.take(start, stop, seen, stop_seen))
                } else {
                    Step::Nothing
                }
            }
        }
    }

    /// The utterance from `start` to `stop`; back to quiet.
    fn take(&mut self, start: Duration, stop: Duration, seen: Instant, end: Instant) -> Heard {
        let mut samples = Vec::new();
        let per_frame = self.frames.front().map_or(0, |f| f.samples.len());
        let rate = self.frames.front().map_or(self.rate, |f| f.rate);
        for f in self.frames.drain(..) {
            let f_end = f.at + FRAME_DURATION;
            if f_end <= start || f.at >= stop {
                continue;
            }
            // Cut partial frames at the edges, in samples.
            let skip = start.saturating_sub(f.at);
            let keep = stop.min(f_end).saturating_sub(f.at);
            let to_samples = |d: Duration| {
                ((d.as_micros() as u64 * u64::from(rate) / 1_000_000) as usize).min(per_frame)
            };
            let (a, b) = (to_samples(skip), to_samples(keep));
            if let Some(part) = f.samples.get(a..b.min(f.samples.len())) {
                samples.extend_from_slice(part);
            }
        }
        self.hearing = Hearing::Quiet;
        Heard {
            utterance: Utterance { samples, rate },
            started: seen,
            end_of_speech: end,
        }
    }
}

/// How a reply's playback went.
#[derive(Debug, Default)]
struct Spoken {
    first_audio: Option<Instant>,
    /// The caller barged in.
    interrupted: bool,
}

/// What the caller did next, as the listener collected it.
#[derive(Debug)]
enum Next {
    Utterance(Heard),
    Key(char),
    Silent,
    HungUp,
}

/// Waits for the caller's next turn: an utterance, a key, or (past
/// `silent_at`, while nobody speaks) silence.
async fn next_turn(
    call: &mut CallHandle,
    listener: &mut Listener,
    silent_at: Option<tokio::time::Instant>,
) -> Next {
    loop {
        if let Some(key) = listener.take_key() {
            return Next::Key(key);
        }
        let quiet = listener.is_quiet();
        let silence = async {
            match silent_at {
                Some(at) if quiet => tokio::time::sleep_until(at).await,
                _ => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            event = call.next_event() => event,
            () = silence => return Next::Silent,
        };
        match listener.on_event(event) {
            Step::TurnOver(heard) => return Next::Utterance(heard),
            Step::HungUp => return Next::HungUp,
            Step::Key | Step::Nothing | Step::SpeechStarted => {}
        }
    }
}

/// Holds the conversation on `call` until the caller hangs up or the
/// responder ends it with an outcome: see the module docs. For agents
/// that want the loop inside their own `run` (e.g. after an IVR menu).
pub async fn converse(
    call: &mut CallHandle,
    stt: &dyn SpeechToText,
    responder: &dyn Responder,
    tts: &dyn TextToSpeech,
    config: &TurnConfig,
) -> Result<AgentOutcome, AgentError> {
    call.set_barge_in(config.barge_in)?;
    let mut listener = Listener::new(config, call.audio_rate());
    let mut history: Vec<Line> = Vec::new();
    let silent_after = || config.no_input.map(|d| tokio::time::Instant::now() + d);
    if let Some(greeting) = &config.greeting {
        let spoken = speak(call, &mut listener, tts, greeting, config.barge_in).await?;
        let Some(spoken) = spoken else {
            return Ok(AgentOutcome::CallerHungUp);
        };
        let timings = TurnTimings {
            first_audio: spoken.first_audio.map(|t| call.offset_of(t)),
            ..TurnTimings::default()
        };
        call.transcript(Speaker::Agent, greeting.clone(), Duration::ZERO, timings);
        history.push(Line {
            speaker: Speaker::Agent,
            text: greeting.clone(),
        });
    }
    let mut silent_at = silent_after();
    loop {
        let mut timings = TurnTimings::default();
        let text;
        let turn = match next_turn(call, &mut listener, silent_at).await {
            Next::HungUp => return Ok(AgentOutcome::CallerHungUp),
            Next::Key(key) => CallerTurn::Key(key),
            Next::Silent => CallerTurn::Silent,
            Next::Utterance(heard) => {
                text = stt.transcribe(&heard.utterance).await?;
                let transcript_ready = Instant::now();
                timings.end_of_speech = Some(call.offset_of(heard.end_of_speech));
                timings.transcript_ready = Some(call.offset_of(transcript_ready));
                if text.trim().is_empty() {
                    CallerTurn::Unclear
                } else {
                    call.transcript(
                        Speaker::Remote,
                        text.clone(),
                        call.offset_of(heard.started),
                        timings,
                    );
                    CallerTurn::Said(&text)
                }
            }
        };
        let reply = responder.reply(&history, turn).await?;
        let reply_ready = Instant::now();
        timings.reply_ready = Some(call.offset_of(reply_ready));
        if let CallerTurn::Said(said) = turn {
            history.push(Line {
                speaker: Speaker::Remote,
                text: said.to_string(),
            });
        }
        if !reply.text.trim().is_empty() {
            let Some(spoken) =
                speak(call, &mut listener, tts, &reply.text, config.barge_in).await?
            else {
                return Ok(AgentOutcome::CallerHungUp);
            };
            timings.first_audio = spoken.first_audio.map(|t| call.offset_of(t));
            if let Some(latency) = timings.response_latency() {
                crate::metrics::turn_latency(latency);
            }
            call.transcript(
                Speaker::Agent,
                reply.text.clone(),
                call.offset_of(reply_ready),
                timings,
            );
            if spoken.interrupted {
                tracing::debug!(call_id = call.call_id(), "caller barged in");
            }
            history.push(Line {
                speaker: Speaker::Agent,
                text: reply.text,
            });
        }
        if let Some(outcome) = reply.then {
            return Ok(outcome);
        }
        silent_at = silent_after();
    }
}

/// Speaks `text` while feeding the call's events to `listener`; stops at
/// once when the caller barges in (speaks, or presses a key). `None` when
/// the call ended.
async fn speak(
    call: &mut CallHandle,
    listener: &mut Listener,
    tts: &dyn TextToSpeech,
    text: &str,
    barge_in: bool,
) -> Result<Option<Spoken>, AgentError> {
    let player = call.player();
    let mut out = SpeechOut::new(player.clone());
    // Set as soon as the first audio is on the line, so that a reply cut
    // short afterwards still has its moment.
    let mut first_audio = None;
    let outcome = {
        let playing = async {
            tts.synthesize(text, &mut out).await?;
            first_audio = out.first_on_air().await;
            player.wait().await?;
            Ok::<_, AgentError>(())
        };
        tokio::pin!(playing);
        loop {
            tokio::select! {
                done = &mut playing => {
                    done?;
                    break Some(false);
                }
                event = call.next_event() => match listener.on_event(event) {
                    Step::HungUp => break None,
                    Step::SpeechStarted | Step::Key if barge_in => break Some(true),
                    // Without barge-in, what the caller says over the
                    // reply is not a turn; keys wait for the reply's end.
                    Step::TurnOver(_) => {}
                    Step::SpeechStarted | Step::Key | Step::Nothing => {}
                },
            }
        }
    };
    match outcome {
        None => Ok(None),
        Some(interrupted) => {
            if interrupted {
                // The media side already cleared what was queued (on
                // speech); this clears what synthesis queued since, and
                // the reply a key cut short.
                player.stop()?;
                if first_audio.is_none() {
                    first_audio = out.first_on_air().await;
                }
            }
            Ok(Some(Spoken {
                first_audio,
                interrupted,
            }))
        }
    }
}
