//! Voicemail.

use crate::call::{
    AgentOutcome, CallContext, CallEvent, CallHandle, RecordingMode, FRAME_DURATION, LINE_RATE,
};
use crate::{Agent, AgentError};
use std::path::PathBuf;
use std::time::Duration;

/// Takes a message: a greeting, a beep, then the caller's audio recorded
/// until they press `#`, stay silent for [`Voicemail::silence`] or reach
/// [`Voicemail::max_length`]. The message is the call's recording (a WAV
/// file named by the call id in the recordings directory, noted in the
/// call record); a caller who hangs up leaves the message recorded so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voicemail {
    /// Played first ("please leave a message"); `None` for the beep only.
    pub greeting: Option<PathBuf>,
    /// Silence that ends the message, counted after the caller's last
    /// speech (or from the beep if they say nothing).
    pub silence: Duration,
    /// Longest message.
    pub max_length: Duration,
}

impl Default for Voicemail {
    /// No greeting, 5 s of silence, 3 minutes at most.
    fn default() -> Self {
        Voicemail {
            greeting: None,
            silence: Duration::from_secs(5),
            max_length: Duration::from_secs(180),
        }
    }
}

/// The beep before the message: 1 kHz for 400 ms at 8 kHz.
fn beep() -> Vec<i16> {
    (0..LINE_RATE as usize * 2 / 5)
        .map(|i| {
            let t = i as f64 / f64::from(LINE_RATE);
            (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
        })
        .collect()
}

impl Agent for Voicemail {
    async fn run(
        &self,
        _ctx: CallContext,
        mut call: CallHandle,
    ) -> Result<AgentOutcome, AgentError> {
        if let Some(greeting) = &self.greeting {
            call.play_file(greeting).await?;
        }
        let tone = call.play_at(beep(), LINE_RATE)?;
        // The greeting can be skipped with `#`.
        loop {
            match call.next_event().await {
                None | Some(CallEvent::HungUp) => return Ok(AgentOutcome::CallerHungUp),
                Some(CallEvent::Dtmf { digit: '#', .. }) => {
                    call.stop_playback()?;
                    call.play_at(beep(), LINE_RATE)?;
                    call.wait_playback().await?;
                    break;
                }
                Some(CallEvent::PlaybackFinished { id, .. }) if id == tone => break,
                Some(_) => {}
            }
        }
        call.start_recording(RecordingMode::Caller).await?;
        let mut start = None;
        let mut quiet_since = None;
        let mut speaking = false;
        let why = loop {
            let Some(event) = call.next_event().await else {
                return Ok(AgentOutcome::CallerHungUp);
            };
            match event {
                CallEvent::HungUp => return Ok(AgentOutcome::CallerHungUp),
                CallEvent::Dtmf { digit: '#', .. } => break "the caller pressed #",
                CallEvent::SpeechStarted { .. } => speaking = true,
                CallEvent::SpeechStopped { at } => {
                    speaking = false;
                    quiet_since = Some(at);
                }
                CallEvent::Audio(frame) => {
                    let end = frame.at + FRAME_DURATION;
                    let begun = *start.get_or_insert(frame.at);
                    let quiet = *quiet_since.get_or_insert(frame.at);
                    if end.saturating_sub(begun) >= self.max_length {
                        break "the message reached its maximum length";
                    }
                    if !speaking && end.saturating_sub(quiet) >= self.silence {
                        break "the caller stayed silent";
                    }
                }
                _ => {}
            }
        };
        let message = call.stop_recording().await?;
        tracing::info!(
            call_id = call.call_id(),
            path = %message.path.display(),
            length_ms = message.length.as_millis() as u64,
            why,
            "voicemail recorded"
        );
        Ok(AgentOutcome::hang_up(format!(
            "voicemail of {} ms recorded: {why}",
            message.length.as_millis()
        )))
    }
}
