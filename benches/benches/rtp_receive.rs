//! The per-packet RTP receive path, ours against a straightforward baseline.
//!
//! Ours runs the code the media engine runs (`engine/call.rs`): per packet
//! zero-copy `RtpPacket::parse` → `JitterBuffer::push` (copy into a
//! preallocated slot); per 20 ms tick `pop` → `Concealer::render_energy`
//! (G.711 decode into a fixed frame, kept as concealment history, with the
//! frame's sum of squares computed in the same pass) → `Vad::process_energy`
//! (energy gate on that sum against a linear-power noise floor; the frame is
//! kept to prime earshot, which only runs on frames the gate opens). No
//! allocation per packet.
//!
//! Baseline, written the obvious way from the issue text:
//! `rtp::packet::Packet::unmarshal` (allocates the payload `Bytes`) →
//! `BTreeMap<u16, Vec<u8>>` jitter buffer with a fixed 3-packet delay →
//! per-sample µ-law decode by formula into a fresh `Vec<i16>` → its own plain
//! energy gate (`PlainGate`: RMS as an `f64` iterator sum, `20·log10`, and
//! the same floor rules and thresholds as ours). `baseline_with_our_gate` is
//! the same baseline with our `EnergyGate` instead, to show how much of the
//! ratio is the gate.
//!
//! Every side receives into the same datagram buffer, rewriting sequence
//! number and timestamp per packet as a socket read would. The repeated
//! payload is steady noise to a gate, so no gate opens (earshot never runs)
//! on either side: the figures are the cost of a frame the gate keeps shut.
//!
//! Run: `cargo bench -p benches --bench rtp_receive -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rtp_media::g711::{decode_ulaw, ulaw_to_linear, Codec};
use rtp_media::jitter::{Concealer, ConcealerConfig, Frame, JitterBuffer, JitterConfig};
use rtp_media::rtp::{RtpHeader, RtpPacket};
use rtp_media::vad::{EnergyGate, Vad, VadConfig};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use webrtc_util::marshal::Unmarshal;

const SSRC: u32 = 0x1234_5678;
const PTIME: Duration = Duration::from_millis(20);

/// A 20 ms µ-law payload of a speech-like signal (two tones plus noise).
fn payload() -> [u8; 160] {
    let mut seed = 0x9E37_79B9u32;
    let mut p = [0u8; 160];
    for (i, b) in p.iter_mut().enumerate() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let t = i as f64 / 8000.0;
        let s = 6000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()
            + 2500.0 * (2.0 * std::f64::consts::PI * 1100.0 * t).sin()
            + f64::from((seed >> 20) as i32 - 2048);
        *b = Codec::Pcmu.encode_sample(s as i16);
    }
    p
}

/// A 172-byte datagram (12-byte header, 160-byte PCMU payload).
fn datagram() -> [u8; 172] {
    let mut d = [0u8; 172];
    let n = RtpHeader::new(0, 0, 0, SSRC)
        .write_packet(&payload(), 0, &mut d)
        .expect("fits");
    assert_eq!(n, 172);
    d
}

/// "Receives" packet `i` into `buf`: sequence and timestamp as a socket
/// read would deliver them, plus its arrival time.
#[inline]
fn receive(buf: &mut [u8; 172], i: u64, start: Instant) -> Instant {
    buf[2..4].copy_from_slice(&(i as u16).to_be_bytes());
    buf[4..8].copy_from_slice(&((i as u32).wrapping_mul(160)).to_be_bytes());
    start + PTIME * (i % 1_000_000) as u32
}

/// Classic µ-law expansion by formula (Sun g711.c `ulaw2linear`).
#[inline]
fn ulaw_formula(code: u8) -> i16 {
    let u = !code;
    let t = ((i16::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        0x84 - t
    } else {
        t - 0x84
    }
}

/// Samples per 20 ms frame at 8 kHz.
const FRAME: usize = 160;
/// Packets (30 s) run before measuring, so the gate's noise floor has
/// settled on the steady test signal.
const SETTLE_PACKETS: u64 = 1500;

struct Ours {
    jb: JitterBuffer,
    concealer: Concealer,
    vad: Vad,
    frames: u32,
}

impl Ours {
    fn new() -> Self {
        Ours {
            jb: JitterBuffer::new(JitterConfig::default()),
            concealer: Concealer::new(FRAME, ConcealerConfig::default()),
            vad: Vad::new(VadConfig::default()),
            frames: 0,
        }
    }

    /// One packet and one tick, as `CallMedia::on_rtp` and `play_out` do
    /// them. Some(speech event?) for an audio frame, None otherwise.
    #[inline]
    fn packet(&mut self, datagram: &[u8], arrival: Instant) -> Option<bool> {
        if let Ok(p) = RtpPacket::parse(datagram) {
            self.jb
                .push(p.sequence(), p.timestamp(), p.ssrc(), p.payload(), arrival);
        }
        let frame = self.jb.pop();
        let audio = matches!(frame, Frame::Audio(_));
        let mut samples = [0i16; FRAME];
        let (_, energy) = self
            .concealer
            .render_energy(frame, Codec::Pcmu, &mut samples);
        let media_ts = self.frames.wrapping_mul(FRAME as u32);
        self.frames = self.frames.wrapping_add(1);
        let event = self.vad.process_energy(&samples, energy, media_ts);
        audio.then_some(event.is_some())
    }
}

/// An energy gate as the issue describes it, written plainly: RMS over the
/// frame in `f64`, level in dBFS by `20·log10`, and the same adaptive floor
/// as `EnergyGate` (same margin, minimum, rise and fall rules, from the same
/// `VadConfig`).
struct PlainGate {
    floor_db: Option<f64>,
    cfg: VadConfig,
}

impl PlainGate {
    fn new(cfg: VadConfig) -> Self {
        PlainGate {
            floor_db: None,
            cfg,
        }
    }

    fn process(&mut self, pcm: &[i16]) -> bool {
        let sum: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        let rms = (sum / pcm.len() as f64).sqrt();
        let level = if rms > 0.0 {
            (20.0 * (rms / 32768.0).log10()).max(-100.0)
        } else {
            -100.0
        };
        let min_floor = f64::from(self.cfg.min_floor_db);
        let floor = *self.floor_db.get_or_insert(level.max(min_floor));
        let open = level > floor + f64::from(self.cfg.gate_margin_db);
        let secs = pcm.len() as f64 / 8000.0;
        let next = if level < floor {
            floor + (level - floor) * (1.0 - (-secs / 0.04).exp())
        } else {
            (floor + f64::from(self.cfg.floor_rise_db_per_s) * secs).min(level)
        };
        self.floor_db = Some(next.max(min_floor));
        open
    }
}

/// The gate a baseline runs: its own plain one, or ours.
enum BaselineGate {
    Plain(PlainGate),
    Ours(EnergyGate),
}

struct Baseline {
    jb: BTreeMap<u16, Vec<u8>>,
    next: Option<u16>,
    gate: BaselineGate,
}

impl Baseline {
    const DEPTH: usize = 3;

    fn new(our_gate: bool) -> Self {
        let cfg = VadConfig::default();
        Baseline {
            jb: BTreeMap::new(),
            next: None,
            gate: if our_gate {
                BaselineGate::Ours(EnergyGate::new(&cfg))
            } else {
                BaselineGate::Plain(PlainGate::new(cfg))
            },
        }
    }

    #[inline]
    fn packet(&mut self, datagram: &[u8], _arrival: Instant) -> Option<bool> {
        let Ok(p) = rtp::packet::Packet::unmarshal(&mut &datagram[..]) else {
            return None;
        };
        let seq = p.header.sequence_number;
        self.jb.insert(seq, p.payload.to_vec());
        let next = *self.next.get_or_insert(seq);
        if self.jb.len() < Self::DEPTH {
            return None;
        }
        self.next = Some(next.wrapping_add(1));
        match self.jb.remove(&next) {
            Some(payload) => {
                let pcm: Vec<i16> = payload.iter().map(|&b| ulaw_formula(b)).collect();
                Some(match &mut self.gate {
                    BaselineGate::Plain(g) => g.process(&pcm),
                    BaselineGate::Ours(g) => g.process(&pcm),
                })
            }
            None => None,
        }
    }
}

fn receive_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("rtp_receive");
    g.throughput(Throughput::Elements(1));

    // Sanity: every path decodes audio for nearly every packet and no gate
    // opens on the steady frame; the decoders and the two gates agree.
    {
        let mut ours = Ours::new();
        let mut base = Baseline::new(false);
        let mut base_ours = Baseline::new(true);
        let mut buf = datagram();
        let start = Instant::now();
        let (mut a, mut b, mut c) = (0, 0, 0);
        for i in 0..SETTLE_PACKETS + 200 {
            let at = receive(&mut buf, i, start);
            let (x, y, z) = (
                ours.packet(&buf, at),
                base.packet(&buf, at),
                base_ours.packet(&buf, at),
            );
            if i >= SETTLE_PACKETS {
                a += usize::from(x == Some(false));
                b += usize::from(y == Some(false));
                c += usize::from(z == Some(false));
            }
        }
        assert!(
            a > 190 && b > 190 && c > 190,
            "shut-gate audio frames: ours {a}, baseline {b}, baseline with our gate {c}"
        );
        let p = payload();
        let mut pcm = [0i16; FRAME];
        decode_ulaw(&p, &mut pcm);
        for (&code, &s) in p.iter().zip(&pcm) {
            assert_eq!(ulaw_formula(code), s);
        }
        let (mut plain, mut gate) = (
            PlainGate::new(VadConfig::default()),
            EnergyGate::new(&VadConfig::default()),
        );
        let loud = [9000i16, -9000].repeat(FRAME / 2);
        for frame in [
            &pcm[..],
            &pcm[..],
            &loud[..],
            &pcm[..],
            &[3i16; FRAME][..],
            &loud[..],
        ] {
            assert_eq!(plain.process(frame), gate.process(frame));
        }
    }

    g.bench_function("ours", |bench| {
        let mut ours = Ours::new();
        let mut buf = datagram();
        let start = Instant::now();
        let mut i = 0u64;
        // The first frames of a call open the gate (the noise floor starts
        // at its minimum and rises 3 dB/s), so earshot runs on them; measure
        // the settled state, a call's usual frame.
        while i < SETTLE_PACKETS {
            let at = receive(&mut buf, i, start);
            ours.packet(&buf, at);
            i += 1;
        }
        bench.iter(|| {
            let at = receive(&mut buf, i, start);
            i += 1;
            black_box(ours.packet(black_box(&buf), at))
        });
    });
    for (name, our_gate) in [("baseline", false), ("baseline_with_our_gate", true)] {
        g.bench_function(name, |bench| {
            let mut base = Baseline::new(our_gate);
            let mut buf = datagram();
            let start = Instant::now();
            let mut i = 0u64;
            while i < SETTLE_PACKETS {
                let at = receive(&mut buf, i, start);
                base.packet(&buf, at);
                i += 1;
            }
            bench.iter(|| {
                let at = receive(&mut buf, i, start);
                i += 1;
                black_box(base.packet(black_box(&buf), at))
            });
        });
    }
    g.finish();
}

fn g711_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("g711_decode_160");
    g.throughput(Throughput::Bytes(160));
    let p = payload();
    let mut out = [0i16; 160];
    g.bench_function("ours", |b| {
        b.iter(|| {
            decode_ulaw(black_box(&p), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("table", |b| {
        b.iter(|| {
            for (o, &code) in out.iter_mut().zip(black_box(&p)) {
                *o = ulaw_to_linear(code);
            }
            black_box(&out);
        })
    });
    g.bench_function("formula", |b| {
        b.iter(|| {
            for (o, &code) in out.iter_mut().zip(black_box(&p)) {
                *o = ulaw_formula(code);
            }
            black_box(&out);
        })
    });
    g.finish();
}

/// The stages of our path on their own, to see where the time goes.
fn stages(c: &mut Criterion) {
    let mut g = c.benchmark_group("rtp_receive_stages");
    let buf = datagram();
    g.bench_function("parse", |b| {
        b.iter(|| RtpPacket::parse(black_box(&buf)).map(|p| p.payload().len()))
    });
    g.bench_function("jitter_push_pop", |b| {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let p = payload();
        let start = Instant::now();
        let mut i = 0u64;
        b.iter(|| {
            let at = start + PTIME * (i % 1_000_000) as u32;
            jb.push(
                i as u16,
                (i as u32).wrapping_mul(160),
                SSRC,
                black_box(&p),
                at,
            );
            i += 1;
            matches!(jb.pop(), Frame::Audio(_))
        })
    });
    let p = payload();
    g.bench_function("concealer_render_energy", |b| {
        let mut concealer = Concealer::new(FRAME, ConcealerConfig::default());
        let mut samples = [0i16; FRAME];
        b.iter(|| {
            let r = concealer.render_energy(Frame::Audio(black_box(&p)), Codec::Pcmu, &mut samples);
            black_box(&samples);
            r
        })
    });
    let mut pcm = [0i16; FRAME];
    decode_ulaw(&p, &mut pcm);
    let energy = rtp_media::energy::sum_of_squares(&pcm);
    g.bench_function("vad_shut_frame_energy_known", |b| {
        let mut vad = Vad::new(VadConfig::default());
        let mut ts = 0u32;
        for _ in 0..SETTLE_PACKETS {
            ts = ts.wrapping_add(FRAME as u32);
            vad.process(&pcm, ts);
        }
        b.iter(|| {
            ts = ts.wrapping_add(FRAME as u32);
            vad.process_energy(black_box(&pcm), black_box(energy), ts)
        })
    });
    let mut gate = EnergyGate::new(&VadConfig::default());
    g.bench_function("energy_gate", |b| b.iter(|| gate.process(black_box(&pcm))));
    g.bench_function("sum_of_squares", |b| {
        b.iter(|| rtp_media::energy::sum_of_squares(black_box(&pcm)))
    });
    g.bench_function("energy_db", |b| {
        b.iter(|| rtp_media::vad::frame_energy_db(black_box(&pcm)))
    });
    let mut plain = PlainGate::new(VadConfig::default());
    g.bench_function("baseline_plain_gate", |b| {
        b.iter(|| plain.process(black_box(&pcm)))
    });
    g.finish();
}

criterion_group!(benches, receive_path, g711_decode, stages);
criterion_main!(benches);
