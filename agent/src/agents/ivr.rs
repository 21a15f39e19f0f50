//! A DTMF menu.

use crate::call::{AgentOutcome, CallContext, CallEvent, CallHandle, TransferTarget};
use crate::{Agent, AgentError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A menu: a prompt ("for sales press 1..."), then one key chooses where
/// the call goes: another agent, a transfer, voicemail. `0` reaches a
/// person ([`TransferTarget::Operator`]) unless the menu gives it another
/// meaning.
///
/// A key pressed during the prompt stops it. With no key (or an unknown
/// one) within [`Ivr::timeout`] after the prompt, the prompt is played
/// again, [`Ivr::attempts`] times in all; then the call goes to
/// [`Ivr::no_choice`], or is hung up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ivr {
    /// The menu's prompt (WAV, MP3, FLAC or OGG).
    pub prompt: PathBuf,
    /// What each key does.
    pub choices: BTreeMap<char, TransferTarget>,
    /// How long to wait for a key after the prompt.
    pub timeout: Duration,
    /// How many times the prompt is played before giving up.
    pub attempts: u32,
    /// Where a caller who chose nothing goes; `None` hangs up.
    pub no_choice: Option<TransferTarget>,
}

impl Ivr {
    /// A menu with `prompt` and `choices`, `0` for the operator, 5 s to
    /// choose, three attempts, hang-up when nothing is chosen.
    pub fn new(prompt: impl Into<PathBuf>, choices: BTreeMap<char, TransferTarget>) -> Self {
        let mut choices = choices;
        choices.entry('0').or_insert(TransferTarget::Operator);
        Ivr {
            prompt: prompt.into(),
            choices,
            timeout: Duration::from_secs(5),
            attempts: 3,
            no_choice: None,
        }
    }
}

impl Agent for Ivr {
    async fn run(
        &self,
        _ctx: CallContext,
        mut call: CallHandle,
    ) -> Result<AgentOutcome, AgentError> {
        for _ in 0..self.attempts.max(1) {
            let prompt = call.play_file(&self.prompt).await?;
            let mut deadline = None;
            loop {
                let wait = async {
                    match deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                let event = tokio::select! {
                    event = call.next_event() => event,
                    () = wait => break,
                };
                match event {
                    None | Some(CallEvent::HungUp) => return Ok(AgentOutcome::CallerHungUp),
                    Some(CallEvent::Dtmf { digit, .. }) => {
                        call.stop_playback()?;
                        if let Some(target) = self.choices.get(&digit) {
                            return Ok(AgentOutcome::Transfer {
                                target: target.clone(),
                                reason: Some(format!("menu key {digit}")),
                            });
                        }
                        tracing::debug!(%digit, "key not in the menu");
                        break;
                    }
                    Some(CallEvent::PlaybackFinished { id, .. }) if id == prompt => {
                        deadline = Some(tokio::time::Instant::now() + self.timeout);
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(match &self.no_choice {
            Some(target) => AgentOutcome::Transfer {
                target: target.clone(),
                reason: Some("no menu choice".into()),
            },
            None => AgentOutcome::hang_up("no menu choice"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_zero_reaches_a_person_unless_the_menu_says_otherwise() {
        let menu = Ivr::new(
            "menu.wav",
            BTreeMap::from([('1', TransferTarget::Voicemail)]),
        );
        assert_eq!(menu.choices.get(&'0'), Some(&TransferTarget::Operator));
        let own = Ivr::new(
            "menu.wav",
            BTreeMap::from([('0', TransferTarget::Agent("reception".into()))]),
        );
        assert_eq!(
            own.choices.get(&'0'),
            Some(&TransferTarget::Agent("reception".into()))
        );
    }
}
