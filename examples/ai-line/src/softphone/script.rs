//! The softphone's side of the call, run as an agent on the call's media
//! bridge: it plays each turn, presses keys, and listens to the far end
//! on the call's clock (see the parent module on timing).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::call::{CallEvent, CallHandle, Frame, PlaybackId, FRAME_DURATION, LINE_RATE};
use agent::speech::{SpeechToText, Utterance};
use tracing::{debug, warn};

use super::report::{Reply, TurnReport};
use super::{Step, Timing};

/// A received frame at or above this level (dBFS, of its RMS) is sound:
/// the far end is replying. Line noise and comfort noise stay well below
/// it; speech and tones are far above.
pub const SOUND_LEVEL_DBFS: f64 = -45.0;

/// Audio kept from before the first loud frame of a reply, so that the
/// speech-to-text engine hears the soft start of its first word.
const REPLY_PREROLL: Duration = Duration::from_millis(200);

/// How much longer than the call's clock says the wall clock waits for
/// the far end's audio before it stands in for it.
const NO_AUDIO_SLACK: Duration = Duration::from_millis(500);

/// How much longer than its length a play may take to be sent.
const PLAYBACK_GRACE: Duration = Duration::from_secs(5);

/// The pause the media engine leaves after each key it sends.
const KEY_PAUSE: Duration = Duration::from_millis(100);

/// A step made ready before dialling: audio decoded or synthesized, keys
/// checked, so that nothing can fail for want of a file mid-call.
#[derive(Debug)]
pub(super) enum Prepared {
    /// 8 kHz audio to play.
    Audio(Vec<i16>),
    /// Keys to press.
    Keys(Vec<char>),
}

/// What has been heard so far: the call's clock and the last few frames.
///
/// The call's clock counts from the answer. The far end's media clock
/// (its frames' timestamps) starts with its first packet, which may come
/// well after the answer (a far end that only sends when it talks), so
/// that first frame is placed on the call's clock by the wall clock, once;
/// from then on the call's clock is the media clock moved by that offset.
#[derive(Debug)]
struct Heard {
    /// When the call was answered.
    answered: Instant,
    /// The call's clock minus the media clock, once a frame has come.
    offset: Option<Duration>,
    /// The end of the last frame received, on the call's clock.
    now: Duration,
    /// Recent frames, for the start of a reply (its pre-roll).
    recent: VecDeque<Frame>,
}

impl Heard {
    fn new() -> Heard {
        Heard {
            answered: Instant::now(),
            offset: None,
            now: Duration::ZERO,
            recent: VecDeque::new(),
        }
    }

    /// Where the call is now on its clock: the end of the last frame, or,
    /// before the first, the time since the answer.
    fn position(&self) -> Duration {
        match self.offset {
            Some(_) => self.now,
            None => self.answered.elapsed(),
        }
    }

    /// Takes a received frame; returns where it starts on the call's clock.
    fn take(&mut self, frame: &Frame) -> Duration {
        let answered = self.answered;
        let offset = *self
            .offset
            .get_or_insert_with(|| answered.elapsed().saturating_sub(frame.at));
        let at = frame.at + offset;
        self.now = at + FRAME_DURATION;
        let keep = (REPLY_PREROLL.as_millis() / FRAME_DURATION.as_millis()).max(1) as usize;
        if self.recent.len() >= keep {
            self.recent.pop_front();
        }
        self.recent.push_back(frame.clone());
        at
    }
}

/// A reply being heard or heard: its audio and where it lies.
pub(super) struct HeardReply {
    start: Duration,
    end: Duration,
    samples: Vec<i16>,
    transcription: Option<tokio::task::JoinHandle<Result<String, String>>>,
}

impl HeardReply {
    /// Starts transcribing the reply in the background.
    fn transcribe(&mut self, stt: Option<Arc<dyn SpeechToText>>) {
        let Some(stt) = stt else {
            return;
        };
        let utterance = Utterance {
            samples: std::mem::take(&mut self.samples),
            rate: LINE_RATE,
        };
        self.transcription = Some(tokio::spawn(async move {
            stt.transcribe(&utterance).await.map_err(|e| e.to_string())
        }));
    }

    pub(super) async fn finish(self) -> Reply {
        let words = match self.transcription {
            Some(task) => Some(task.await.unwrap_or_else(|e| Err(e.to_string()))),
            None => None,
        };
        Reply {
            start: self.start,
            end: self.end,
            words,
        }
    }
}

/// Watching for the reply to one turn: sound from `from` on is the reply
/// (sound before it answered something earlier).
struct Watch {
    from: Duration,
    reply: Option<HeardReply>,
}

/// A turn done, its reply perhaps still being transcribed.
pub(super) struct PlayedTurn {
    step: Step,
    spoke: Duration,
    spoke_until: Duration,
    reply: Option<HeardReply>,
}

impl PlayedTurn {
    pub(super) async fn finish(self) -> TurnReport {
        TurnReport {
            step: self.step,
            spoke: self.spoke,
            spoke_until: self.spoke_until,
            reply: match self.reply {
                Some(r) => Some(r.finish().await),
                None => None,
            },
        }
    }
}

/// What the script did before the call ended or it ran out of steps.
#[derive(Default)]
pub(super) struct Played {
    pub(super) greeting: Option<HeardReply>,
    pub(super) turns: Vec<PlayedTurn>,
}

/// The call ended while the script waited.
struct CallOver;

/// The softphone's side of the call, as an agent on its media bridge.
pub(super) struct Script {
    call: CallHandle,
    timing: Timing,
    stt: Option<Arc<dyn SpeechToText>>,
    heard: Heard,
    watch: Option<Watch>,
}

impl Script {
    /// The script for `call`: replies listened to with `timing`,
    /// transcribed with `stt` when there is one.
    pub(super) fn new(
        call: CallHandle,
        timing: Timing,
        stt: Option<Arc<dyn SpeechToText>>,
    ) -> Script {
        Script {
            call,
            timing,
            stt,
            heard: Heard::new(),
            watch: None,
        }
    }

    /// Listens for the greeting, then does each step and listens for its
    /// reply, until the steps are done or the call is over.
    pub(super) async fn run(mut self, steps: &[Step], prepared: Vec<Prepared>) -> Played {
        let mut played = Played::default();
        self.watch_from(Duration::ZERO);
        let (greeting, over) = self.listen(Duration::ZERO, self.timing.greeting_wait).await;
        played.greeting = greeting;
        if over {
            return played;
        }
        for (step, prepared) in steps.iter().zip(prepared) {
            let spoken = match prepared {
                Prepared::Audio(samples) => self.speak(samples).await,
                Prepared::Keys(keys) => self.press(&keys).await,
            };
            let Ok((spoke, spoke_until)) = spoken else {
                break;
            };
            let by = spoke_until + self.timing.reply_timeout;
            let (reply, over) = self.listen(spoke_until, by).await;
            played.turns.push(PlayedTurn {
                step: step.clone(),
                spoke,
                spoke_until,
                reply,
            });
            if over {
                break;
            }
        }
        played
    }

    /// Starts watching for a reply that begins at `from` or later.
    fn watch_from(&mut self, from: Duration) {
        self.watch = Some(Watch { from, reply: None });
    }

    /// The next event. Frames move the clock, are kept for a reply's
    /// pre-roll, and start or extend the reply being watched for. `Err`
    /// once the call is over.
    async fn next(&mut self) -> Result<CallEvent, CallOver> {
        let frame = match self.call.next_event().await {
            None | Some(CallEvent::HungUp) => return Err(CallOver),
            Some(CallEvent::Audio(frame)) => frame,
            Some(event) => return Ok(event),
        };
        let at = self.heard.take(&frame);
        let heard = &self.heard;
        let loud = !frame.concealed && level_dbfs(&frame.samples) >= SOUND_LEVEL_DBFS;
        if let Some(watch) = &mut self.watch {
            match &mut watch.reply {
                Some(reply) => {
                    reply.samples.extend_from_slice(&frame.samples);
                    if loud {
                        reply.end = heard.now;
                    }
                }
                None if loud && at >= watch.from => {
                    watch.reply = Some(HeardReply {
                        start: at,
                        end: heard.now,
                        samples: heard
                            .recent
                            .iter()
                            .flat_map(|f| f.samples.iter().copied())
                            .collect(),
                        transcription: None,
                    });
                }
                None => {}
            }
        }
        Ok(CallEvent::Audio(frame))
    }

    /// Plays `samples` and waits until they are sent; returns how long
    /// their audible part lasted and where it ended on the delivered-audio
    /// clock.
    async fn speak(&mut self, samples: Vec<i16>) -> Result<(Duration, Duration), CallOver> {
        let length = samples_duration(samples.len());
        let (lead, trail) = quiet_ends(&samples);
        self.watch_from(self.heard.position());
        let id = self.call.play(samples).map_err(|_| CallOver)?;
        self.played(id, length).await?;
        let audible = length.saturating_sub(lead + trail);
        Ok((audible, self.heard.position().saturating_sub(trail)))
    }

    /// Waits until the play `id`, `length` long, has been sent. A line
    /// that takes much longer (audio held back while the far end has us on
    /// hold) has it stopped, so the script goes on.
    async fn played(&mut self, id: PlaybackId, length: Duration) -> Result<(), CallOver> {
        let finished = async {
            loop {
                if let CallEvent::PlaybackFinished { id: done, .. } = self.next().await? {
                    if done == id {
                        return Ok(());
                    }
                }
            }
        };
        match tokio::time::timeout(length + PLAYBACK_GRACE, finished).await {
            Ok(done) => done,
            Err(_) => {
                warn!(?length, "our audio is not being sent; stopped");
                self.call.stop_playback().map_err(|_| CallOver)
            }
        }
    }

    /// Presses `keys` and waits until they are sent. A frame of silence
    /// queued after them (the engine sends queued audio only once the keys
    /// are out) tells when that is.
    async fn press(&mut self, keys: &[char]) -> Result<(Duration, Duration), CallOver> {
        let started = self.heard.position();
        self.watch_from(self.heard.position());
        for &key in keys {
            self.call
                .send_dtmf(key, self.timing.digit_length)
                .map_err(|_| CallOver)?;
        }
        let marker = self
            .call
            .play(vec![0; samples_at(FRAME_DURATION)])
            .map_err(|_| CallOver)?;
        let keys_take = (self.timing.digit_length + KEY_PAUSE) * keys.len() as u32;
        self.played(marker, keys_take).await?;
        let end = self.heard.position().saturating_sub(FRAME_DURATION);
        Ok((end.saturating_sub(started), end))
    }

    /// Follows the reply being watched for until the far end has been
    /// quiet for the reply silence, though not before `after` (the end of
    /// our own speech); `None` when no reply has begun by `by`. The call
    /// ending stops the listening (`true`) and keeps what was heard.
    async fn listen(&mut self, after: Duration, by: Duration) -> (Option<HeardReply>, bool) {
        let mut over = false;
        loop {
            let now = self.heard.position();
            let reply = self.watch.as_ref().and_then(|w| w.reply.as_ref());
            let left = match reply {
                Some(r) => {
                    let quiet_for = now.saturating_sub(r.end);
                    if (quiet_for >= self.timing.reply_silence && now >= after)
                        || now.saturating_sub(r.start) >= self.timing.max_reply
                    {
                        break;
                    }
                    self.timing
                        .reply_silence
                        .saturating_sub(quiet_for)
                        .max(after.saturating_sub(now))
                }
                None if now >= by => break,
                None => by - now,
            };
            // The clock is the far end's audio: while none arrives (no
            // RTP yet, or none any more) the wall clock stands in for it.
            match tokio::time::timeout(left + NO_AUDIO_SLACK, self.next()).await {
                Ok(Ok(_)) => {}
                Ok(Err(CallOver)) => {
                    over = true;
                    break;
                }
                Err(_) => {
                    debug!("no audio from the far end; listening ends by the wall clock");
                    break;
                }
            }
        }
        let mut reply = self.watch.take().and_then(|w| w.reply);
        if let Some(r) = &mut reply {
            // The reply, its pre-roll and as much of the quiet after it.
            let keep = samples_at(r.end.saturating_sub(r.start) + 2 * REPLY_PREROLL);
            r.samples.truncate(keep);
            r.transcribe(self.stt.clone());
        }
        (reply, over)
    }
}

/// The level of `samples` in dBFS (RMS against full scale); very low for
/// silence.
fn level_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let energy = rtp_media::energy::sum_of_squares(samples) as f64 / samples.len() as f64;
    10.0 * (energy.max(1e-9) / (32768.0 * 32768.0)).log10()
}

/// How long `n` samples at 8 kHz last.
fn samples_duration(n: usize) -> Duration {
    Duration::from_micros(n as u64 * 1_000_000 / u64::from(LINE_RATE))
}

/// How many 8 kHz samples `d` holds.
fn samples_at(d: Duration) -> usize {
    (d.as_micros() as u64 * u64::from(LINE_RATE) / 1_000_000) as usize
}

/// The quiet at the start and at the end of `samples` (20 ms frames below
/// [`SOUND_LEVEL_DBFS`]): our speech starts and ends where it is audible.
fn quiet_ends(samples: &[i16]) -> (Duration, Duration) {
    let frame = samples_at(FRAME_DURATION);
    let frames: Vec<bool> = samples
        .chunks(frame)
        .map(|c| level_dbfs(c) >= SOUND_LEVEL_DBFS)
        .collect();
    let lead = frames.iter().take_while(|loud| !**loud).count();
    if lead == frames.len() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let trail = frames.iter().rev().take_while(|loud| !**loud).count();
    let last_partial = samples.len() % frame;
    let trail_samples = match trail {
        0 => 0,
        t if last_partial > 0 => (t - 1) * frame + last_partial,
        t => t * frame,
    };
    (
        FRAME_DURATION * lead as u32,
        samples_duration(trail_samples),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: usize, amplitude: f64) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| (amplitude * (i as f64 * 0.3).sin()) as i16)
            .collect()
    }

    #[test]
    fn quiet_ends_are_measured_to_the_frame_and_silence_is_all_quiet() {
        let mut s = vec![0i16; 320]; // 40 ms of silence
        s.extend(tone(500, 8000.0)); // 25 frames
        s.extend(vec![0i16; 330]); // two frames and 10 samples
        let (lead, trail) = quiet_ends(&s);
        assert_eq!(lead, Duration::from_millis(40));
        assert_eq!(trail, Duration::from_micros(41_250));
        assert_eq!(quiet_ends(&[0; 800]), (Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn the_sound_gate_passes_speech_levels_and_not_line_noise() {
        assert!(level_dbfs(&tone(20, 8000.0)) > SOUND_LEVEL_DBFS);
        assert!(level_dbfs(&tone(20, 50.0)) < SOUND_LEVEL_DBFS);
        assert_eq!(level_dbfs(&[]), f64::NEG_INFINITY);
    }
}
