//! A simulated analog line behind the same [`AnalogChannel`] trait as a
//! real DAHDI channel, for testing line drivers without a card.
//!
//! A [`LineScript`] says what the far side of the line does, in order:
//! ring for a while, play audio (caller ID bursts, a caller talking, busy
//! tone), raise line events (polarity reversal, battery loss), wait until
//! we answer or hang up. The channel plays it on a virtual clock in 20 ms
//! frames: [`AnalogChannel::read_frame`] returns the next frame at once,
//! and a wait in [`AnalogChannel::next_event`] moves the clock on instead
//! of sleeping, so tests are fast and give the same result every run.
//!
//! What we write comes back in what we read, as a 2-wire line's hybrid
//! returns it: by default 20 ms later and 12 dB down
//! ([`SimulatedChannel::with_echo`]).
//!
//! ```
//! use dahdi_sys::channel::sim::{LineScript, SimulatedChannel};
//! use dahdi_sys::channel::{AnalogChannel, ChannelEvent, Hook};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), dahdi_sys::channel::ChannelError> {
//! let script = LineScript::new()
//!     .ring(Duration::from_secs(2))
//!     .wait_for_hook(Hook::OffHook)
//!     .audio(vec![1000; 800]) // the caller says something
//!     .event(ChannelEvent::Polarity); // and hangs up
//! let mut line = SimulatedChannel::new(1, script);
//! assert_eq!(line.next_event(None)?, Some(ChannelEvent::RingBegin));
//! assert_eq!(line.next_event(None)?, Some(ChannelEvent::RingOffHook));
//! line.set_hook(Hook::OffHook)?;
//! assert_eq!(line.next_event(Some(Duration::from_secs(1)))?, Some(ChannelEvent::Polarity));
//! # Ok(())
//! # }
//! ```

use super::{
    AnalogChannel, ChannelError, ChannelEvent, Frame, Hook, SampleFormat, FRAME_DURATION,
    FRAME_SAMPLES,
};
use std::collections::VecDeque;
use std::time::Duration;

const SAMPLE_RATE: u64 = 8000;

/// How long `next_event(None)` lets the virtual clock run looking for an
/// event before it gives up: a script that has one will have raised it.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

fn samples(d: Duration) -> u64 {
    (d.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000) as u64
}

/// One thing the far side of the line does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Ring voltage for this long: [`ChannelEvent::RingBegin`] when it
    /// starts and [`ChannelEvent::RingOffHook`] when it ends (DAHDI reports
    /// a ring once it has qualified it); silence on the audio. Answering
    /// ends the ring at once, without the second event.
    Ring(Duration),
    /// Nothing for this long.
    Silence(Duration),
    /// These samples (8 kHz linear), in order.
    Audio(Vec<i16>),
    /// A line event, raised at this point (polarity reversal, battery loss
    /// as [`ChannelEvent::OnHook`], ...).
    Event(ChannelEvent),
    /// Silence until we set this hook state (e.g. the far end waits for us
    /// to answer before it talks).
    WaitForHook(Hook),
}

/// What the far side of a simulated line does, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineScript {
    steps: Vec<Step>,
}

impl LineScript {
    /// An empty script: a silent line.
    pub fn new() -> Self {
        LineScript::default()
    }

    /// Adds a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Rings for `duration` ([`Step::Ring`]).
    pub fn ring(self, duration: Duration) -> Self {
        self.step(Step::Ring(duration))
    }

    /// Stays silent for `duration`.
    pub fn silence(self, duration: Duration) -> Self {
        self.step(Step::Silence(duration))
    }

    /// Plays `samples` (8 kHz, linear).
    pub fn audio(self, samples: Vec<i16>) -> Self {
        self.step(Step::Audio(samples))
    }

    /// Raises `event`.
    pub fn event(self, event: ChannelEvent) -> Self {
        self.step(Step::Event(event))
    }

    /// Waits, silent, until we set `hook`.
    pub fn wait_for_hook(self, hook: Hook) -> Self {
        self.step(Step::WaitForHook(hook))
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}

/// A step being played, with what is left of it.
#[derive(Debug)]
enum Playing {
    Ring { left: u64 },
    Silence { left: u64 },
    Audio { samples: Vec<i16>, at: usize },
    WaitForHook(Hook),
}

/// A simulated analog line (see the module documentation). Carries linear
/// samples only.
#[derive(Debug)]
pub struct SimulatedChannel {
    number: u32,
    script: VecDeque<Step>,
    playing: Option<Playing>,
    /// Frames made by the far side that we have not read yet.
    unread: VecDeque<[i16; FRAME_SAMPLES]>,
    events: VecDeque<ChannelEvent>,
    /// Frames made so far: the virtual clock.
    made: u64,
    /// Frames read so far.
    read: u64,
    hook: Hook,
    hooks: Vec<Hook>,
    /// Everything written, frame after frame.
    sent: Vec<i16>,
    echo_frames: u64,
    echo_gain: f32,
}

impl SimulatedChannel {
    /// Channel `number` playing `script`, on hook, with the default echo
    /// (20 ms, 12 dB down).
    pub fn new(number: u32, script: LineScript) -> Self {
        SimulatedChannel {
            number,
            script: script.steps.into(),
            playing: None,
            unread: VecDeque::new(),
            events: VecDeque::new(),
            made: 0,
            read: 0,
            hook: Hook::OnHook,
            hooks: Vec::new(),
            sent: Vec::new(),
            echo_frames: 1,
            echo_gain: 10f32.powf(-12.0 / 20.0),
        }
        .with_echo(FRAME_DURATION, 12.0)
    }

    /// Sets the line echo: what we write comes back `delay` later (rounded
    /// to whole 20 ms frames, at least one) and `loss_db` down.
    pub fn with_echo(mut self, delay: Duration, loss_db: f32) -> Self {
        let frames = (delay.as_nanos() + FRAME_DURATION.as_nanos() / 2) / FRAME_DURATION.as_nanos();
        self.echo_frames = (frames as u64).max(1);
        self.echo_gain = 10f32.powf(-loss_db / 20.0);
        self
    }

    /// No echo at all.
    pub fn without_echo(mut self) -> Self {
        self.echo_gain = 0.0;
        self
    }

    /// The hook state we last set.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// Every hook state we set, in order.
    pub fn hooks(&self) -> &[Hook] {
        &self.hooks
    }

    /// Everything we wrote, as one stream of samples.
    pub fn sent(&self) -> &[i16] {
        &self.sent
    }

    /// How far the virtual clock has run: the far side's audio made so far.
    pub fn elapsed(&self) -> Duration {
        FRAME_DURATION * self.made as u32
    }

    /// How much audio has been read.
    pub fn read_time(&self) -> Duration {
        FRAME_DURATION * self.read as u32
    }

    /// Whether the script has been played to its end.
    pub fn finished(&self) -> bool {
        self.playing.is_none() && self.script.is_empty()
    }

    /// Whether the script is waiting for a hook state we have not set: the
    /// clock could run forever without anything happening.
    fn stuck(&self) -> bool {
        matches!(self.playing, Some(Playing::WaitForHook(h)) if h != self.hook)
            || (self.playing.is_none()
                && matches!(self.script.front(), Some(Step::WaitForHook(h)) if *h != self.hook))
    }

    /// Moves the virtual clock on by one frame: the far side's audio and
    /// events of that frame.
    fn tick(&mut self) {
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut at = 0;
        while at < FRAME_SAMPLES {
            let Some(playing) = self.playing.as_mut() else {
                match self.script.pop_front() {
                    None => break,
                    Some(Step::Event(e)) => self.events.push_back(e),
                    Some(Step::Ring(d)) => {
                        if self.hook != Hook::OffHook {
                            self.events.push_back(ChannelEvent::RingBegin);
                            self.playing = Some(Playing::Ring { left: samples(d) });
                        }
                    }
                    Some(Step::Silence(d)) => {
                        self.playing = Some(Playing::Silence { left: samples(d) })
                    }
                    Some(Step::Audio(samples)) => {
                        self.playing = Some(Playing::Audio { samples, at: 0 })
                    }
                    Some(Step::WaitForHook(h)) => self.playing = Some(Playing::WaitForHook(h)),
                }
                continue;
            };
            let room = (FRAME_SAMPLES - at) as u64;
            match playing {
                Playing::Ring { left } => {
                    if self.hook == Hook::OffHook {
                        // Answered: the exchange trips the ring.
                        self.playing = None;
                        continue;
                    }
                    let n = room.min(*left);
                    *left -= n;
                    at += n as usize;
                    if *left == 0 {
                        self.events.push_back(ChannelEvent::RingOffHook);
                        self.playing = None;
                    }
                }
                Playing::Silence { left } => {
                    let n = room.min(*left);
                    *left -= n;
                    at += n as usize;
                    if *left == 0 {
                        self.playing = None;
                    }
                }
                Playing::Audio { samples, at: from } => {
                    let n = (samples.len() - *from).min(FRAME_SAMPLES - at);
                    frame[at..at + n].copy_from_slice(&samples[*from..*from + n]);
                    *from += n;
                    at += n;
                    if *from == samples.len() {
                        self.playing = None;
                    }
                }
                Playing::WaitForHook(h) => {
                    if *h == self.hook {
                        self.playing = None;
                    } else {
                        break;
                    }
                }
            }
        }
        self.unread.push_back(frame);
        self.made += 1;
    }
}

impl AnalogChannel for SimulatedChannel {
    fn number(&self) -> u32 {
        self.number
    }

    fn format(&self) -> SampleFormat {
        SampleFormat::Linear
    }

    /// The next 20 ms of the far side, with the echo of what we wrote
    /// [`SimulatedChannel::with_echo`] earlier; runs the clock on if
    /// everything made has been read.
    fn read_frame(&mut self) -> Result<Frame, ChannelError> {
        if self.unread.is_empty() {
            self.tick();
        }
        let mut frame = self.unread.pop_front().unwrap_or([0; FRAME_SAMPLES]);
        if let Some(echoed) = self.read.checked_sub(self.echo_frames) {
            let start = echoed as usize * FRAME_SAMPLES;
            if let Some(sent) = self.sent.get(start..start + FRAME_SAMPLES) {
                for (s, &e) in frame.iter_mut().zip(sent) {
                    let v = f32::from(*s) + f32::from(e) * self.echo_gain;
                    *s = v.round().clamp(-32768.0, 32767.0) as i16;
                }
            }
        }
        self.read += 1;
        Ok(Frame::Linear(frame))
    }

    fn write_frame(&mut self, frame: &Frame) -> Result<(), ChannelError> {
        match frame {
            Frame::Linear(samples) => {
                self.sent.extend_from_slice(samples);
                Ok(())
            }
            Frame::Mulaw(_) => Err(ChannelError::FormatMismatch {
                channel: self.number,
                carries: SampleFormat::Linear,
                frame: SampleFormat::Mulaw,
            }),
        }
    }

    /// An event already raised, or the first one raised while the virtual
    /// clock runs on for up to `timeout` (the audio of that time stays
    /// readable). With no timeout the clock runs until an event comes; a
    /// script that has ended, or waits for a hook state only the caller
    /// can set, returns `Ok(None)` at once instead of waiting forever.
    fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<ChannelEvent>, ChannelError> {
        let frames = timeout
            .unwrap_or(LONGEST_WAIT)
            .as_nanos()
            .div_ceil(FRAME_DURATION.as_nanos()) as u64;
        for _ in 0..frames {
            if !self.events.is_empty() || self.finished() || self.stuck() {
                break;
            }
            self.tick();
        }
        Ok(self.events.pop_front())
    }

    fn set_hook(&mut self, hook: Hook) -> Result<(), ChannelError> {
        self.hook = hook;
        self.hooks.push(hook);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(frame: Frame) -> [i16; FRAME_SAMPLES] {
        match frame {
            Frame::Linear(s) => s,
            Frame::Mulaw(_) => panic!("a simulated channel carries linear samples"),
        }
    }

    #[test]
    fn events_come_at_their_time_on_the_virtual_clock_and_the_audio_waits_to_be_read() {
        let script = LineScript::new()
            .silence(Duration::from_millis(100))
            .ring(Duration::from_secs(2))
            .audio(vec![7; 320])
            .event(ChannelEvent::Polarity);
        let mut line = SimulatedChannel::new(3, script).without_echo();
        assert_eq!(line.next_event(Some(Duration::ZERO)).unwrap(), None);
        assert_eq!(
            line.next_event(Some(Duration::from_millis(60))).unwrap(),
            None
        );
        assert_eq!(line.elapsed(), Duration::from_millis(60));
        assert_eq!(
            line.next_event(None).unwrap(),
            Some(ChannelEvent::RingBegin)
        );
        assert_eq!(line.elapsed(), Duration::from_millis(120));
        assert_eq!(
            line.next_event(None).unwrap(),
            Some(ChannelEvent::RingOffHook)
        );
        assert_eq!(line.elapsed(), Duration::from_millis(2100));
        // Nothing read yet: the frames made while waiting are all there.
        for _ in 0..105 {
            assert_eq!(linear(line.read_frame().unwrap()), [0; FRAME_SAMPLES]);
        }
        assert_eq!(linear(line.read_frame().unwrap()), [7; FRAME_SAMPLES]);
        assert_eq!(line.next_event(None).unwrap(), Some(ChannelEvent::Polarity));
        assert!(line.finished());
        assert_eq!(line.next_event(None).unwrap(), None);
    }

    #[test]
    fn answering_trips_the_ring_and_releases_a_wait_for_the_hook() {
        let script = LineScript::new()
            .ring(Duration::from_secs(2))
            .wait_for_hook(Hook::OffHook)
            .audio(vec![5; 160]);
        let mut line = SimulatedChannel::new(1, script).without_echo();
        assert_eq!(
            line.next_event(None).unwrap(),
            Some(ChannelEvent::RingBegin)
        );
        line.set_hook(Hook::OffHook).unwrap();
        // The ring's frame, then the caller.
        assert_eq!(linear(line.read_frame().unwrap()), [0; FRAME_SAMPLES]);
        assert_eq!(linear(line.read_frame().unwrap()), [5; FRAME_SAMPLES]);
        assert_eq!(line.next_event(None).unwrap(), None);
        assert_eq!(line.hooks(), [Hook::OffHook]);
        // A wait for a hook nobody sets ends the wait at once.
        let mut line = SimulatedChannel::new(1, LineScript::new().wait_for_hook(Hook::OffHook));
        assert_eq!(line.next_event(None).unwrap(), None);
        assert!(!line.finished());
    }

    #[test]
    fn a_mulaw_frame_is_refused() {
        let mut line = SimulatedChannel::new(2, LineScript::new());
        let err = line
            .write_frame(&Frame::silence(SampleFormat::Mulaw))
            .unwrap_err();
        assert!(matches!(
            err,
            ChannelError::FormatMismatch {
                channel: 2,
                carries: SampleFormat::Linear,
                frame: SampleFormat::Mulaw
            }
        ));
    }
}
