//! The caller ID decoders against an independent transmitter: spandsp's
//! ADSI transmitter (`adsi_tx`, from Debian's `libspandsp-dev`) makes Bell
//! 202 SDMF and MDMF bursts (`ADSI_STANDARD_CLASS`), ETSI V.23 MDMF bursts
//! (`ADSI_STANDARD_CLIP`) and DTMF caller ID (`ADSI_STANDARD_CLIP_DTMF`)
//! for many numbers and names; each burst is set to levels from −10 to −40
//! dBm0, white noise is added 20 dB below it (seeded), and the decoders
//! must read at least 99 % of them at every level (`CALLERID_SNR_DB`
//! sets another noise level). The error rates are
//! printed (`cargo test -p rtp-media --test callerid_spandsp -- --nocapture`).
//!
//! Without spandsp the test fails and says how to install it.

use rtp_media::callerid::{
    Absence, CallTime, CallerIdMessage, CallerIdReceiver, DtmfCallerIdReceiver, MessageFormat,
    Modulation,
};
use rtp_media::g711::ZERO_DBM0_AMPLITUDE;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[path = "common/noise.rs"]
mod noise;
use noise::Noise;

const LEVELS: [f64; 5] = [-10.0, -20.0, -30.0, -35.0, -40.0];
/// The signal-to-noise ratio; `CALLERID_SNR_DB` sets another one, to see
/// where the decoders' margin ends (the 99 % still applies).
fn snr_db() -> f64 {
    std::env::var("CALLERID_SNR_DB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20.0)
}
const BURSTS_PER_KIND: usize = 100;

/// Compiles the C generator against spandsp, or fails saying what is missing.
fn generator() -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/spandsp_callerid_tx.c");
    let binary = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("spandsp_callerid_tx");
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "spandsp"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .unwrap_or_else(|| {
            panic!(
                "spandsp not found by pkg-config: this test needs spandsp's caller ID \
                 transmitter; install libspandsp-dev and pkg-config (scripts/test does)"
            )
        });
    let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
    let out = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .args(flags.split_whitespace())
        .output()
        .expect("run the C compiler (cc)");
    assert!(
        out.status.success(),
        "compiling the spandsp generator failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    binary
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bell202Sdmf,
    Bell202Mdmf,
    V23Mdmf,
    Dtmf,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bell202Sdmf => "Bell 202 SDMF",
            Kind::Bell202Mdmf => "Bell 202 MDMF",
            Kind::V23Mdmf => "V.23 MDMF (ETSI)",
            Kind::Dtmf => "DTMF",
        }
    }
}

struct Burst {
    kind: Kind,
    line: String,
    expected: CallerIdMessage,
}

const NAMES: [&str; 12] = [
    "SMITH JOHN",
    "O'BRIEN M",
    "Jansen",
    "DE VRIES ANNEKE",
    "Li",
    "MUELLER-LUEDEN",
    "X",
    "Garcia, Ana",
    "NIELSEN 2",
    "WIRELESS CALLER",
    "Dupont & Fils",
    "TOLL FREE",
];

/// The bursts to send: numbers of 7 to 15 digits, names of 1 to 15
/// characters, some withheld or unavailable.
fn bursts(noise: &mut Noise) -> Vec<Burst> {
    let mut out = Vec::new();
    for kind in [
        Kind::Bell202Sdmf,
        Kind::Bell202Mdmf,
        Kind::V23Mdmf,
        Kind::Dtmf,
    ] {
        for i in 0..BURSTS_PER_KIND {
            let time = CallTime {
                month: 1 + noise.below(12) as u8,
                day: 1 + noise.below(28) as u8,
                hour: noise.below(24) as u8,
                minute: noise.below(60) as u8,
            };
            let digits = 7 + noise.below(9);
            let number: String = (0..digits)
                .map(|_| char::from(b'0' + noise.below(10) as u8))
                .collect();
            let absence = match i % 10 {
                3 => Some(Absence::Private),
                7 => Some(Absence::Unavailable),
                _ => None,
            };
            let code = |a: Absence| match a {
                Absence::Private => "P",
                Absence::Unavailable => "O",
            };
            let name = NAMES[noise.below(NAMES.len())];
            let when = format!(
                "{:02}{:02}{:02}{:02}",
                time.month, time.day, time.hour, time.minute
            );
            let mut expected = CallerIdMessage::default();
            let line = match kind {
                Kind::Bell202Sdmf | Kind::Bell202Mdmf | Kind::V23Mdmf => {
                    expected.time = Some(time);
                    match absence {
                        Some(a) => expected.number_absence = Some(a),
                        None => expected.number = Some(number.clone()),
                    }
                    let tag = match kind {
                        Kind::Bell202Sdmf => "class-sdmf",
                        Kind::Bell202Mdmf => "class-mdmf",
                        _ => "clip-mdmf",
                    };
                    let number_field = absence.map_or(number.as_str(), code);
                    let name_field = if kind == Kind::Bell202Sdmf {
                        expected.format = Some(MessageFormat::Sdmf);
                        "-"
                    } else {
                        expected.format = Some(MessageFormat::Mdmf);
                        match absence {
                            Some(a) => {
                                expected.name_absence = Some(a);
                                code(a)
                            }
                            None => {
                                expected.name = Some(name.to_owned());
                                name
                            }
                        }
                    };
                    format!("{tag}\t{when}\t{number_field}\t{name_field}")
                }
                Kind::Dtmf => {
                    expected.format = Some(MessageFormat::Dtmf);
                    match absence {
                        Some(a) => {
                            expected.number_absence = Some(a);
                            let code = if a == Absence::Private { "10" } else { "00" };
                            format!("dtmf-b\t{when}\t{code}\t-")
                        }
                        None => {
                            expected.number = Some(number.clone());
                            let start = if i % 2 == 0 { "a" } else { "d" };
                            format!("dtmf-{start}\t{when}\t{number}\t-")
                        }
                    }
                }
            };
            out.push(Burst {
                kind,
                line,
                expected,
            });
        }
    }
    out
}

/// Runs the generator over every burst's line; returns each burst's audio.
fn generate(bursts: &[Burst]) -> Vec<Vec<i16>> {
    let mut child = Command::new(generator())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the spandsp generator");
    let mut input = String::new();
    for b in bursts {
        input.push_str(&b.line);
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("generator stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("generator output");
    writer
        .join()
        .expect("writer thread")
        .expect("write to generator");
    assert!(out.status.success(), "the spandsp generator failed");
    let mut rest = &out.stdout[..];
    let mut audio = Vec::new();
    while let Some((count, tail)) = rest.split_first_chunk::<4>() {
        let n = u32::from_le_bytes(*count) as usize;
        let (samples, tail) = tail.split_at(n * 2);
        audio.push(
            samples
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect::<Vec<_>>(),
        );
        rest = tail;
    }
    assert_eq!(audio.len(), bursts.len(), "one burst per line");
    assert!(
        audio.iter().all(|a| a.len() > 1000),
        "every burst has audio"
    );
    audio
}

/// Mean power of the burst while its signal is on (5 ms blocks within
/// 6 dB of the loudest; DTMF has gaps between keys).
fn active_power(audio: &[i16]) -> f64 {
    let blocks: Vec<f64> = audio
        .chunks(40)
        .map(|b| b.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / b.len() as f64)
        .collect();
    let loudest = blocks.iter().fold(0f64, |a, &b| a.max(b));
    let on: Vec<f64> = blocks.into_iter().filter(|&p| p >= loudest / 4.0).collect();
    on.iter().sum::<f64>() / on.len() as f64
}

/// The burst at `level` dBm0 with noise [`snr_db`] below it, between 300 ms
/// of (noisy) line before and after.
fn on_the_line(audio: &[i16], level: f64, noise: &mut Noise) -> Vec<i16> {
    let zero_dbm0 = f64::from(ZERO_DBM0_AMPLITUDE).powi(2) / 2.0;
    let target = zero_dbm0 * 10f64.powf(level / 10.0);
    let gain = (target / active_power(audio)).sqrt();
    let noise_rms = (target / 10f64.powf(snr_db() / 10.0)).sqrt();
    let mut line = vec![0f64; 2400];
    line.extend(audio.iter().map(|&s| f64::from(s) * gain));
    line.extend(vec![0f64; 2400]);
    line.iter()
        .map(|&s| {
            (s + noise.gaussian() * noise_rms)
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

fn decode(
    kind: Kind,
    line: &[i16],
) -> Vec<Result<CallerIdMessage, rtp_media::callerid::CallerIdError>> {
    let frames = line.chunks(160);
    match kind {
        Kind::Dtmf => {
            let mut rx = DtmfCallerIdReceiver::new();
            frames.filter_map(|f| rx.feed(f)).collect()
        }
        Kind::V23Mdmf => {
            let mut rx = CallerIdReceiver::new(Modulation::V23);
            frames.filter_map(|f| rx.feed(f)).collect()
        }
        _ => {
            let mut rx = CallerIdReceiver::new(Modulation::Bell202);
            frames.filter_map(|f| rx.feed(f)).collect()
        }
    }
}

#[test]
fn decodes_99_percent_of_spandsp_caller_id_bursts_down_to_minus_40_dbm0_at_20_db_snr() {
    let mut noise = Noise(0x5EED_CA11_E41D_2026);
    let bursts = bursts(&mut noise);
    let audio = generate(&bursts);
    let mut failures = Vec::new();
    let mut over = Vec::new();
    println!(
        "caller ID decoding, spandsp bursts, white noise {} dB below the signal",
        snr_db()
    );
    println!("| standard | level | bursts | decoded wrong or not at all | error rate |");
    println!("| --- | --- | --- | --- | --- |");
    for kind in [
        Kind::Bell202Sdmf,
        Kind::Bell202Mdmf,
        Kind::V23Mdmf,
        Kind::Dtmf,
    ] {
        for level in LEVELS {
            let mut errors = 0;
            let mut total = 0;
            for (b, a) in bursts.iter().zip(&audio).filter(|(b, _)| b.kind == kind) {
                total += 1;
                let got = decode(kind, &on_the_line(a, level, &mut noise));
                if got != [Ok(b.expected.clone())] {
                    errors += 1;
                    if failures.len() < 10 {
                        failures.push(format!(
                            "{} at {level} dBm0, {:?}: {got:?}",
                            kind.name(),
                            b.line
                        ));
                    }
                }
            }
            let rate = errors as f64 / total as f64;
            println!(
                "| {} | {level} dBm0 | {total} | {errors} | {:.1} % |",
                kind.name(),
                rate * 100.0
            );
            if rate > 0.01 {
                over.push(format!(
                    "{} at {level} dBm0: {errors} of {total}",
                    kind.name()
                ));
            }
        }
    }
    for f in &failures {
        println!("wrong: {f}");
    }
    assert!(
        over.is_empty(),
        "more than 1 % of the bursts wrong: {over:?}; first failures:\n{}",
        failures.join("\n")
    );
}
