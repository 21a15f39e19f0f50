//! What a test call found: each turn's reply and when it began, who
//! ended the call, the RTP statistics; printed by `ai-line call`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rtp_media::engine::MediaStats;
use sip_core::sdp::{Codec, NegotiatedMedia};

use super::Step;

/// The far end's audio from the start of one reply to its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Where the reply began, on the call's clock (from the answer, see
    /// the module docs).
    pub start: Duration,
    /// Where it ended (its last loud frame's end).
    pub end: Duration,
    /// What the far end said: `None` without a speech-to-text engine,
    /// the engine's error text when it failed.
    pub words: Option<Result<String, String>>,
}

impl Reply {
    /// How long the far end spoke.
    pub fn length(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// When the reply to a turn began, relative to our own speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// The reply began this long after our speech ended: the far end's
    /// response latency as a caller hears it.
    After(Duration),
    /// The far end was already sounding before our speech ended (it
    /// echoes us, or talked over us), this long after our speech began.
    During(Duration),
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::After(d) => write!(f, "{} ms after our speech ended", d.as_millis()),
            Latency::During(d) => write!(
                f,
                "during our speech, {} ms after it began (an echo, or talking over us)",
                d.as_millis()
            ),
        }
    }
}

/// One turn as it went.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnReport {
    /// What we did.
    pub step: Step,
    /// How long our audible audio (or our keys) lasted.
    pub spoke: Duration,
    /// Where it ended, on the call's clock.
    pub spoke_until: Duration,
    /// The far end's reply, if it made one in time.
    pub reply: Option<Reply>,
}

impl TurnReport {
    /// When the reply began relative to our speech; `None` without a reply.
    pub fn latency(&self) -> Option<Latency> {
        let reply = self.reply.as_ref()?;
        Some(if reply.start >= self.spoke_until {
            Latency::After(reply.start - self.spoke_until)
        } else {
            let before_end = self.spoke_until - reply.start;
            Latency::During(self.spoke.saturating_sub(before_end))
        })
    }
}

/// Who ended the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// We hung up (BYE) after the last step.
    WeHungUp,
    /// The far end hung up; steps after that were not done.
    FarEndHungUp,
    /// The far end sent no RTP for the media timeout.
    MediaTimeout,
    /// The call's signalling failed (the text says how).
    Failed(String),
}

/// What the test call found.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// The SIP Call-ID.
    pub call_id: String,
    /// What offer/answer agreed.
    pub media: NegotiatedMedia,
    /// What the far end said before our first step.
    pub greeting: Option<Reply>,
    /// The steps done, in order.
    pub turns: Vec<TurnReport>,
    /// Steps not done because the call ended first.
    pub steps_left: usize,
    /// Who ended the call.
    pub ending: Ending,
    /// The call's RTP statistics at its end.
    pub stats: Option<MediaStats>,
    /// The recording of what we heard, when asked for: its file and length.
    pub recording: Option<(PathBuf, Duration)>,
}

impl fmt::Display for CallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codec = match self.media.codec {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        };
        writeln!(f, "call {} answered, {codec}", self.call_id)?;
        if let Some(g) = &self.greeting {
            write!(f, "greeting: {} ms of audio", g.length().as_millis())?;
            write_words(f, g)?;
        }
        for (i, turn) in self.turns.iter().enumerate() {
            write!(f, "turn {}: {}; ", i + 1, turn.step)?;
            match (&turn.reply, turn.latency()) {
                (Some(reply), Some(latency)) => {
                    write!(
                        f,
                        "reply began {latency}, {} ms long",
                        reply.length().as_millis()
                    )?;
                    write_words(f, reply)?;
                }
                _ => writeln!(f, "no reply")?,
            }
        }
        if self.steps_left > 0 {
            writeln!(
                f,
                "{} step(s) not done: the call ended first",
                self.steps_left
            )?;
        }
        match &self.ending {
            Ending::WeHungUp => writeln!(f, "we hung up")?,
            Ending::FarEndHungUp => writeln!(f, "the far end hung up")?,
            Ending::MediaTimeout => writeln!(f, "the far end's RTP stopped")?,
            Ending::Failed(why) => writeln!(f, "the call failed: {why}")?,
        }
        match &self.stats {
            Some(s) => writeln!(
                f,
                "RTP: {} packets received, {} lost ({:.1}%), jitter {:.1} ms, MOS {:.2}; {} sent{}",
                s.packets_received,
                s.lost,
                s.loss_pct,
                s.jitter.as_secs_f64() * 1000.0,
                s.mos,
                s.packets_sent,
                s.remote_loss_pct
                    .map(|p| format!(", far end reports {p:.1}% of ours lost"))
                    .unwrap_or_default()
            )?,
            None => writeln!(f, "RTP: no statistics")?,
        }
        if let Some((path, length)) = &self.recording {
            writeln!(
                f,
                "recorded {:.1} s to {}",
                length.as_secs_f64(),
                path.display()
            )?;
        }
        Ok(())
    }
}

fn write_words(f: &mut fmt::Formatter<'_>, reply: &Reply) -> fmt::Result {
    match &reply.words {
        Some(Ok(words)) => writeln!(f, ": {words:?}"),
        Some(Err(e)) => writeln!(f, " (not transcribed: {e})"),
        None => writeln!(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_after_our_speech_or_during_it() {
        let turn = |start_ms| TurnReport {
            step: Step::Digits("1".into()),
            spoke: Duration::from_millis(1000),
            spoke_until: Duration::from_millis(2000),
            reply: Some(Reply {
                start: Duration::from_millis(start_ms),
                end: Duration::from_millis(3000),
                words: None,
            }),
        };
        assert_eq!(
            turn(2300).latency(),
            Some(Latency::After(Duration::from_millis(300)))
        );
        assert_eq!(
            turn(1120).latency(),
            Some(Latency::During(Duration::from_millis(120)))
        );
        // The far end's first packet was the echo of our first words, 60 ms
        // after we began: its clock starts there.
        let mut echo = turn(0);
        echo.spoke_until = Duration::from_millis(940);
        assert_eq!(
            echo.latency(),
            Some(Latency::During(Duration::from_millis(60)))
        );
    }
}
