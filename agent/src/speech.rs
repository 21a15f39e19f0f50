//! The speech engines a turn-based agent is built from:
//! [`SpeechToText`] (the caller's utterance → text), [`Responder`] (text
//! and the conversation so far → the reply) and [`TextToSpeech`] (the
//! reply → audio, streamed as it is produced). Cloud services and local
//! engines implement the same traits.
//!
//! The traits return boxed futures so that the switch can pick engines
//! from configuration (`Arc<dyn TextToSpeech>`); an implementation writes
//! `Box::pin(async move { ... })`.

use crate::call::{BoxFuture, CallError, CallHandle, Player};
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

/// Decides what the agent says next.
pub trait Responder: Send + Sync {
    /// The reply to `text`, given the `conversation` before it.
    fn respond<'a>(
        &'a self,
        conversation: &'a [Line],
        text: &'a str,
    ) -> BoxFuture<'a, Result<String, SpeechError>>;
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
