//! Runs an agent so that whatever it does, the call ends in a decision the
//! switch can act on.
//!
//! [`supervise`] runs the agent in its own task. An error it returns, a
//! panic (caught at the task boundary), a hang (busy for longer than
//! [`Supervision::reply_timeout`] without reading an event or giving a
//! command) or a call longer than [`Supervision::max_duration`] ends in
//! [`Verdict::Fallback`], with the reason written to the call record. The
//! switch then runs the profile's fallback on the same call; no other call
//! and nothing else in the process is affected.
//!
//! A hung agent's task is aborted at its next `.await`. An agent that
//! never reaches one (a loop that does not yield) keeps one runtime worker
//! thread busy; the call still falls back.

use crate::agent::SharedAgent;
use crate::call::{AgentOutcome, CallContext, CallError, CallHandle};
use crate::record::{CallUpdate, Handoff, HandoffKind};
use crate::AgentError;
use jiff::Timestamp;
use std::time::Duration;

/// Limits an agent runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervision {
    /// Longest time the agent may be busy (not waiting for an event or for
    /// playback) without giving a command; longer is a hang. Leave room for
    /// the slowest legitimate step (a language model's reply).
    pub reply_timeout: Duration,
    /// Longest time an agent may serve one call.
    pub max_duration: Duration,
    /// The fallback the switch will take, named in the record's handoff
    /// (`None`: the switch records the handoff itself).
    pub fallback_target: Option<String>,
}

impl Default for Supervision {
    /// 20 s to reply, 2 hours a call.
    fn default() -> Self {
        Supervision {
            reply_timeout: Duration::from_secs(20),
            max_duration: Duration::from_secs(2 * 3600),
            fallback_target: None,
        }
    }
}

/// What went wrong with an agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentFailure {
    /// The agent returned an error.
    #[error("agent failed: {0}")]
    Error(String),
    /// The agent panicked.
    #[error("agent panicked: {0}")]
    Panicked(String),
    /// The agent was busy for too long without a command or an event read.
    #[error("agent did not respond for {} ms", busy_for.as_millis())]
    Unresponsive {
        /// How long it had been busy.
        busy_for: Duration,
    },
    /// The agent was still on the call at the hard limit.
    #[error("agent still on the call after the limit of {} s", limit.as_secs())]
    TimeLimit {
        /// The limit.
        limit: Duration,
    },
}

/// How an agent's part of a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The agent finished and said what to do.
    Finished(AgentOutcome),
    /// The agent failed; the switch runs the profile's fallback.
    Fallback(AgentFailure),
}

/// Runs `agent` on `call` under `limits`; see the module docs. Needs a
/// multi-threaded Tokio runtime for a non-yielding agent not to stall the
/// supervisor.
pub async fn supervise(
    agent: SharedAgent,
    ctx: CallContext,
    call: CallHandle,
    limits: &Supervision,
) -> Verdict {
    let activity = call.activity();
    let record = call.record().cloned();
    let call_id = ctx.call_id.clone();
    let mut task = tokio::spawn(agent.run_shared(ctx, call));
    let deadline = tokio::time::sleep(limits.max_duration);
    tokio::pin!(deadline);
    let period =
        (limits.reply_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut check = tokio::time::interval(period);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let verdict = loop {
        tokio::select! {
            joined = &mut task => break match joined {
                Ok(Ok(outcome)) => Verdict::Finished(outcome),
                // The call ended under the agent: nothing to fall back to.
                Ok(Err(AgentError::Call(CallError::Ended))) => Verdict::Finished(AgentOutcome::CallerHungUp),
                Ok(Err(e)) => Verdict::Fallback(AgentFailure::Error(e.to_string())),
                Err(e) if e.is_panic() => Verdict::Fallback(AgentFailure::Panicked(panic_message(e.into_panic()))),
                Err(e) => Verdict::Fallback(AgentFailure::Error(e.to_string())),
            },
            () = &mut deadline => {
                task.abort();
                break Verdict::Fallback(AgentFailure::TimeLimit { limit: limits.max_duration });
            }
            _ = check.tick() => {
                let busy_for = activity.busy_for();
                if busy_for >= limits.reply_timeout {
                    task.abort();
                    break Verdict::Fallback(AgentFailure::Unresponsive { busy_for });
                }
            }
        }
    };
    if let Verdict::Fallback(failure) = &verdict {
        tracing::warn!(call_id, %failure, "agent failed, falling back");
        if let Some(record) = &record {
            record.error("agent", failure.to_string());
            if let Some(target) = &limits.fallback_target {
                record.update(CallUpdate::Handoff(Handoff {
                    at: Timestamp::now(),
                    kind: HandoffKind::Fallback,
                    target: target.clone(),
                    reason: Some(failure.to_string()),
                }));
            }
        }
    }
    verdict
}

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a
/// `String`).
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}
