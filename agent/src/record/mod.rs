//! Call records: one per call, opened when the call starts and closed when
//! it ends, whatever ended it.
//!
//! A [`CallRecord`] holds who called whom on which line, when the call
//! started, was answered and ended, how it ended ([`Outcome`] and
//! [`HangupCause`]), which profile and agent served it, the transfers and
//! fallbacks taken, the DTMF digits, the recording file, the errors met and
//! the transcript with each turn's timings.
//!
//! Records live behind the [`CallStore`] trait so that several machines
//! serving one number can share a database; the embedded default is
//! [`SqliteStore`] (SQLite with write-ahead logging and schema migrations).
//! The same database keeps outbound campaigns ([`CampaignStore`]), so a
//! campaign survives a restart of the process.
//!
//! The lifecycle of a record:
//!
//! 1. [`CallStore::open`] when the call starts (the INVITE arrived or was
//!    sent);
//! 2. [`CallStore::update`] as things happen: answer, routing, transcript
//!    lines, digits, transfers, errors. Each update appends; nothing is
//!    rewritten;
//! 3. [`CallStore::close`] when it ends, with the end time, the
//!    [`Outcome`] and the [`HangupCause`]. Closing twice keeps the first.
//!
//! [`OpenCallRecord`] holds a record open and closes it if the call's task
//! ends without doing so (a panic, a cancelled task). A record still open
//! when the process stops (killed, crashed, power lost) is closed as [`Outcome::Interrupted`] by
//! [`CallStore::close_interrupted`], which [`SqliteStore::open`] runs at
//! the next start.
//!
//! Recordings are WAV files named by call id in the recordings directory;
//! [`recording_path`] turns a call id, which comes from the network, into
//! a safe file name.
//!
//! ```
//! use agent::record::{
//!     CallDirection, CallEnd, CallRecord, CallStore, CallUpdate, HangupCause, Outcome, Party,
//!     SqliteStore,
//! };
//! use jiff::Timestamp;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("agent-record-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let store = SqliteStore::open_path(&dir.join("calls.sqlite"), "default")?;
//!
//! // The INVITE arrived.
//! let call = CallRecord::new(
//!     "a84b4c76e66710@pc33.example.com",
//!     "trunk-main",
//!     CallDirection::Inbound,
//!     Party::raw("+33612345678"),
//!     Timestamp::now(),
//! );
//! store.open(&call)?;
//! // We answered; later the caller hung up.
//! store.update(&call.call_id, &CallUpdate::Answered(Timestamp::now()))?;
//! let end = CallEnd { at: Timestamp::now(), outcome: Outcome::Completed, cause: HangupCause::Remote };
//! assert!(store.close(&call.call_id, &end)?);
//!
//! let stored = store.get(&call.call_id)?.expect("just stored");
//! assert_eq!(stored.end, Some(end));
//! # drop(store);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

mod campaign;
mod guard;
mod recording;
mod settings;
mod sqlite;
mod store;

pub use campaign::{
    Attempt, AttemptId, CallingHours, Campaign, CampaignId, CampaignNumber, CampaignSettings,
    CampaignState, CampaignStore, DueNumber, NumberId, NumberState,
};
pub use guard::OpenCallRecord;
pub use recording::recording_path;
pub use settings::StoreSettings;
pub use sqlite::SqliteStore;
pub use store::{CallStore, StoreError};

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

/// Everything kept about one call.
///
/// Times are [`jiff::Timestamp`]s (UTC instants); offsets inside the call
/// (transcript lines, digits) are [`Duration`]s from the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// The SIP Call-ID (or, for a DAHDI line, the id the switch gave the
    /// call). Unique in the store.
    pub call_id: String,
    /// The line the call came in on or went out by: the trunk account,
    /// trusted peer or DAHDI channel, by its name in the configuration.
    pub line: String,
    /// The tenant (customer account) the line belongs to, where there are
    /// several.
    pub tenant: Option<String>,
    /// Whether the call came in or went out.
    pub direction: CallDirection,
    /// Who called: on an inbound call the person ringing us, on an outbound
    /// call our own number.
    pub caller: Party,
    /// The number dialled: on an inbound call the DID of ours that the
    /// caller rang, on an outbound call the number we called.
    pub did: Option<String>,
    /// When the call started (INVITE received or sent).
    pub start: Timestamp,
    /// When it was answered (200 OK sent or received), if it was.
    pub answer: Option<Timestamp>,
    /// How it ended; `None` while the call is still up.
    pub end: Option<CallEnd>,
    /// The profile routing chose, once it has.
    pub profile: Option<String>,
    /// The agent that answered, once one has.
    pub agent: Option<String>,
    /// Transfers and fallbacks taken, in order.
    pub handoffs: Vec<Handoff>,
    /// DTMF digits received, in order.
    pub dtmf: Vec<DtmfEntry>,
    /// The WAV file the call was recorded to, if it was.
    pub recording: Option<PathBuf>,
    /// Errors met during the call, in order.
    pub errors: Vec<ErrorEntry>,
    /// What was said, in order, with each turn's timings.
    pub transcript: Vec<TranscriptEntry>,
}

impl CallRecord {
    /// A record for a call that has just started: no answer, no end, no
    /// profile or agent yet, empty lists.
    pub fn new(
        call_id: impl Into<String>,
        line: impl Into<String>,
        direction: CallDirection,
        caller: Party,
        start: Timestamp,
    ) -> Self {
        CallRecord {
            call_id: call_id.into(),
            line: line.into(),
            tenant: None,
            direction,
            caller,
            did: None,
            start,
            answer: None,
            end: None,
            profile: None,
            agent: None,
            handoffs: Vec::new(),
            dtmf: Vec::new(),
            recording: None,
            errors: Vec::new(),
            transcript: Vec::new(),
        }
    }

    /// How long the call lasted, from start to end (ringing included);
    /// `None` while it is still up.
    pub fn duration(&self) -> Option<Duration> {
        let end = self.end.as_ref()?;
        span(self.start, end.at)
    }

    /// How long the call was answered for, from answer to end; `None`
    /// while it is up or if it was never answered.
    pub fn talk_time(&self) -> Option<Duration> {
        let end = self.end.as_ref()?;
        span(self.answer?, end.at)
    }
}

/// The time from `from` to `to`, or zero if the clock went backwards.
fn span(from: Timestamp, to: Timestamp) -> Option<Duration> {
    let d = to.duration_since(from);
    Some(Duration::try_from(d).unwrap_or(Duration::ZERO))
}

/// Whether a call came in or went out. (Not the SDP media direction,
/// which is `Direction` in `sip-core` and `rtp-media`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// The call came in from a line.
    Inbound,
    /// The switch placed the call (an outbound call or campaign attempt).
    Outbound,
}

/// One end of a call, as the signalling named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    /// The number or user exactly as it arrived (the From user part or
    /// the channel's caller id), kept even when it cannot be parsed.
    pub raw: String,
    /// The same number in E.164 (`+15551234567`), where it could be
    /// normalised; `None` for anonymous or unparseable callers.
    pub e164: Option<String>,
    /// The display name, where one was sent.
    pub name: Option<String>,
}

impl Party {
    /// A party known only by its raw number or user.
    pub fn raw(raw: impl Into<String>) -> Self {
        Party {
            raw: raw.into(),
            e164: None,
            name: None,
        }
    }
}

/// The end of a call: when, with what result, and who or what ended it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEnd {
    /// When the call ended (BYE, CANCEL, final failure response, or the
    /// last moment a stopped process was known to have it up).
    pub at: Timestamp,
    /// What came of the call.
    pub outcome: Outcome,
    /// Who or what ended it.
    pub cause: HangupCause,
}

/// What came of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The call was answered and then ended normally, by either side.
    Completed,
    /// Policy refused the call before any media was opened, with the SIP
    /// final response sent (403, 486, 503, 603...) and the rule's reason.
    Refused {
        /// The SIP status code sent back.
        status: u16,
        /// Which rule refused it and why, in words.
        reason: String,
    },
    /// The called party was busy (486/600 on an outbound call).
    Busy,
    /// Nobody answered before the ring timeout (408/480, or our own
    /// timeout on an outbound call).
    NoAnswer,
    /// The caller hung up before the call was answered (CANCEL).
    Cancelled,
    /// The call could not be set up or carried on: a failure response, no
    /// usable codec, no media port.
    Failed {
        /// The SIP status code, where the failure was a SIP response.
        status: Option<u16>,
        /// What failed, in words.
        reason: String,
    },
    /// The agent failed (could not start, or returned an error) and no
    /// fallback took the call over.
    AgentFailed {
        /// What the agent reported.
        reason: String,
    },
    /// The process stopped while the call was up, and the record was
    /// closed at the next start.
    Interrupted,
}

impl Outcome {
    /// Whether a campaign should call the number again: busy, no answer,
    /// or a call cut off by the process stopping.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Outcome::Busy | Outcome::NoAnswer | Outcome::Interrupted
        )
    }

    /// Whether somebody answered: a campaign that reached the number does
    /// not call it again.
    pub fn was_answered(&self) -> bool {
        matches!(self, Outcome::Completed | Outcome::AgentFailed { .. })
    }
}

/// Who or what ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupCause {
    /// The other end hung up: BYE or CANCEL from the caller on an inbound
    /// call, or a BYE or failure response from the called party; on a
    /// call bridged to a person, either of the two.
    Remote,
    /// The agent hung up.
    Agent,
    /// The call was transferred away and the switch left it.
    Transferred,
    /// The switch refused the call (policy) or gave up on it (ring
    /// timeout on an outbound call, maximum call length).
    Switch,
    /// No media arrived for longer than the media timeout.
    MediaTimeout,
    /// An error ended the call (agent or media failure).
    Error,
    /// The switch was shut down while the call was up.
    Shutdown,
    /// The process stopped while the call was up (killed, crashed); the
    /// record was closed at the next start.
    ProcessStopped,
}

/// Who spoke a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The person at the other end of the line: the caller on an inbound
    /// call, the called party on an outbound call.
    Remote,
    /// The agent.
    Agent,
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptEntry {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said (recognised speech, or the agent's reply text).
    pub text: String,
    /// When it started, from the answer.
    pub offset: Duration,
    /// How the turn went, where it was measured.
    pub timings: TurnTimings,
}

/// The moments of one conversational turn, each as an offset from the
/// answer, so that where the latency went can be read afterwards: end of
/// the caller's speech → transcript ready → reply ready → first reply
/// audio on the wire.
///
/// Each is `None` when that step did not happen or was not measured (a
/// speech-to-speech agent has no transcript step).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TurnTimings {
    /// The voice activity detector saw the speaker stop.
    pub end_of_speech: Option<Duration>,
    /// Speech-to-text delivered the final transcript.
    pub transcript_ready: Option<Duration>,
    /// The responder's reply (text or first audio chunk) was ready.
    pub reply_ready: Option<Duration>,
    /// The first RTP packet of the reply was sent.
    pub first_audio: Option<Duration>,
}

impl TurnTimings {
    /// From the end of the caller's speech to the first reply audio sent:
    /// the silence the caller heard. `None` unless both were measured.
    pub fn response_latency(&self) -> Option<Duration> {
        Some(self.first_audio?.saturating_sub(self.end_of_speech?))
    }
}

/// One DTMF digit received (RFC 4733 event or SIP INFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DtmfEntry {
    /// The digit: `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// When the digit started, from the answer.
    pub offset: Duration,
    /// How long it was held, where known (an RFC 4733 digit is reported
    /// on its first packet, before its end).
    pub duration: Option<Duration>,
}

/// A transfer or fallback taken during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    /// When it was taken.
    pub at: Timestamp,
    /// Whether the agent asked for it or the profile's fallback did it.
    pub kind: HandoffKind,
    /// Where the call went: a SIP URI, a number, or another agent's name.
    pub target: String,
    /// Why, where a reason was given (the agent's words, or the failure
    /// that set off the fallback).
    pub reason: Option<String>,
}

/// Why a call was handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffKind {
    /// The agent transferred the call (REFER, or a bridge to a number).
    Transfer,
    /// The profile's fallback took the call after the agent failed.
    Fallback,
}

/// An error met during a call, kept even when the call went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEntry {
    /// When it happened.
    pub at: Timestamp,
    /// The part that failed (`agent`, `media`, `sip`, `recording`...).
    pub component: String,
    /// The error, as its `Display` gave it.
    pub message: String,
}

/// One thing that happened to a call after it started, appended to its
/// record by [`CallStore::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallUpdate {
    /// The call was answered at this time. A second answer is ignored.
    Answered(Timestamp),
    /// Routing chose a profile, and its agent took the call.
    Routed {
        /// The profile's name.
        profile: String,
        /// The agent's name.
        agent: String,
    },
    /// The call is being recorded to this file.
    Recording(PathBuf),
    /// A transcript line.
    Transcript(TranscriptEntry),
    /// A DTMF digit.
    Dtmf(DtmfEntry),
    /// A transfer or fallback.
    Handoff(Handoff),
    /// An error.
    Error(ErrorEntry),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_serialises_for_the_status_page_with_readable_times_and_outcome() {
        let start: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        let mut record = CallRecord::new(
            "abc@host",
            "trunk-main",
            CallDirection::Inbound,
            Party::raw("+33612345678"),
            start,
        );
        record.end = Some(CallEnd {
            at: "2026-12-04T10:00:03Z".parse().unwrap(),
            outcome: Outcome::Refused {
                status: 603,
                reason: "blocked prefix".into(),
            },
            cause: HangupCause::Switch,
        });
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["start"], "2026-12-04T10:00:00Z");
        assert_eq!(json["direction"], "inbound");
        assert_eq!(
            json["end"]["outcome"],
            serde_json::json!({"kind": "refused", "status": 603, "reason": "blocked prefix"})
        );
        assert_eq!(json["end"]["cause"], "switch");
        assert_eq!(record.duration(), Some(Duration::from_secs(3)));
        assert_eq!(record.talk_time(), None, "never answered");
    }

    #[test]
    fn response_latency_runs_from_end_of_speech_to_first_audio() {
        let t = TurnTimings {
            end_of_speech: Some(Duration::from_millis(3_100)),
            transcript_ready: Some(Duration::from_millis(3_280)),
            reply_ready: None,
            first_audio: Some(Duration::from_millis(3_720)),
        };
        assert_eq!(t.response_latency(), Some(Duration::from_millis(620)));
        let unmeasured = TurnTimings {
            end_of_speech: None,
            ..t
        };
        assert_eq!(unmeasured.response_latency(), None);
    }

    #[test]
    fn only_busy_unanswered_and_interrupted_calls_are_retried() {
        assert!(Outcome::Busy.is_retryable());
        assert!(Outcome::NoAnswer.is_retryable());
        assert!(Outcome::Interrupted.is_retryable());
        assert!(!Outcome::Completed.is_retryable());
        assert!(!Outcome::Cancelled.is_retryable());
        assert!(!Outcome::Failed {
            status: Some(404),
            reason: String::new()
        }
        .is_retryable());
    }
}
