//! The offline speech engines measured: which of library and process gives
//! the lower turn latency, and which way of listening for an FAQ's phrases
//! hears eSpeak's speech through the telephone line best.
//!
//! ```sh
//! cargo build --release -p benches --bin speech-engines
//! target/release/speech-engines latency [ROUNDS]   # library vs process, STT and TTS
//! target/release/speech-engines accuracy           # grammar vs keywords vs generic model
//! ```
//!
//! Speech-to-text: PocketSphinx's C library with the model loaded once
//! (`agent::engines::PocketSphinx`, generic language model) against a
//! `pocketsphinx_continuous -infile` process per utterance (same model,
//! same language model), on the same 8 kHz µ-law utterances, timed from
//! the utterance in hand to its text.
//!
//! Text-to-speech: `agent::engines::EspeakNg` in its two modes, eSpeak
//! NG's library on its own thread against an `espeak-ng --stdout` process
//! per reply, both resampled to 8 kHz as they stream; timed from the text
//! in hand to the first audio chunk, and to the last.
//!
//! Printed as one JSON line per figure (medians over the rounds).

use agent::engines::{
    EspeakConfig, EspeakMode, EspeakNg, PhraseMatching, PocketSphinx, PocketSphinxConfig,
};
use agent::speech::{SpeechToText, Utterance};
use rtp_media::g711::Codec;
use std::process::Command;
use std::time::{Duration, Instant};

const QUESTIONS: &[(&str, &str)] = &[
    ("what are your opening hours", "opening hours"),
    ("what is your address", "address"),
    ("how much does delivery cost", "delivery"),
    ("can I cancel my order please", "cancel my order"),
    ("I want to talk to an operator", "operator"),
];
const UNRELATED: &[&str] = &[
    "the weather is nice today",
    "my cat is called tom",
    "I would like to buy a new phone",
];
const FAQ: &[&str] = &[
    "opening hours",
    "address",
    "delivery",
    "cancel my order",
    "operator",
    "a person",
];
const VOICES: &[(&str, u32)] = &[
    ("en-us", 160),
    ("en-us", 190),
    ("en", 140),
    ("en-us+f3", 160),
    ("en+m3", 175),
];
const REPLY: &str =
    "We are open from nine in the morning to five in the afternoon, Monday to Friday.";

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    match args.get(1).map(String::as_str) {
        Some("latency") => latency(rounds).await,
        Some("accuracy") => accuracy().await,
        _ => {
            eprintln!("usage: speech-engines latency [ROUNDS] | accuracy");
            std::process::exit(2);
        }
    }
}

/// `text` spoken by eSpeak at 8 kHz through µ-law, as a PCMU call delivers it.
async fn caller_says(voice: &str, wpm: u32, text: &str) -> Result<Utterance, Error> {
    let tts = EspeakNg::new(EspeakConfig {
        voice: voice.into(),
        words_per_minute: wpm,
        ..EspeakConfig::default()
    })?;
    let mut line = Vec::new();
    tts.speak_into(text, |chunk| {
        line.extend(chunk);
        Ok(())
    })
    .await?;
    let mut ulaw = vec![0u8; line.len()];
    let n = Codec::Pcmu.encode(&line, &mut ulaw);
    let mut samples = vec![0i16; n];
    Codec::Pcmu.decode(&ulaw[..n], &mut samples);
    Ok(Utterance {
        samples,
        rate: 8000,
    })
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn latency(rounds: usize) -> Result<(), Error> {
    let utterances = {
        let mut u = Vec::new();
        for (q, _) in QUESTIONS {
            u.push(caller_says("en-us", 160, q).await?);
        }
        u
    };
    let speech_s: f64 = utterances
        .iter()
        .map(|u| u.duration().as_secs_f64())
        .sum::<f64>()
        / utterances.len() as f64;

    // Speech-to-text, library: the model loaded once.
    let load = Instant::now();
    let generic = PocketSphinx::new(PocketSphinxConfig::default())?;
    let load_ms = load.elapsed().as_secs_f64() * 1000.0;
    let grammar = PocketSphinx::new(PocketSphinxConfig {
        expected_phrases: FAQ.iter().map(|p| p.to_string()).collect(),
        ..PocketSphinxConfig::default()
    })?;
    let mut lib = Vec::new();
    let mut lib_grammar = Vec::new();
    for _ in 0..rounds {
        for u in &utterances {
            let t = Instant::now();
            generic.transcribe(u).await?;
            lib.push(t.elapsed());
            let t = Instant::now();
            grammar.transcribe(u).await?;
            lib_grammar.push(t.elapsed());
        }
    }
    // Speech-to-text, process: one pocketsphinx_continuous per utterance.
    let model = pocketsphinx_sys::model_dir().ok_or("pkg-config names no model directory")?;
    let base = model.join("en-us");
    let wav = std::env::temp_dir().join(format!("speech-engines-{}.wav", std::process::id()));
    let mut process = Vec::new();
    for _ in 0..rounds {
        for u in &utterances {
            let t = Instant::now();
            let audio = rtp_media::resample::resample(&u.samples, u.rate, 16_000);
            std::fs::write(&wav, wav_bytes(&audio, 16_000))?;
            let out = Command::new("pocketsphinx_continuous")
                .arg("-infile")
                .arg(&wav)
                .arg("-hmm")
                .arg(base.join("en-us"))
                .arg("-dict")
                .arg(base.join("cmudict-en-us.dict"))
                .arg("-lm")
                .arg(base.join("en-us.lm.bin"))
                .arg("-logfn")
                .arg("/dev/null")
                .output()?;
            if !out.status.success() {
                return Err("pocketsphinx_continuous failed".into());
            }
            process.push(t.elapsed());
        }
    }
    let _ = std::fs::remove_file(&wav);
    let (lib_ms, lib_grammar_ms, process_ms) = (median(lib), median(lib_grammar), median(process));
    println!(
        "{{\"stt\":\"pocketsphinx\",\"utterance_s\":{speech_s:.2},\"library_model_load_ms\":{load_ms:.0},\
         \"library_ms\":{lib_ms:.1},\"library_faq_grammar_ms\":{lib_grammar_ms:.1},\
         \"process_ms\":{process_ms:.1},\"process_over_library\":{:.1}}}",
        process_ms / lib_ms
    );

    // Text-to-speech: the library on its thread (started and the voice
    // checked before timing) against a process per reply.
    let mut tts_figures = Vec::new();
    for mode in [EspeakMode::Library, EspeakMode::Process] {
        let tts = EspeakNg::new(EspeakConfig {
            mode,
            ..EspeakConfig::default()
        })?;
        let (mut first_audio, mut all) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            let mut first = None;
            tts.speak_into(REPLY, |_| {
                first.get_or_insert_with(|| t.elapsed());
                Ok(())
            })
            .await?;
            all.push(t.elapsed());
            first_audio.push(first.unwrap_or_default());
        }
        tts_figures.push((median(first_audio), median(all)));
    }
    let [(lf, la), (pf, pa)] = [tts_figures[0], tts_figures[1]];
    println!(
        "{{\"tts\":\"espeak-ng\",\"library_first_audio_ms\":{lf:.1},\"library_all_ms\":{la:.1},\
         \"process_first_audio_ms\":{pf:.1},\"process_all_ms\":{pa:.1},\
         \"first_audio_process_over_library\":{:.1}}}",
        pf / lf
    );
    Ok(())
}

/// A 16-bit mono WAV file.
fn wav_bytes(samples: &[i16], rate: u32) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + data as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

async fn accuracy() -> Result<(), Error> {
    let mut heard = Vec::new();
    for (voice, wpm) in VOICES {
        for (q, key) in QUESTIONS {
            heard.push((caller_says(voice, *wpm, q).await?, Some(*key)));
        }
        for q in UNRELATED {
            heard.push((caller_says(voice, *wpm, q).await?, None));
        }
    }
    let faq: Vec<String> = FAQ.iter().map(|p| p.to_string()).collect();
    for (name, config) in [
        (
            "grammar",
            PocketSphinxConfig {
                expected_phrases: faq.clone(),
                matching: PhraseMatching::Grammar,
                ..PocketSphinxConfig::default()
            },
        ),
        (
            "keywords",
            PocketSphinxConfig {
                expected_phrases: faq.clone(),
                matching: PhraseMatching::Keywords,
                ..PocketSphinxConfig::default()
            },
        ),
        ("generic", PocketSphinxConfig::default()),
    ] {
        let stt = PocketSphinx::new(config)?;
        let (mut hits, mut asked, mut false_alarms, mut unrelated) = (0, 0, 0, 0);
        let mut times = Vec::new();
        for (u, key) in &heard {
            let t = Instant::now();
            let text = stt.transcribe(u).await?;
            times.push(t.elapsed());
            match key {
                Some(k) => {
                    asked += 1;
                    hits += usize::from(text.contains(k));
                }
                None => {
                    unrelated += 1;
                    false_alarms += usize::from(FAQ.iter().any(|p| text.contains(p)));
                }
            }
        }
        println!(
            "{{\"matching\":\"{name}\",\"key_phrase_heard\":\"{hits}/{asked}\",\
             \"phrase_heard_in_unrelated\":\"{false_alarms}/{unrelated}\",\"median_ms\":{:.1}}}",
            median(times)
        );
    }
    Ok(())
}
