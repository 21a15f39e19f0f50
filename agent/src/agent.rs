//! The one extension point for AI: an [`Agent`] serves a call.
//!
//! An agent gets the call's [`CallContext`] and its [`CallHandle`] and
//! returns how its part ended ([`AgentOutcome`]). Write it as an `async fn`:
//!
//! ```
//! use agent::call::{AgentOutcome, CallContext, CallEvent, CallHandle};
//! use agent::{Agent, AgentError};
//!
//! /// Says nothing; hangs up when the caller presses `#`.
//! struct HashToHangUp;
//!
//! impl Agent for HashToHangUp {
//!     async fn run(&self, _ctx: CallContext, mut call: CallHandle) -> Result<AgentOutcome, AgentError> {
//!         while let Some(event) = call.next_event().await {
//!             if let CallEvent::Dtmf { digit: '#', .. } = event {
//!                 return Ok(AgentOutcome::hang_up("caller pressed #"));
//!             }
//!         }
//!         Ok(AgentOutcome::CallerHungUp)
//!     }
//! }
//! ```
//!
//! or as a closure with [`agent_fn`]. The switch holds agents as
//! [`SharedAgent`] (`Arc<dyn DynAgent>`), which every [`Agent`] is.
//!
//! A streaming agent (audio in and out all the time) reads
//! [`CallEvent::Audio`](crate::call::CallEvent::Audio) and plays with
//! [`CallHandle::play_stream`]; a turn-based one uses
//! [`crate::turn::TurnAgent`].

pub use crate::call::BoxFuture;
use crate::call::{AgentOutcome, CallContext, CallError, CallHandle, LINE_RATE};
use std::future::Future;
use std::sync::Arc;
use thiserror::Error;

/// Why an agent gave up on a call. Whatever it is, the call ends through
/// the profile's fallback and the record says what happened.
#[derive(Debug, Error)]
pub enum AgentError {
    /// A call command failed (most often: the call has ended).
    #[error(transparent)]
    Call(#[from] CallError),
    /// A speech engine (speech-to-text, responder, text-to-speech) failed.
    #[error(transparent)]
    Speech(#[from] crate::speech::SpeechError),
    /// Anything else, in the agent's words.
    #[error("{0}")]
    Failed(String),
}

impl AgentError {
    /// An [`AgentError::Failed`] from anything printable.
    pub fn failed(what: impl std::fmt::Display) -> Self {
        AgentError::Failed(what.to_string())
    }
}

/// What answers a call: the one extension point for AI.
///
/// `run` serves the whole call and returns how the agent's part ended.
/// An error, a panic or a hang ends the call through the profile's
/// fallback (see [`crate::supervise`]); it never takes down the switch or
/// another call.
pub trait Agent: Send + Sync + 'static {
    /// Serves one call.
    fn run(
        &self,
        ctx: CallContext,
        call: CallHandle,
    ) -> impl Future<Output = Result<AgentOutcome, AgentError>> + Send;

    /// The rate, in Hz, of the caller's audio this agent wants (8000, or
    /// 16000/24000 for most speech models); its playback is at the same
    /// rate.
    fn audio_rate(&self) -> u32 {
        LINE_RATE
    }
}

/// The object-safe form of [`Agent`], implemented for every agent, so that
/// the switch can keep agents of different types in one table.
pub trait DynAgent: Send + Sync + 'static {
    /// Serves one call; see [`Agent::run`].
    fn run_shared(
        self: Arc<Self>,
        ctx: CallContext,
        call: CallHandle,
    ) -> BoxFuture<'static, Result<AgentOutcome, AgentError>>;

    /// See [`Agent::audio_rate`].
    fn audio_rate(&self) -> u32;
}

impl<A: Agent> DynAgent for A {
    fn run_shared(
        self: Arc<Self>,
        ctx: CallContext,
        call: CallHandle,
    ) -> BoxFuture<'static, Result<AgentOutcome, AgentError>> {
        Box::pin(async move { self.run(ctx, call).await })
    }

    fn audio_rate(&self) -> u32 {
        Agent::audio_rate(self)
    }
}

/// An agent shared between calls.
pub type SharedAgent = Arc<dyn DynAgent>;

/// An agent made from a closure; see [`agent_fn`].
#[derive(Debug, Clone)]
pub struct FnAgent<F> {
    f: F,
}

/// An agent from a closure taking the context and the handle:
///
/// ```
/// use agent::call::AgentOutcome;
/// let hello = agent::agent_fn(|_ctx, call| async move {
///     call.play_file("hello.wav").await?;
///     call.wait_playback().await?;
///     Ok(AgentOutcome::hang_up("greeted"))
/// });
/// ```
pub fn agent_fn<F, Fut>(f: F) -> FnAgent<F>
where
    F: Fn(CallContext, CallHandle) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AgentOutcome, AgentError>> + Send + 'static,
{
    FnAgent { f }
}

impl<F, Fut> Agent for FnAgent<F>
where
    F: Fn(CallContext, CallHandle) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AgentOutcome, AgentError>> + Send + 'static,
{
    fn run(
        &self,
        ctx: CallContext,
        call: CallHandle,
    ) -> impl Future<Output = Result<AgentOutcome, AgentError>> + Send {
        (self.f)(ctx, call)
    }
}
