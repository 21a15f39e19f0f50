//! Agents that come with the switch.
//!
//! - [`Echo`]: the echo test (FreePBX's `*43`): the caller hears
//!   themselves.
//! - [`Ivr`]: a prompt and a DTMF menu that sends the call on: another
//!   agent, a transfer, voicemail; `0` for a person.
//! - [`Voicemail`]: greeting, beep, the caller's message recorded to the
//!   call's WAV file until `#`, silence or a maximum length.
//! - [`Assistant`]: the offline FAQ assistant: the profile's greeting
//!   and menu, answers from its FAQ by voice, a person on request or
//!   when the caller is not understood twice.

mod assistant;
mod echo;
mod ivr;
mod voicemail;

pub use assistant::{
    asks_for_person, match_words, Assistant, AssistantProfiles, AssistantSettings, Dialogue, Faq,
    FaqMatch,
};
pub use echo::Echo;
pub use ivr::Ivr;
pub use voicemail::Voicemail;
