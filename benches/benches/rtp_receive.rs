//! The per-packet RTP receive path, ours against a straightforward baseline.
//!
//! Ours: zero-copy `RtpPacket::parse` → `JitterBuffer::push` (copy into a
//! preallocated slot) → `pop` → table G.711 decode into a fixed frame →
//! VAD energy gate. No allocation per packet.
//!
//! Baseline, written the obvious way: `rtp::packet::Packet::unmarshal`
//! (allocates the payload `Bytes`) → `BTreeMap<u16, Vec<u8>>` jitter buffer
//! with a fixed 3-packet delay → per-sample µ-law decode by formula into a
//! fresh `Vec<i16>` → the same energy gate.
//!
//! Both sides receive into the same datagram buffer, rewriting sequence
//! number and timestamp per packet as a socket read would.
//!
//! Run: `cargo bench -p benches --bench rtp_receive -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rtp_media::g711::{decode_ulaw, Codec};
use rtp_media::jitter::{Frame, JitterBuffer, JitterConfig};
use rtp_media::rtp::{RtpHeader, RtpPacket};
use rtp_media::vad::{EnergyGate, VadConfig};
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

struct Ours {
    jb: JitterBuffer,
    gate: EnergyGate,
    pcm: [i16; 160],
}

impl Ours {
    fn new() -> Self {
        Ours {
            jb: JitterBuffer::new(JitterConfig::default()),
            gate: EnergyGate::new(&VadConfig::default()),
            pcm: [0; 160],
        }
    }

    #[inline]
    fn packet(&mut self, datagram: &[u8], arrival: Instant) -> Option<bool> {
        let Ok(p) = RtpPacket::parse(datagram) else {
            return None;
        };
        self.jb
            .push(p.sequence(), p.timestamp(), p.ssrc(), p.payload(), arrival);
        match self.jb.pop() {
            Frame::Audio(payload) => {
                let n = decode_ulaw(payload, &mut self.pcm);
                Some(self.gate.process(&self.pcm[..n]))
            }
            _ => None,
        }
    }
}

struct Baseline {
    jb: BTreeMap<u16, Vec<u8>>,
    next: Option<u16>,
    gate: EnergyGate,
}

impl Baseline {
    const DEPTH: usize = 3;

    fn new() -> Self {
        Baseline {
            jb: BTreeMap::new(),
            next: None,
            gate: EnergyGate::new(&VadConfig::default()),
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
                Some(self.gate.process(&pcm))
            }
            None => None,
        }
    }
}

fn receive_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("rtp_receive");
    g.throughput(Throughput::Elements(1));

    // Sanity: both paths decode audio for nearly every packet (the gate
    // itself stays shut: a repeated frame is steady noise to it), and the
    // two decoders agree.
    {
        let (mut ours, mut base) = (Ours::new(), Baseline::new());
        let mut buf = datagram();
        let start = Instant::now();
        let (mut a, mut b) = (0, 0);
        for i in 0..200 {
            let at = receive(&mut buf, i, start);
            a += usize::from(ours.packet(&buf, at).is_some());
            b += usize::from(base.packet(&buf, at).is_some());
        }
        assert!(a > 190 && b > 190, "audio frames: ours {a}, baseline {b}");
        let p = payload();
        for &code in &p {
            assert_eq!(ulaw_formula(code), Codec::Pcmu.decode_sample(code));
        }
    }

    g.bench_function("ours", |bench| {
        let mut ours = Ours::new();
        let mut buf = datagram();
        let start = Instant::now();
        let mut i = 0u64;
        bench.iter(|| {
            let at = receive(&mut buf, i, start);
            i += 1;
            black_box(ours.packet(black_box(&buf), at))
        });
    });
    g.bench_function("baseline", |bench| {
        let mut base = Baseline::new();
        let mut buf = datagram();
        let start = Instant::now();
        let mut i = 0u64;
        bench.iter(|| {
            let at = receive(&mut buf, i, start);
            i += 1;
            black_box(base.packet(black_box(&buf), at))
        });
    });
    g.finish();
}

fn g711_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("g711_decode_160");
    g.throughput(Throughput::Bytes(160));
    let p = payload();
    let mut out = [0i16; 160];
    g.bench_function("table", |b| {
        b.iter(|| {
            decode_ulaw(black_box(&p), &mut out);
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
    let mut pcm = [0i16; 160];
    decode_ulaw(&payload(), &mut pcm);
    let mut gate = EnergyGate::new(&VadConfig::default());
    g.bench_function("energy_gate", |b| b.iter(|| gate.process(black_box(&pcm))));
    g.bench_function("energy_db", |b| {
        b.iter(|| rtp_media::vad::frame_energy_db(black_box(&pcm)))
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
    g.finish();
}

criterion_group!(benches, receive_path, g711_decode, stages);
criterion_main!(benches);
