//! An answered analog call served frame by frame: the channel's 20 ms
//! frames become the agent's [`CallEvent`]s (audio, speech from the VAD,
//! keys from the in-band DTMF detector) and the agent's [`CallCommand`]s
//! become the audio written back, on the one blocking thread that owns the
//! channel.
//!
//! Each 20 ms: the line's events (a polarity reversal or battery loss is
//! the far end hanging up), the agent's commands, one frame written (the
//! playback queue, or silence) and one frame read. [`AnalogChannel::read_frame`]
//! blocks until the card has the next frame, which paces the loop.

use super::echo::{EchoGate, EchoGateSettings};
use crate::call::{CallCommand, CallError, CallEvent, EventSender, Frame, LineSide, PlaybackId};
use crate::call::{FRAME_DURATION, LINE_RATE};
use dahdi_sys::channel::{AnalogChannel, ChannelError, ChannelEvent, Frame as LineFrame};
use rtp_media::dtmf::{DtmfDetector, ToneGenerator};
use rtp_media::g711::ulaw_to_linear;
use rtp_media::progress::{ProgressDetector, ProgressTone, TonePlan};
use rtp_media::resample::{resample, Quality, Resampler};
use rtp_media::vad::{Vad, VadConfig, VadEvent};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::oneshot;

/// Samples in one frame at the line's rate.
const FRAME_SAMPLES: usize = dahdi_sys::channel::FRAME_SAMPLES;

/// Amplitude of the keys the agent sends (about −10 dBm0 per tone).
const DTMF_AMPLITUDE: i16 = 7000;

/// How the far end's hang-up shows on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupSignal {
    /// The line's polarity reversed (the exchange's disconnect signal).
    PolarityReversal,
    /// Loop current went away (battery loss, "kewl start" disconnect).
    BatteryLoss,
    /// The exchange played busy or reorder tone into the call: the line
    /// gives neither of the signals above.
    Tone(ProgressTone),
}

/// Why serving an answered call ended.
#[derive(Debug)]
pub enum LineEnd {
    /// The agent is done with the call (its handle was dropped): hang up.
    AgentDone,
    /// The far end hung up, as the line showed it.
    FarEndHungUp(HangupSignal),
    /// The channel failed under the call (card removed, driver error).
    ChannelFailed(ChannelError),
    /// The channel reported itself removed.
    ChannelRemoved,
}

/// How an answered analog call is served.
#[derive(Debug, Clone)]
pub struct LineSettings {
    /// Busy and reorder tones that mean the far end hung up, on lines
    /// that give no disconnect signal; `None` listens for none.
    pub hangup_tones: Option<TonePlan>,
    /// The gate that keeps the line's echo of our prompts from being
    /// taken for the caller's speech.
    pub echo_gate: EchoGateSettings,
    /// The speech detector's settings.
    pub vad: VadConfig,
}

impl Default for LineSettings {
    fn default() -> Self {
        LineSettings {
            hangup_tones: Some(TonePlan::nanp()),
            echo_gate: EchoGateSettings::default(),
            vad: VadConfig::default(),
        }
    }
}

/// One queued play.
#[derive(Debug)]
struct Queued {
    id: Option<PlaybackId>,
    samples: Vec<i16>,
    at: usize,
    on_air: Option<oneshot::Sender<Instant>>,
}

/// The agent's audio waiting to go out, in order.
#[derive(Debug, Default)]
struct Playback {
    queue: VecDeque<Queued>,
    waiters: Vec<oneshot::Sender<()>>,
    barge_in: bool,
}

impl Playback {
    fn push(
        &mut self,
        id: Option<PlaybackId>,
        samples: Vec<i16>,
        rate: u32,
        on_air: Option<oneshot::Sender<Instant>>,
        events: &EventSender,
    ) {
        let samples = if rate == LINE_RATE {
            samples
        } else {
            resample(&samples, rate, LINE_RATE)
        };
        if samples.is_empty() {
            if let Some(id) = id {
                events.send(CallEvent::PlaybackFinished {
                    id,
                    interrupted: false,
                });
            }
            if let Some(on_air) = on_air {
                let _ = on_air.send(Instant::now());
            }
            self.answer_waiters();
            return;
        }
        self.queue.push_back(Queued {
            id,
            samples,
            at: 0,
            on_air,
        });
    }

    /// The next 20 ms to send: queued audio, then silence.
    fn next_frame(&mut self, events: &EventSender) -> [i16; FRAME_SAMPLES] {
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            if front.at == 0 {
                if let Some(on_air) = front.on_air.take() {
                    let _ = on_air.send(Instant::now());
                }
            }
            let n = (front.samples.len() - front.at).min(FRAME_SAMPLES - filled);
            frame[filled..filled + n].copy_from_slice(&front.samples[front.at..front.at + n]);
            front.at += n;
            filled += n;
            if front.at == front.samples.len() {
                if let Some(done) = self.queue.pop_front() {
                    if let Some(id) = done.id {
                        events.send(CallEvent::PlaybackFinished {
                            id,
                            interrupted: false,
                        });
                    }
                }
            }
        }
        if self.queue.is_empty() {
            self.answer_waiters();
        }
        frame
    }

    /// Drops everything queued (stop playback, barge-in).
    fn clear(&mut self, events: &EventSender) {
        for dropped in self.queue.drain(..) {
            if let Some(id) = dropped.id {
                events.send(CallEvent::PlaybackFinished {
                    id,
                    interrupted: true,
                });
            }
        }
        self.answer_waiters();
    }

    fn answer_waiters(&mut self) {
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(());
        }
    }
}

/// The linear samples of a frame the channel read.
fn linear(frame: &LineFrame) -> [i16; FRAME_SAMPLES] {
    match frame {
        LineFrame::Linear(samples) => *samples,
        LineFrame::Mulaw(codes) => {
            let mut out = [0i16; FRAME_SAMPLES];
            for (o, &c) in out.iter_mut().zip(codes) {
                *o = ulaw_to_linear(c);
            }
            out
        }
    }
}

/// A frame to write in the channel's format.
fn line_frame(samples: &[i16; FRAME_SAMPLES], like: dahdi_sys::channel::SampleFormat) -> LineFrame {
    match like {
        dahdi_sys::channel::SampleFormat::Linear => LineFrame::Linear(*samples),
        dahdi_sys::channel::SampleFormat::Mulaw => {
            let mut codes = [0xFFu8; FRAME_SAMPLES];
            for (c, &s) in codes.iter_mut().zip(samples) {
                *c = rtp_media::g711::linear_to_ulaw(s);
            }
            LineFrame::Mulaw(codes)
        }
    }
}

/// Serves an answered call on `channel` until the agent is done, the far
/// end hangs up or the channel fails. The agent gets
/// [`CallEvent::HungUp`] unless it was the one that left. The hook is left
/// as it is: the caller puts the line on hook.
pub fn serve<C: AnalogChannel + ?Sized>(
    channel: &mut C,
    line: LineSide,
    settings: &LineSettings,
) -> LineEnd {
    let LineSide {
        mut commands,
        events,
        audio_rate,
    } = line;
    let mut upsample = (audio_rate != LINE_RATE)
        .then(|| Resampler::for_20ms(LINE_RATE, audio_rate, Quality::Sinc))
        .and_then(|r| {
            r.map_err(|e| tracing::error!(audio_rate, error = %e, "audio at 8 kHz instead"))
                .ok()
        });
    let mut playback = Playback::default();
    let mut gate = EchoGate::new(settings.echo_gate);
    let mut vad = Vad::new(settings.vad);
    let mut dtmf = DtmfDetector::default();
    let mut tones = settings.hangup_tones.clone().map(ProgressDetector::new);
    let format = channel.format();
    let mut position: u32 = 0;
    let end = loop {
        // The line's signals first: a hang-up ends the call before
        // another frame is spent on it.
        match channel.next_event(Some(Duration::ZERO)) {
            Ok(Some(ChannelEvent::Polarity)) => {
                break LineEnd::FarEndHungUp(HangupSignal::PolarityReversal)
            }
            Ok(Some(ChannelEvent::OnHook)) => {
                break LineEnd::FarEndHungUp(HangupSignal::BatteryLoss)
            }
            Ok(Some(ChannelEvent::Removed)) => break LineEnd::ChannelRemoved,
            Ok(Some(other)) => {
                tracing::debug!(channel = channel.number(), event = ?other, "line event during a call");
                continue;
            }
            Ok(None) => {}
            Err(e) => break LineEnd::ChannelFailed(e),
        }
        let mut agent_gone = false;
        loop {
            match commands.try_recv() {
                Ok(command) => on_command(command, &mut playback, &events),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    agent_gone = true;
                    break;
                }
            }
        }
        if agent_gone {
            return LineEnd::AgentDone;
        }
        let out = playback.next_frame(&events);
        gate.sent(&out);
        if let Err(e) = channel.write_frame(&line_frame(&out, format)) {
            break LineEnd::ChannelFailed(e);
        }
        let heard = match channel.read_frame() {
            Ok(frame) => linear(&frame),
            Err(e) => break LineEnd::ChannelFailed(e),
        };
        let at = Duration::from_micros(u64::from(position) * 1_000_000 / u64::from(LINE_RATE));
        if let Some(tone) = tones.as_mut().and_then(|t| t.feed(&heard)) {
            if matches!(tone, ProgressTone::Busy | ProgressTone::Reorder) {
                break LineEnd::FarEndHungUp(HangupSignal::Tone(tone));
            }
        }
        dtmf.process(&heard, |digit| {
            events.send(CallEvent::Dtmf {
                digit,
                duration: None,
            });
        });
        // Echo of our own prompt is silence to the speech detector.
        let judged: &[i16] = if gate.is_echo(&heard) {
            &[0; FRAME_SAMPLES]
        } else {
            &heard
        };
        match vad.process(judged, position) {
            Some(VadEvent::SpeechStarted { media_ts }) => {
                // The agent hears of the speech before of the playback it
                // cut.
                events.send(CallEvent::SpeechStarted {
                    at: clock(media_ts),
                });
                if playback.barge_in && !playback.queue.is_empty() {
                    playback.clear(&events);
                }
            }
            Some(VadEvent::SpeechStopped { media_ts }) => {
                events.send(CallEvent::SpeechStopped {
                    at: clock(media_ts),
                });
            }
            None => {}
        }
        let samples = match upsample.as_mut() {
            Some(r) => r
                .process(&heard)
                .map_or_else(|_| heard.to_vec(), <[i16]>::to_vec),
            None => heard.to_vec(),
        };
        let rate = upsample.as_ref().map_or(LINE_RATE, Resampler::to_rate);
        events.send(CallEvent::Audio(Frame {
            samples,
            rate,
            at,
            concealed: false,
        }));
        position = position.wrapping_add(FRAME_SAMPLES as u32);
    };
    events.send(CallEvent::HungUp);
    playback.clear(&events);
    end
}

/// A position on the 8 kHz clock of audio read as a time.
fn clock(position: u32) -> Duration {
    Duration::from_micros(u64::from(position) * 1_000_000 / u64::from(LINE_RATE))
}

fn on_command(command: CallCommand, playback: &mut Playback, events: &EventSender) {
    match command {
        CallCommand::Play {
            id,
            samples,
            rate,
            on_air,
        } => playback.push(id, samples, rate, on_air, events),
        CallCommand::StopPlayback => playback.clear(events),
        CallCommand::WaitPlayback(reply) => {
            if playback.queue.is_empty() {
                let _ = reply.send(());
            } else {
                playback.waiters.push(reply);
            }
        }
        CallCommand::SetBargeIn(on) => playback.barge_in = on,
        CallCommand::SendDtmf { digit, length } => match ToneGenerator::dtmf(digit, DTMF_AMPLITUDE)
        {
            Some(mut tone) => {
                let on = (length.as_micros() * u128::from(LINE_RATE) / 1_000_000) as usize;
                // The key, then a pause so the next one is a new press.
                let pause = (FRAME_DURATION.as_millis() as usize * 4) * LINE_RATE as usize / 1000;
                let mut samples = vec![0i16; on + pause];
                tone.fill(&mut samples[..on]);
                playback.push(None, samples, LINE_RATE, None, events);
            }
            None => tracing::warn!(%digit, "not a DTMF key; not sent"),
        },
        CallCommand::StartRecording { reply, .. } => {
            let _ = reply.send(Err(CallError::Line(
                "recording is not available on analog lines".into(),
            )));
        }
        CallCommand::StopRecording { reply } => {
            let _ = reply.send(Err(CallError::Line(
                "recording is not available on analog lines".into(),
            )));
        }
    }
}
