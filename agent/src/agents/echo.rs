//! The echo test.

use crate::call::{AgentOutcome, CallContext, CallEvent, CallHandle};
use crate::{Agent, AgentError};

/// Plays the caller's audio back to them, as it arrives, until they hang
/// up or press `#`: a check of both directions of a line and of its delay.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Agent for Echo {
    async fn run(
        &self,
        _ctx: CallContext,
        mut call: CallHandle,
    ) -> Result<AgentOutcome, AgentError> {
        while let Some(event) = call.next_event().await {
            match event {
                CallEvent::Audio(frame) => call.play_stream(frame.samples)?,
                CallEvent::Dtmf { digit: '#', .. } => {
                    return Ok(AgentOutcome::hang_up("caller ended the echo test with #"))
                }
                _ => {}
            }
        }
        Ok(AgentOutcome::CallerHungUp)
    }
}
