//! The simulated line as a line driver sees it: an incoming call whose
//! caller ID, sent between the first and second ring, rtp-media's decoder
//! reads from the channel's audio; a far end hanging up by busy tone, heard
//! by the progress tone detector, and by polarity reversal; dial tone after
//! going off hook to dial out; the line echo of what we send, 20 ms later
//! and 12 dB down.

#![cfg(target_os = "linux")]

use dahdi_sys::channel::sim::{LineScript, SimulatedChannel};
use dahdi_sys::channel::{AnalogChannel, ChannelEvent, Frame, Hook, FRAME_SAMPLES};
use rtp_media::callerid::{
    encode, CallTime, CallerIdMessage, CallerIdReceiver, MessageFormat, Modulation,
};
use rtp_media::dtmf::ToneGenerator;
use rtp_media::progress::{ProgressDetector, ProgressTone, TonePlan};
use std::time::Duration;

fn samples(frame: Frame) -> [i16; FRAME_SAMPLES] {
    match frame {
        Frame::Linear(s) => s,
        Frame::Mulaw(_) => panic!("the simulated channel carries linear samples"),
    }
}

/// A caller talking: a buzz with a moving formant, syllable-modulated.
fn talk(seconds: f64) -> Vec<i16> {
    (0..(8000.0 * seconds) as usize)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let mut v = 0.0;
            for h in 1..20 {
                let f = 130.0 * f64::from(h);
                let gain = 1.0 / (1.0 + ((f - 700.0 - 400.0 * (t * 0.9).sin()) / 250.0).powi(2));
                v += gain * (std::f64::consts::TAU * f * t).sin();
            }
            let env = 0.5 + 0.5 * (std::f64::consts::TAU * 3.0 * t).sin();
            (v * env * 2500.0) as i16
        })
        .collect()
}

/// What a line driver saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Event(ChannelEvent),
    CallerId(CallerIdMessage),
}

#[test]
fn an_incoming_call_carries_caller_id_between_the_rings_that_the_decoder_reads_from_the_audio() {
    let sent = CallerIdMessage {
        format: Some(MessageFormat::Mdmf),
        time: Some(CallTime {
            month: 12,
            day: 4,
            hour: 16,
            minute: 5,
        }),
        number: Some("2125551234".into()),
        name: Some("CALLER ANNA".into()),
        ..Default::default()
    };
    let burst = encode(&sent, MessageFormat::Mdmf, Modulation::Bell202, -20.0).unwrap();
    let script = LineScript::new()
        .ring(Duration::from_secs(2))
        .silence(Duration::from_millis(500))
        .audio(burst)
        .silence(Duration::from_millis(1000))
        .ring(Duration::from_secs(2))
        .wait_for_hook(Hook::OffHook)
        .audio(talk(1.0));
    let mut line = SimulatedChannel::new(1, script);
    let mut decoder = CallerIdReceiver::new(Modulation::Bell202);
    let mut seen = Vec::new();
    let mut heard_after_answer = 0u64;
    // The driver's loop: a frame of audio, then whatever events came.
    for _ in 0..(8 * 50) {
        let frame = samples(line.read_frame().unwrap());
        if line.hook() == Hook::OffHook {
            heard_after_answer += frame
                .iter()
                .map(|&s| u64::from(s.unsigned_abs()))
                .sum::<u64>();
        } else if let Some(result) = decoder.feed(&frame) {
            seen.push(Seen::CallerId(result.expect("caller ID decodes")));
        }
        while let Some(event) = line.next_event(Some(Duration::ZERO)).unwrap() {
            seen.push(Seen::Event(event));
            // Answer on the second ring.
            let rings = seen
                .iter()
                .filter(|s| **s == Seen::Event(ChannelEvent::RingBegin))
                .count();
            if event == ChannelEvent::RingBegin && rings == 2 {
                line.set_hook(Hook::OffHook).unwrap();
            }
        }
    }
    assert_eq!(
        seen,
        [
            Seen::Event(ChannelEvent::RingBegin),
            Seen::Event(ChannelEvent::RingOffHook),
            Seen::CallerId(sent),
            Seen::Event(ChannelEvent::RingBegin),
        ]
    );
    assert!(line.finished(), "the caller talked after the answer");
    assert!(heard_after_answer > 0);
}

#[test]
fn a_far_end_hanging_up_by_busy_tone_is_heard_by_the_progress_detector() {
    let mut busy = vec![0i16; 8000 * 4];
    ToneGenerator::busy_us(1500).fill(&mut busy);
    let talking = talk(3.0);
    let script = LineScript::new()
        .wait_for_hook(Hook::OffHook)
        .audio(talking.clone())
        .audio(busy);
    let mut line = SimulatedChannel::new(1, script);
    line.set_hook(Hook::OffHook).unwrap();
    let mut detector = ProgressDetector::new(TonePlan::nanp());
    let mut heard = Vec::new();
    while !line.finished() {
        let frame = samples(line.read_frame().unwrap());
        // We send back what we hear: its echo, 20 ms later, leaves a short
        // tail of tone after each burst that must not split the cadence.
        line.write_frame(&Frame::Linear(frame)).unwrap();
        if let Some(tone) = detector.feed(&frame) {
            heard.push((tone, line.read_time()));
        }
    }
    let [(ProgressTone::Busy, at)] = heard[..] else {
        panic!("{heard:?}");
    };
    // The busy tone starts after 3 s of talk: confirmed on its second on
    // segment's end, 1.5 s in, give or take the 10 ms analysis hop.
    let since_busy = at - Duration::from_secs(3);
    assert!(
        since_busy >= Duration::from_millis(1480) && since_busy <= Duration::from_millis(1560),
        "busy heard {since_busy:?} after it started"
    );
}

#[test]
fn a_far_end_hanging_up_by_polarity_reversal_is_a_line_event_at_its_time() {
    let script = LineScript::new()
        .wait_for_hook(Hook::OffHook)
        .audio(talk(1.0))
        .event(ChannelEvent::Polarity)
        .silence(Duration::from_secs(1));
    let mut line = SimulatedChannel::new(1, script);
    assert_eq!(
        line.next_event(None).unwrap(),
        None,
        "nothing until answered"
    );
    line.set_hook(Hook::OffHook).unwrap();
    assert_eq!(
        line.next_event(Some(Duration::from_millis(500))).unwrap(),
        None
    );
    assert_eq!(
        line.next_event(Some(Duration::from_secs(2))).unwrap(),
        Some(ChannelEvent::Polarity)
    );
    assert_eq!(line.elapsed(), Duration::from_millis(1020));
}

#[test]
fn what_we_send_comes_back_20_ms_later_12_db_down() {
    let script = LineScript::new()
        .wait_for_hook(Hook::OffHook)
        .silence(Duration::from_secs(1));
    let mut line = SimulatedChannel::new(1, script);
    line.set_hook(Hook::OffHook).unwrap();
    let mut tone = ToneGenerator::continuous(1000.0, 1000.0, 4000, 8000);
    let rms =
        |s: &[i16]| (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
    let mut received = Vec::new();
    let mut sent_rms = 0.0;
    for n in 0..20 {
        received.push(samples(line.read_frame().unwrap()));
        let mut frame = [0i16; FRAME_SAMPLES];
        if n == 5 {
            tone.fill(&mut frame);
            sent_rms = rms(&frame);
        }
        line.write_frame(&Frame::Linear(frame)).unwrap();
    }
    for (n, frame) in received.iter().enumerate() {
        if n == 6 {
            let loss = 20.0 * (sent_rms / rms(frame)).log10();
            assert!((loss - 12.0).abs() < 0.1, "echo {loss:.2} dB down");
        } else {
            assert_eq!(rms(frame), 0.0, "frame {n} is silent");
        }
    }
}

#[test]
fn going_off_hook_to_dial_out_brings_dial_tone_that_the_progress_detector_hears() {
    // A European exchange: 425 Hz steady once we seize the line.
    let mut dial = vec![0i16; 8000 * 3];
    ToneGenerator::continuous(425.0, 425.0, 1000, 8000).fill(&mut dial);
    let script = LineScript::new()
        .wait_for_hook(Hook::OffHook)
        .silence(Duration::from_millis(300))
        .audio(dial);
    let mut line = SimulatedChannel::new(1, script);
    let mut detector = ProgressDetector::new(TonePlan::etsi());
    // On hook: the line is silent and no tone comes.
    for _ in 0..50 {
        assert_eq!(detector.feed(&samples(line.read_frame().unwrap())), None);
    }
    line.set_hook(Hook::OffHook).unwrap();
    let off_hook_at = line.read_time();
    let mut heard = None;
    while !line.finished() && heard.is_none() {
        if let Some(tone) = detector.feed(&samples(line.read_frame().unwrap())) {
            heard = Some((tone, line.read_time() - off_hook_at));
        }
    }
    let Some((ProgressTone::Dial, after)) = heard else {
        panic!("{heard:?}");
    };
    // 300 ms before the tone, then the 1.5 s a steady 425 Hz tone must last
    // to be told from ringback's 1 s on.
    assert!(
        after >= Duration::from_millis(1790) && after <= Duration::from_millis(1860),
        "dial tone heard {after:?} after going off hook"
    );
}
