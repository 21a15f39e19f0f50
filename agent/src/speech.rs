//! The speech engines a turn-based agent is built from:
//! [`SpeechToText`] (the caller's utterance → text), [`Responder`] (text
//! and the conversation so far → the reply) and [`TextToSpeech`] (the
//! reply → audio, streamed as it is produced). Cloud services and local
//! engines implement the same traits.
//!
//! The traits return boxed futures so that the switch can pick engines
//! from configuration (`Arc<dyn TextToSpeech>`); an implementation writes
//! `Box::pin(async move { ... })`.

use crate::call::{AgentOutcome, BoxFuture, CallError, CallHandle, Player};
use crate::record::Speaker;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::oneshot;

/// Why a speech engine failed.
#[derive(Debug, Error)]
pub enum SpeechError {
    /// The engine failed; its own words (a cloud API's error, a model that
    /// would not load).
    #[error("speech engine: {0}")]
    Engine(String),
    /// The call ended while speaking.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// The caller's audio from the start to the end of one utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// Linear samples at `rate`.
    pub samples: Vec<i16>,
    /// Sample rate, Hz.
    pub rate: u32,
}

impl Utterance {
    /// How long the utterance is.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.rate.max(1)))
    }
}

/// One line of the conversation so far, for the [`Responder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
}

/// Turns an utterance into text.
pub trait SpeechToText: Send + Sync {
    /// The final transcript of `utterance` (empty when nothing was said).
    fn transcribe<'a>(
        &'a self,
        utterance: &'a Utterance,
    ) -> BoxFuture<'a, Result<String, SpeechError>>;
}

/// What the caller did in one turn, as the turn helper
/// ([`crate::turn`]) saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerTurn<'a> {
    /// The words speech-to-text heard (never empty).
    Said(&'a str),
    /// The caller spoke, but speech-to-text found no words in it.
    Unclear,
    /// The caller said nothing for the turn helper's
    /// [`no_input`](crate::turn::TurnConfig::no_input) after the agent
    /// last spoke.
    Silent,
    /// The caller pressed a key.
    Key(char),
}

/// What the agent does after the caller's turn: say something, and
/// possibly end the conversation with an outcome (a transfer to a person
/// or to voicemail, a hang-up) once it has been said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Said to the caller; nothing when empty.
    pub text: String,
    /// When set, the conversation ends once `text` has been played (or
    /// cut short by the caller), and the agent's part of the call ends
    /// with this outcome.
    pub then: Option<AgentOutcome>,
}

impl Reply {
    /// Says `text` and goes on listening.
    pub fn say(text: impl Into<String>) -> Self {
        Reply {
            text: text.into(),
            then: None,
        }
    }

    /// Says `text`, then ends the conversation with `outcome`.
    pub fn end_with(text: impl Into<String>, outcome: AgentOutcome) -> Self {
        Reply {
            text: text.into(),
            then: Some(outcome),
        }
    }
}

/// Decides what the agent says next.
pub trait Responder: Send + Sync {
    /// The reply to `text`, given the `conversation` before it.
    fn respond<'a>(
        &'a self,
        conversation: &'a [Line],
        text: &'a str,
    ) -> BoxFuture<'a, Result<String, SpeechError>>;

    /// What to do after any turn of the caller's, given the
    /// `conversation` before it: words, speech without words, silence or
    /// a key. The reply may end the conversation with an outcome.
    ///
    /// The default answers words with [`respond`](Self::respond) and lets
    /// the rest pass in silence; a responder that transfers, hangs up or
    /// reacts to keys and silence overrides it.
    fn reply<'a>(
        &'a self,
        conversation: &'a [Line],
        turn: CallerTurn<'a>,
    ) -> BoxFuture<'a, Result<Reply, SpeechError>> {
        Box::pin(async move {
            match turn {
                CallerTurn::Said(text) => Ok(Reply::say(self.respond(conversation, text).await?)),
                CallerTurn::Unclear | CallerTurn::Silent | CallerTurn::Key(_) => {
                    Ok(Reply::default())
                }
            }
        })
    }
}

/// Turns text into audio, streamed into a [`SpeechOut`] as it is produced.
pub trait TextToSpeech: Send + Sync {
    /// Synthesizes `text` into `out`; returns once all of it was given to
    /// `out` (it may still be playing).
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        out: &'a mut SpeechOut,
    ) -> BoxFuture<'a, Result<(), SpeechError>>;
}

/// Where a [`TextToSpeech`] puts its audio: straight into the call's
/// playback, chunk by chunk.
#[derive(Debug)]
pub struct SpeechOut {
    player: Player,
    on_air: Option<oneshot::Receiver<Instant>>,
    first_chunk: Option<Instant>,
    samples: u64,
}

impl SpeechOut {
    /// Speech into `player`'s call.
    pub fn new(player: Player) -> Self {
        SpeechOut {
            player,
            on_air: None,
            first_chunk: None,
            samples: 0,
        }
    }

    /// Queues the next chunk of speech, `rate` Hz.
    pub fn play(&mut self, samples: Vec<i16>, rate: u32) -> Result<(), SpeechError> {
        if samples.is_empty() {
            return Ok(());
        }
        self.samples += samples.len() as u64;
        if self.first_chunk.is_none() {
            self.first_chunk = Some(Instant::now());
            self.on_air = Some(self.player.play_on_air(samples, rate)?);
        } else {
            self.player.play_at(samples, rate)?;
        }
        Ok(())
    }

    /// When the first chunk was handed over, if one was.
    pub fn first_chunk(&self) -> Option<Instant> {
        self.first_chunk
    }

    /// Samples given so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The moment the first chunk went on the line; waits for it. `None`
    /// if nothing was played or it was dropped before it was sent.
    pub async fn first_on_air(&mut self) -> Option<Instant> {
        self.on_air.take()?.await.ok()
    }
}

impl CallHandle {
    /// Speaks `text` with `tts`: synthesizes it into the call's playback
    /// (streamed) and returns when all of it is queued. Follow with
    /// [`CallHandle::wait_playback`] to wait until it has been heard.
    pub async fn say(&self, tts: &dyn TextToSpeech, text: &str) -> Result<(), SpeechError> {
        let mut out = SpeechOut::new(self.player());
        tts.synthesize(text, &mut out).await
    }
}
