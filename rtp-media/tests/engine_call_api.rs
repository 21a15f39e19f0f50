//! The per-call API of the media engine over real sockets on 127.0.0.1:
//! DTMF sending, speech events, recording, application sample rates.

mod common;

use common::delivered::found_in_order;
use common::{
    collect_rtp_for, engine, engine_with, events_until_quiet, pcmu_payloads, peer, rtp, send_paced,
    stats,
};

use rtp_media::dtmf::{DtmfDetector, DtmfEvent, DtmfReceiver, TelephoneEvent};
use rtp_media::engine::{
    FrameKind, MediaEngine, MediaError, MediaEvent, MediaSession, SessionParams,
};
use rtp_media::g711::Codec;
use rtp_media::prompt::Prompt;
use rtp_media::recording::RecordMode;
use rtp_media::rtp::RtpPacket;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Sends 8 kHz audio as a paced PCMU stream (20 ms packets) on a thread;
/// returns the decoded frames as the engine will see them.
fn stream_pcmu(
    sock: UdpSocket,
    to: SocketAddr,
    audio: &[i16],
) -> (std::thread::JoinHandle<UdpSocket>, Vec<[i16; 160]>) {
    stream_pcmu_dropping(sock, to, audio, 0)
}

/// [`stream_pcmu`] leaving out every `drop_every`-th packet (0: none).
fn stream_pcmu_dropping(
    sock: UdpSocket,
    to: SocketAddr,
    audio: &[i16],
    drop_every: usize,
) -> (std::thread::JoinHandle<UdpSocket>, Vec<[i16; 160]>) {
    let mut payloads = Vec::new();
    let mut decoded = Vec::new();
    for chunk in audio.chunks_exact(160) {
        let mut p = [0u8; 160];
        Codec::Pcmu.encode(chunk, &mut p);
        let mut d = [0i16; 160];
        Codec::Pcmu.decode(&p, &mut d);
        payloads.push(p);
        decoded.push(d);
    }
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        for (i, p) in payloads.iter().enumerate() {
            let pkt = rtp(
                0,
                7000 + i as u16,
                90_000 + 160 * i as u32,
                0x5eec,
                i == 0,
                p,
            );
            if drop_every == 0 || (i + 1) % drop_every != 0 {
                sock.send_to(&pkt, to).unwrap();
            }
            let next = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        sock
    });
    (thread, decoded)
}

/// Speaks `text` with espeak-ng and decodes it with the crate's prompt
/// loader (22.05 kHz WAV resampled to 8 kHz).
fn espeak_8k(text: &str, name: &str) -> Vec<i16> {
    let path = std::env::temp_dir().join(format!(
        "rtp-media-engine-{}-{name}.wav",
        std::process::id()
    ));
    let status = std::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng is installed (scripts/test installs it)");
    assert!(status.success(), "espeak-ng failed: {status}");
    let prompt = Prompt::load(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    prompt.samples().to_vec()
}

/// Deterministic white noise (xorshift), uniform in ±`amp`.
fn noise(n: usize, amp: f64, seed: u64) -> Vec<i16> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            ((u * 2.0 - 1.0) * amp) as i16
        })
        .collect()
}

fn tone(samples: usize, freq: f32, rate: u32) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f32 / rate as f32;
            (8000.0 * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16
        })
        .collect()
}

/// Receives RTP datagrams on `sock` until `idle` passes without one (or
/// `max` in all).
fn collect_rtp(sock: &UdpSocket, idle: Duration, max: Duration) -> Vec<Vec<u8>> {
    collect_rtp_for(sock, idle, max)
        .into_iter()
        .map(|(_, d)| d)
        .collect()
}

/// One sent RTP packet, parsed.
#[derive(Debug, Clone)]
struct Sent {
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

fn parse_all(datagrams: &[Vec<u8>]) -> Vec<Sent> {
    datagrams
        .iter()
        .map(|d| {
            let p = RtpPacket::parse(d).unwrap();
            Sent {
                pt: p.payload_type(),
                marker: p.marker(),
                seq: p.sequence(),
                ts: p.timestamp(),
                ssrc: p.ssrc(),
                payload: p.payload().to_vec(),
            }
        })
        .collect()
}

#[tokio::test]
async fn rfc4733_keys_sent_with_growing_duration_three_end_packets_and_audio_paused() {
    let eng = engine(22100, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.telephone_event_pt = Some(101);
    let mut s = eng.open_session(params).unwrap();
    assert!(matches!(
        s.send_dtmf('x', Duration::from_millis(100)),
        Err(MediaError::InvalidDigit('x'))
    ));

    // 400 ms of audio; two keys once it is flowing.
    s.play(tone(3200, 440.0, 8000)).unwrap();
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while got.len() < 3 {
        let (n, _) = far.recv_from(&mut buf).expect("audio before the keys");
        got.push(buf[..n].to_vec());
    }
    s.send_dtmf('5', Duration::from_millis(100)).unwrap();
    s.send_dtmf('#', Duration::from_millis(60)).unwrap();
    got.extend(collect_rtp(
        &far,
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    let pkts = parse_all(&got);

    // One SSRC, one unbroken sequence across audio and events.
    for w in pkts.windows(2) {
        assert_eq!(w[1].ssrc, w[0].ssrc);
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "{pkts:?}");
    }
    // Audio is all there (paused, not dropped): 400 ms = 20 packets.
    assert_eq!(pkts.iter().filter(|p| p.pt == 0).count(), 20);
    // Events are contiguous per key and audio does not interleave.
    let kinds: String = pkts
        .iter()
        .map(|p| if p.pt == 101 { 'e' } else { 'a' })
        .collect();
    let trimmed = kinds.trim_matches('a');
    assert_eq!(trimmed, "e".repeat(8 + 6), "audio inside the keys: {kinds}");

    let events: Vec<&Sent> = pkts.iter().filter(|p| p.pt == 101).collect();
    let (five, hash) = events.split_at(8);
    // (key, durations of the packets in 8 kHz units)
    let want: [(u8, &[u16], &[&Sent]); 2] = [
        (5, &[160, 320, 480, 640, 800, 800, 800, 800], five),
        (11, &[160, 320, 480, 480, 480, 480], hash),
    ];
    for (event, durations, pk) in want {
        let ts = pk[0].ts;
        for (i, p) in pk.iter().enumerate() {
            let ev = TelephoneEvent::parse(&p.payload).unwrap();
            assert_eq!(ev.event, event);
            assert_eq!(ev.duration, durations[i], "packet {i} of event {event}");
            assert_eq!(p.ts, ts, "timestamp fixed at the event start");
            assert_eq!(p.marker, i == 0, "marker on the first packet only");
            assert_eq!(ev.end, i >= pk.len() - 3, "three end packets");
        }
    }
    // The first key starts on the tick after the last audio before it;
    // the second at least its length + end packets + pause later.
    let first_event = pkts.iter().position(|p| p.pt == 101).unwrap();
    let audio_before = &pkts[first_event - 1];
    let d1 = five[0].ts.wrapping_sub(audio_before.ts);
    assert!(d1 >= 160 && d1 % 160 == 0, "{d1}");
    let d2 = hash[0].ts.wrapping_sub(five[0].ts);
    assert!(d2 >= 800 + 800 && d2 % 160 == 0, "{d2}");
    // Audio resumes as a new talkspurt, at a later timestamp.
    let resumed = &pkts[first_event + 14];
    assert_eq!(resumed.pt, 0);
    assert!(resumed.marker);
    assert!(resumed.ts.wrapping_sub(hash[0].ts) >= 480 + 2 * 160);

    // The crate's own receiver decodes each key once.
    let mut rx = DtmfReceiver::default();
    let now = Instant::now();
    let keys: Vec<char> = events
        .iter()
        .flat_map(|p| rx.on_packet(p.ts, &p.payload, now))
        .filter_map(|e| match e {
            DtmfEvent::Started(key) => Some(key.digit),
            DtmfEvent::Ended { .. } => None,
        })
        .collect();
    assert_eq!(keys, vec!['5', '#']);

    let sent: Vec<(char, Duration, u32)> = events_until_quiet(&mut s, Duration::from_millis(200))
        .await
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::DtmfSent {
                digit,
                duration,
                rtp_ts,
            } => Some((digit, duration, rtp_ts)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            ('5', Duration::from_millis(100), five[0].ts),
            ('#', Duration::from_millis(60), hash[0].ts)
        ]
    );
}

#[tokio::test]
async fn keys_fall_back_to_inband_tones_without_telephone_event() {
    let eng = engine(22120, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.telephone_event_pt = None;
    let mut s = eng.open_session(params).unwrap();
    s.send_dtmf('7', Duration::from_millis(100)).unwrap();
    s.send_dtmf('3', Duration::from_millis(100)).unwrap();
    let pkts = parse_all(&collect_rtp(
        &far,
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    // Each key: 100 ms of tone and 100 ms of pause, as audio packets.
    assert_eq!(pkts.len(), 20);
    assert!(pkts.iter().all(|p| p.pt == 0));
    assert!(pkts[0].marker);
    let mut pcm = Vec::new();
    for p in &pkts {
        let mut x = vec![0i16; p.payload.len()];
        Codec::Pcmu.decode(&p.payload, &mut x);
        pcm.extend(x);
    }
    let mut detector = DtmfDetector::default();
    let mut keys = Vec::new();
    detector.process(&pcm, |d| keys.push(d));
    assert_eq!(keys, vec!['7', '3']);
    let sent: Vec<char> = events_until_quiet(&mut s, Duration::from_millis(200))
        .await
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::DtmfSent { digit, .. } => Some(digit),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec!['7', '3']);
}

#[tokio::test]
async fn speech_start_and_stop_events_carry_the_media_timestamps_of_the_speech() {
    let eng = engine(22140, 2);
    let sender = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(sender.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();

    // 1 s of a quiet line, the utterance, 1.5 s of a quiet line.
    let speech = espeak_8k("hello this is a test of the voice activity detector", "vad");
    let mut audio = noise(8000, 40.0, 7);
    let at = audio.len();
    audio.extend_from_slice(&speech);
    audio.extend(noise(12000, 40.0, 9));
    audio.truncate(audio.len() / 160 * 160);
    let background = noise(audio.len(), 40.0, 11);
    for (x, n) in audio[at..].iter_mut().zip(&background) {
        *x = x.saturating_add(*n);
    }
    // Truth, in samples of what was sent: first and one past the last
    // sample of the utterance above the quiet line.
    let first = speech.iter().position(|x| x.abs() > 300).unwrap();
    let last = speech.iter().rposition(|x| x.abs() > 300).unwrap();
    let (truth_start, truth_stop) = (at + first, at + last + 1);

    let (thread, sent) = stream_pcmu(sender, s.local_rtp_addr(), &audio);
    thread.join().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;

    // Where each sent frame landed in the delivered-audio clock: frames
    // are exact G.711 decodes of what was sent, and the noise makes each
    // one unique.
    let by_content: HashMap<[i16; 160], usize> =
        sent.iter().enumerate().map(|(k, f)| (*f, k)).collect();
    let mut landed: Vec<(usize, u32)> = Vec::new(); // (sent frame, media_ts)
    while let Some(f) = s.try_next_frame() {
        if let Some(&k) = by_content.get(&f.samples) {
            landed.push((k, f.media_ts));
        }
    }
    assert!(
        landed.len() > sent.len() * 9 / 10,
        "{} frames",
        landed.len()
    );
    // The sent sample `at` in the delivered clock, using the frame that
    // landed nearest to it (the jitter buffer may shift the mapping by a
    // frame on a busy machine).
    let delivered = |sample: usize| -> i64 {
        let k = sample / 160;
        let &(sk, ts) = landed.iter().min_by_key(|(sk, _)| sk.abs_diff(k)).unwrap();
        i64::from(ts) + sample as i64 - 160 * sk as i64
    };

    let speech_events: Vec<MediaEvent> = events_until_quiet(&mut s, Duration::from_millis(200))
        .await
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                MediaEvent::SpeechStarted { .. } | MediaEvent::SpeechStopped { .. }
            )
        })
        .collect();
    let [MediaEvent::SpeechStarted { media_ts: start }, MediaEvent::SpeechStopped { media_ts: stop }] =
        speech_events[..]
    else {
        panic!("want one start/stop pair: {speech_events:?}");
    };
    let off_ms = |got: u32, want: i64| (i64::from(got) - want).abs() as f64 / 8.0;
    let (want_start, want_stop) = (delivered(truth_start), delivered(truth_stop));
    assert!(
        off_ms(start, want_start) <= 100.0,
        "start at {start}, speech at {want_start}"
    );
    assert!(
        off_ms(stop, want_stop) <= 100.0,
        "stop at {stop}, speech ended at {want_stop}"
    );
}

/// Power of `freq` in `x` (Goertzel), normalised by length.
fn goertzel(x: &[i16], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
}

/// (rate, channels, interleaved samples) of a 16-bit PCM WAV file.
fn read_wav(bytes: &[u8]) -> (u32, u16, Vec<i16>) {
    assert!(&bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE");
    let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff + 8, bytes.len(), "RIFF size fixed up");
    let mut pos = 12;
    let (mut rate, mut channels) = (0, 0);
    while pos + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &bytes[pos + 8..pos + 8 + size];
        match &bytes[pos..pos + 4] {
            b"fmt " => {
                channels = u16::from_le_bytes([body[2], body[3]]);
                rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
                assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16);
            }
            b"data" => {
                let samples = body
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
                return (rate, channels, samples);
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    panic!("no data chunk");
}

#[tokio::test]
async fn stereo_recording_has_the_caller_left_and_the_agent_right() {
    let eng = engine(22160, 2);
    let caller = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(caller.local_addr().unwrap());
    let s = eng.open_session(params).unwrap();
    assert!(matches!(
        s.stop_recording().await,
        Err(MediaError::NotRecording)
    ));
    let path = std::env::temp_dir().join(format!(
        "rtp-media-engine-{}-stereo.wav",
        std::process::id()
    ));
    s.start_recording(&path, RecordMode::Stereo).unwrap();
    // The caller says 1 kHz for a second while the agent plays 440 Hz.
    let (thread, _) = stream_pcmu(caller, s.local_rtp_addr(), &tone(8000, 1000.0, 8000));
    s.play(tone(8000, 440.0, 8000)).unwrap();
    thread.join().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let summary = s.stop_recording().await.unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let (rate, channels, samples) = read_wav(&bytes);
    assert_eq!((rate, channels), (8000, 2));
    assert_eq!(summary.frames_dropped, 0);
    assert_eq!(samples.len() as u64, summary.samples * 2);
    // A second of each side at least (plus silence around it).
    assert!(summary.samples >= 8000, "{summary:?}");
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let (l1k, l440) = (
        goertzel(&left, 1000.0, 8000.0),
        goertzel(&left, 440.0, 8000.0),
    );
    let (r1k, r440) = (
        goertzel(&right, 1000.0, 8000.0),
        goertzel(&right, 440.0, 8000.0),
    );
    assert!(l1k > 100.0 * l440, "left: 1 kHz {l1k}, 440 Hz {l440}");
    assert!(r440 > 100.0 * r1k, "right: 440 Hz {r440}, 1 kHz {r1k}");
    // Each side holds its whole second of tone (a busy machine may
    // conceal a late packet or two, still tone-like, around the end).
    let loud = |x: &[i16]| {
        x.chunks(160)
            .filter(|c| c.iter().any(|v| v.abs() > 4000))
            .count()
    };
    assert!((48..=53).contains(&loud(&left)), "{}", loud(&left));
    assert_eq!(loud(&right), 50);
    assert!(matches!(
        s.stop_recording().await,
        Err(MediaError::NotRecording)
    ));
}

/// Threads of this process whose name starts with `prefix` (other tests
/// of the binary run at the same time, so all threads would not do).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_of_many_calls_share_one_writer_thread_and_each_file_is_complete() {
    let calls = 16;
    let eng = engine(22300, calls);
    let far = peer();
    let sessions: Vec<_> = (0..calls)
        .map(|_| {
            let mut params = SessionParams::new(Codec::Pcmu);
            params.remote_rtp = Some(far.local_addr().unwrap());
            eng.open_session(params).unwrap()
        })
        .collect();
    // The writer may already run (another test of this binary recorded).
    let first = sessions[0].local_rtp_port();
    let p0 = std::env::temp_dir().join(format!(
        "rtp-media-engine-{}-{first}-warm.wav",
        std::process::id()
    ));
    sessions[0].start_recording(&p0, RecordMode::Agent).unwrap();
    sessions[0].stop_recording().await.unwrap();
    let _ = std::fs::remove_file(&p0);
    let paths: Vec<_> = sessions
        .iter()
        .map(|s| {
            let p = std::env::temp_dir().join(format!(
                "rtp-media-engine-{}-{}-many.wav",
                std::process::id(),
                s.local_rtp_port()
            ));
            s.start_recording(&p, RecordMode::Agent).unwrap();
            s.play(tone(1600, 440.0, 8000)).unwrap();
            p
        })
        .collect();
    assert_eq!(
        threads_named("call-recorder"),
        1,
        "one writer for all recordings"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    for (s, p) in sessions.iter().zip(&paths) {
        let summary = s.stop_recording().await.unwrap();
        let bytes = std::fs::read(p).unwrap();
        let _ = std::fs::remove_file(p);
        let (rate, channels, samples) = read_wav(&bytes);
        assert_eq!((rate, channels), (8000, 1));
        assert_eq!(samples.len() as u64, summary.samples);
        assert_eq!(summary.frames_dropped, 0);
        // The 200 ms played is all in the file.
        let loud = samples
            .chunks(160)
            .filter(|c| c.iter().any(|v| v.abs() > 4000))
            .count();
        assert_eq!(loud, 10, "{p:?}");
    }
}

/// Frequency of a tone from its rising zero crossings.
fn zero_crossing_hz(x: &[i16], rate: f64) -> f64 {
    let rising: Vec<usize> = (1..x.len())
        .filter(|&i| x[i - 1] < 0 && x[i] >= 0)
        .collect();
    let (first, last) = (rising[0], *rising.last().unwrap());
    (rising.len() - 1) as f64 * rate / (last - first) as f64
}

#[tokio::test]
async fn frames_come_out_at_16_khz_and_16_khz_audio_goes_out_at_8_khz() {
    let eng = engine(22180, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    assert!(matches!(s.take_frames_at(10), Err(MediaError::Resample(_))));
    let mut frames = s.take_frames_at(16_000).unwrap();
    assert_eq!(frames.rate(), 16_000);
    assert!(matches!(
        s.take_frames_at(16_000),
        Err(MediaError::FramesTaken)
    ));

    // In: a second of 1 kHz at 8 kHz, received as 16 kHz frames.
    let (thread, _) = stream_pcmu(far, s.local_rtp_addr(), &tone(8000, 1000.0, 8000));
    let far = thread.join().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut wide = Vec::new();
    while let Some(f) = frames.try_recv() {
        assert_eq!(f.samples.len(), 320, "20 ms at 16 kHz");
        if f.kind == rtp_media::engine::FrameKind::Audio {
            wide.extend_from_slice(f.samples);
        }
    }
    assert!(wide.len() >= 45 * 320, "{} samples", wide.len());
    // Skip the converter's start-up; the rest is a clean 1 kHz tone.
    let steady = &wide[640..];
    let hz = zero_crossing_hz(steady, 16_000.0);
    assert!((hz - 1000.0).abs() < 5.0, "{hz} Hz");
    // Interpolated, not zero-stuffed: the 7 kHz image is at least 20 dB
    // down (the sinc converter gives about 25 dB).
    let (tone_power, image) = (
        goertzel(steady, 1000.0, 16_000.0),
        goertzel(steady, 7000.0, 16_000.0),
    );
    assert!(tone_power > 100.0 * image, "{tone_power} vs image {image}");

    // Out: a second of 600 Hz at 16 kHz, streamed in odd-sized chunks,
    // goes out as fifty 8 kHz packets.
    let mut player = s.frame_player(16_000).unwrap();
    let src = tone(16_000, 600.0, 16_000);
    for chunk in src.chunks(333) {
        player.play(chunk).unwrap();
    }
    player.flush().unwrap();
    let pkts = parse_all(&collect_rtp(
        &far,
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    assert_eq!(pkts.len(), 50);
    let mut narrow = Vec::new();
    for p in &pkts {
        let mut x = [0i16; 160];
        Codec::Pcmu.decode(&p.payload, &mut x);
        narrow.extend_from_slice(&x);
    }
    let hz = zero_crossing_hz(&narrow[320..7600], 8000.0);
    assert!((hz - 600.0).abs() < 5.0, "{hz} Hz");
}

#[tokio::test]
async fn stats_carry_a_mos_estimate_that_falls_with_loss_and_worker_overruns() {
    let eng = engine(22200, 4);
    let (clean_peer, lossy_peer) = (peer(), peer());
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(clean_peer.local_addr().unwrap());
    let mut clean = eng.open_session(params.clone()).unwrap();
    params.remote_rtp = Some(lossy_peer.local_addr().unwrap());
    let mut lossy = eng.open_session(params).unwrap();
    let audio = noise(8000 * 2, 3000.0, 5);
    let (a, _) = stream_pcmu(clean_peer, clean.local_rtp_addr(), &audio);
    // Every 10th packet lost: 10 % loss.
    let (b, _) = stream_pcmu_dropping(lossy_peer, lossy.local_rtp_addr(), &audio, 10);
    a.join().unwrap();
    b.join().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (c, l) = (stats(&mut clean).await, stats(&mut lossy).await);
    assert_eq!(c.lost, 0, "{c:?}");
    assert!(c.mos > 4.0 && c.mos <= 4.5, "clean MOS {}", c.mos);
    // The last packet is one of the dropped ones and is not known lost.
    assert_eq!(l.lost, 9, "{l:?}");
    assert!(
        (l.loss_pct - 9.0 / 99.0 * 100.0).abs() < 0.5,
        "{}",
        l.loss_pct
    );
    assert!(
        l.mos >= 1.0 && l.mos < c.mos - 0.5,
        "lossy MOS {} vs {}",
        l.mos,
        c.mos
    );
    // Worker-wide counters are the same for calls of one worker.
    if clean.worker() == lossy.worker() {
        assert_eq!(c.worker_overruns, l.worker_overruns);
    }
    assert!(c.worker_ticks_skipped >= c.worker_overruns);
}

/// An engine with a deep jitter buffer (160–400 ms) and a call on it,
/// negotiated at `ptime_ms`, to the returned far-end socket. For tests of
/// packetisation, not timing: the deep buffer absorbs a sender thread that
/// a busy machine delays by a few packets (at 10 ms a short stall already
/// makes several packets late).
fn deep_buffer_call(base_port: u16, ptime_ms: u32) -> (MediaEngine, UdpSocket, MediaSession) {
    let eng = engine_with(base_port, 2, |c| {
        c.jitter.min_delay = Duration::from_millis(160);
        c.jitter.initial_delay = Duration::from_millis(160);
        c.jitter.max_delay = Duration::from_millis(400);
    });
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.ptime = Duration::from_millis(u64::from(ptime_ms));
    let s = eng.open_session(params).unwrap();
    (eng, far, s)
}

/// A call negotiated at `ptime_ms`: receives a second of `ptime_ms`
/// packets and delivers it as 20 ms frames, and sends its playback (and
/// RFC 4733 keys) in `ptime_ms` packets.
async fn call_at_ptime(ptime_ms: u32, base_port: u16) {
    let samples_per_packet = (ptime_ms * 8) as usize;
    let (_eng, far, mut s) = deep_buffer_call(base_port, ptime_ms);

    // Receive: distinct noise, paced at the ptime.
    let audio = noise(8000, 3000.0, u64::from(ptime_ms));
    let packets = pcmu_payloads(&audio, std::iter::repeat(samples_per_packet));
    let sender = send_paced(far, s.local_rtp_addr(), 0x7e57, 300, 1000, packets.clone());
    let far = sender.join().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut delivered = Vec::new();
    while let Some(f) = s.try_next_frame() {
        assert_eq!(f.samples.len(), 160);
        delivered.extend_from_slice(&f.samples);
    }
    // Every packet's audio is in the delivered stream, in order (a busy
    // machine may conceal a packet that missed its tick).
    let found = found_in_order(&delivered, &packets);
    assert!(
        found + 1 >= packets.len(),
        "{found} of {} packets delivered",
        packets.len()
    );
    let st = stats(&mut s).await;
    assert_eq!(st.packets_received, packets.len() as u64);
    assert_eq!(st.lost, 0);

    // Send: a second of tone in ptime packets, timestamps contiguous.
    let played = tone(8000, 440.0, 8000);
    s.play(played.clone()).unwrap();
    let pkts = parse_all(&collect_rtp(
        &far,
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    assert_eq!(pkts.len(), 8000usize.div_ceil(samples_per_packet));
    assert!(pkts[0].marker);
    let mut out = Vec::new();
    for (i, w) in pkts.iter().enumerate() {
        assert_eq!(w.payload.len(), samples_per_packet, "packet {i}");
        assert_eq!(w.marker, i == 0);
        assert_eq!(w.seq, pkts[0].seq.wrapping_add(i as u16));
        assert_eq!(
            w.ts,
            pkts[0].ts.wrapping_add((i * samples_per_packet) as u32)
        );
        let mut x = vec![0i16; w.payload.len()];
        Codec::Pcmu.decode(&w.payload, &mut x);
        out.extend(x);
    }
    let mut want = vec![0u8; played.len()];
    Codec::Pcmu.encode(&played, &mut want);
    let mut want_pcm = vec![0i16; played.len()];
    Codec::Pcmu.decode(&want, &mut want_pcm);
    assert_eq!(&out[..8000], &want_pcm[..]);
    assert!(
        out[8000..].iter().all(|&x| x.abs() < 16),
        "padded with silence"
    );

    // A key: the duration grows by one ptime per packet (keys are at
    // least 40 ms).
    let updates = (40u32.div_ceil(ptime_ms)).max(3);
    s.send_dtmf('1', Duration::from_millis(u64::from(ptime_ms * updates)))
        .unwrap();
    let keys = parse_all(&collect_rtp(
        &far,
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    let durations: Vec<(u16, bool)> = keys
        .iter()
        .map(|p| {
            let ev = TelephoneEvent::parse(&p.payload).unwrap();
            (ev.duration, ev.end)
        })
        .collect();
    let step = samples_per_packet as u16;
    let total = step * updates as u16;
    let mut want: Vec<(u16, bool)> = (1..=updates as u16).map(|i| (i * step, false)).collect();
    want.extend([(total, true); 3]);
    assert_eq!(durations, want);
}

#[tokio::test]
async fn ptime_30_received_as_20_ms_frames_and_sent_in_30_ms_packets() {
    call_at_ptime(30, 22220).await;
}

#[tokio::test]
async fn ptime_40_received_as_20_ms_frames_and_sent_in_40_ms_packets() {
    call_at_ptime(40, 22240).await;
}

#[tokio::test]
async fn ptime_10_received_as_20_ms_frames_and_sent_in_10_ms_packets() {
    call_at_ptime(10, 22260).await;
}

#[tokio::test]
async fn reinvite_to_40_ms_ptime_changes_the_packets_sent() {
    let eng = engine(22280, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    let s = eng.open_session(params.clone()).unwrap();
    s.play(tone(1600, 440.0, 8000)).unwrap();
    let before = parse_all(&collect_rtp(
        &far,
        Duration::from_millis(200),
        Duration::from_secs(5),
    ));
    assert_eq!(before.len(), 10);
    assert!(before.iter().all(|p| p.payload.len() == 160));
    params.ptime = Duration::from_millis(40);
    s.update(params).unwrap();
    s.play(tone(1600, 440.0, 8000)).unwrap();
    let after = parse_all(&collect_rtp(
        &far,
        Duration::from_millis(200),
        Duration::from_secs(5),
    ));
    assert_eq!(after.len(), 5);
    assert!(after.iter().all(|p| p.payload.len() == 320));
    assert!(after[0].marker);
    assert_eq!(after[0].seq, before[9].seq.wrapping_add(1));
}

/// A call negotiated at 20 ms whose far end sends `runs` of (ptime in ms,
/// packets) one after the other, paced in real time: every packet's audio
/// comes out whole and in order as 20 ms frames, nothing in between is
/// concealed but where the jitter buffer grows its delay once to its
/// target in whole packets of the new size, the receive side reports the
/// size it follows, and our own packets stay at the negotiated 20 ms.
async fn far_end_packets_other_than_negotiated(runs: &[(u32, usize)], base_port: u16) {
    let (_eng, far, mut s) = deep_buffer_call(base_port, 20);

    let sizes: Vec<usize> = runs
        .iter()
        .flat_map(|&(ms, n)| std::iter::repeat_n(ms as usize * 8, n))
        .collect();
    let audio = noise(sizes.iter().sum(), 3000.0, u64::from(base_port));
    let packets = pcmu_payloads(&audio, sizes);
    let sender = send_paced(
        far,
        s.local_rtp_addr(),
        0x51e5,
        9000,
        123_456,
        packets.clone(),
    );
    // Frames until the stream is over: its audio, then ten frames of
    // anything else.
    let (mut delivered, mut kinds) = (Vec::new(), Vec::new());
    let mut after_audio = 0;
    while after_audio < 10 {
        let f = tokio::time::timeout(Duration::from_secs(5), s.next_frame())
            .await
            .expect("a frame every 20 ms")
            .unwrap();
        delivered.extend_from_slice(&f.samples);
        if f.kind == FrameKind::Audio {
            after_audio = 0;
        } else if kinds.contains(&FrameKind::Audio) {
            after_audio += 1;
        }
        kinds.push(f.kind);
    }
    let far = sender.join().unwrap();

    // Every packet whole and in order (a busy machine may conceal one
    // that missed its tick).
    let found = found_in_order(&delivered, &packets);
    assert!(
        found + 1 >= packets.len(),
        "{found} of {} packets delivered: {kinds:?}",
        packets.len()
    );
    let audio_kind = |k: &FrameKind| *k == FrameKind::Audio;
    let first = kinds.iter().position(audio_kind).unwrap();
    let last = kinds.iter().rposition(audio_kind).unwrap();
    let other = kinds[first..=last]
        .iter()
        .filter(|k| !audio_kind(k))
        .count();
    assert!(other <= 4, "{other} frames concealed: {kinds:?}");
    let st = stats(&mut s).await;
    let last_ms = runs.last().unwrap().0;
    assert_eq!(
        (st.rx_ptime, st.rx_ptime_changes),
        (Duration::from_millis(u64::from(last_ms)), 1),
        "{st:?}"
    );
    assert_eq!(st.packets_received, packets.len() as u64);
    assert_eq!(st.lost, 0);

    // Our packets stay at the negotiated 20 ms.
    s.play(tone(1600, 440.0, 8000)).unwrap();
    let sent = parse_all(&collect_rtp(
        &far,
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    assert_eq!(sent.len(), 10);
    assert!(sent.iter().all(|p| p.payload.len() == 160));
}

#[tokio::test]
async fn far_end_sending_30_ms_packets_on_a_20_ms_call_is_delivered_whole() {
    far_end_packets_other_than_negotiated(&[(30, 50)], 22500).await;
}

#[tokio::test]
async fn far_end_switching_from_20_to_40_ms_mid_call_is_delivered_whole() {
    far_end_packets_other_than_negotiated(&[(20, 40), (40, 30)], 22520).await;
}

#[tokio::test]
async fn clear_playback_cancels_queued_keys_and_lets_the_one_being_sent_end() {
    let eng = engine(22540, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.telephone_event_pt = Some(101);
    let mut s = eng.open_session(params).unwrap();

    // A long first key, so that the clear surely lands while it is sent.
    s.send_dtmf('1', Duration::from_millis(600)).unwrap();
    for digit in ['2', '3', '4'] {
        s.send_dtmf(digit, Duration::from_millis(100)).unwrap();
    }
    let mut buf = [0u8; 2048];
    let (n, _) = far.recv_from(&mut buf).expect("the first key starts");
    let mut got = vec![buf[..n].to_vec()];
    s.clear_playback().unwrap();
    got.extend(collect_rtp(
        &far,
        Duration::from_millis(400),
        Duration::from_secs(5),
    ));

    // On the wire: the first key only, whole, with its three end packets.
    let pkts = parse_all(&got);
    assert!(pkts.iter().all(|p| p.pt == 101), "{pkts:?}");
    let events: Vec<TelephoneEvent> = pkts
        .iter()
        .map(|p| TelephoneEvent::parse(&p.payload).unwrap())
        .collect();
    assert!(events.iter().all(|e| e.event == 1), "{events:?}");
    assert!(pkts.iter().all(|p| p.ts == pkts[0].ts));
    let ends = events.iter().filter(|e| e.end).count();
    assert_eq!(ends, 3, "{events:?}");
    assert!(events[events.len() - 3..].iter().all(|e| e.end));
    assert!(events.iter().all(|e| !e.end || e.duration == 4800));
    assert_eq!(events.len(), 30 + 3);

    // The application is told: the first key sent, the others cancelled.
    let evs = events_until_quiet(&mut s, Duration::from_millis(200)).await;
    let keys: Vec<(char, bool)> = evs
        .iter()
        .filter_map(|e| match e {
            MediaEvent::DtmfSent { digit, .. } => Some((*digit, true)),
            MediaEvent::DtmfCancelled { digit, duration } => {
                assert_eq!(*duration, Duration::from_millis(100));
                Some((*digit, false))
            }
            _ => None,
        })
        .collect();
    // Cancelled at the clear, sent once its end packets are out.
    assert_eq!(
        keys,
        vec![('2', false), ('3', false), ('4', false), ('1', true)]
    );
    let st = stats(&mut s).await;
    assert_eq!((st.dtmf_sent, st.dtmf_send_cancelled), (1, 3));

    // Keys queued after the clear are sent as usual.
    s.send_dtmf('9', Duration::from_millis(60)).unwrap();
    let later = parse_all(&collect_rtp(
        &far,
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    assert!(later
        .iter()
        .all(|p| TelephoneEvent::parse(&p.payload).unwrap().event == 9));
    assert_eq!(later.len(), 3 + 3);
}
