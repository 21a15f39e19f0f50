//! The offline speech engines end to end: eSpeak NG speaks a caller's
//! question, the audio goes through the telephone line's G.711 µ-law at
//! 8 kHz, and PocketSphinx, told the FAQ's phrases, hears the question's
//! key words.

use agent::engines::{
    EspeakConfig, EspeakMode, EspeakNg, PhraseMatching, PocketSphinx, PocketSphinxConfig,
};
use agent::speech::{SpeechToText, Utterance};
use rtp_media::g711::Codec;

/// The phrases an FAQ assistant listens for.
const FAQ: &[&str] = &[
    "opening hours",
    "address",
    "delivery",
    "cancel my order",
    "operator",
    "a person",
];

/// Questions a caller asks and the phrase each must come back with.
const QUESTIONS: &[(&str, &str)] = &[
    ("what are your opening hours", "opening hours"),
    ("what is your address", "address"),
    ("how much does delivery cost", "delivery"),
    ("can I cancel my order please", "cancel my order"),
    ("I want to talk to an operator", "operator"),
];

/// `text` as a caller's utterance: eSpeak's speech at 8 kHz through
/// µ-law encode and decode, as it arrives from a PCMU call.
async fn caller_says(voice: &str, words_per_minute: u32, text: &str) -> Utterance {
    let tts = EspeakNg::new(EspeakConfig {
        voice: voice.into(),
        words_per_minute,
        ..EspeakConfig::default()
    })
    .expect("valid settings");
    let mut line = Vec::new();
    tts.speak_into(text, |chunk| {
        line.extend(chunk);
        Ok(())
    })
    .await
    .expect("espeak-ng speaks (scripts/test installs it)");
    let mut ulaw = vec![0u8; line.len()];
    let n = Codec::Pcmu.encode(&line, &mut ulaw);
    let mut samples = vec![0i16; n];
    Codec::Pcmu.decode(&ulaw[..n], &mut samples);
    Utterance {
        samples,
        rate: 8000,
    }
}

fn faq_engine(matching: PhraseMatching) -> PocketSphinx {
    PocketSphinx::new(PocketSphinxConfig {
        expected_phrases: FAQ.iter().map(|p| p.to_string()).collect(),
        matching,
        ..PocketSphinxConfig::default()
    })
    .expect("the en-us model loads (scripts/test installs pocketsphinx-en-us)")
}

#[tokio::test]
async fn faq_questions_in_espeak_voices_through_pcmu_come_back_with_their_key_words() {
    let stt = faq_engine(PhraseMatching::Grammar);
    let mut missed = Vec::new();
    for (voice, wpm) in [
        ("en-us", 160),
        ("en-us", 190),
        ("en", 140),
        ("en-us+f3", 160),
        ("en+m3", 175),
    ] {
        for (question, key) in QUESTIONS {
            let heard = stt
                .transcribe(&caller_says(voice, wpm, question).await)
                .await
                .expect("transcribes");
            eprintln!("{voice} {wpm}: {question:?} -> {heard:?}");
            if !heard.contains(key) {
                missed.push(format!(
                    "{voice} at {wpm} wpm: {question:?} heard as {heard:?}"
                ));
            }
        }
    }
    // Measured: 22 of 25, every miss in the `en`, `f3` and `m3` voices.
    let us_missed = missed.iter().filter(|m| m.starts_with("en-us at")).count();
    assert!(
        us_missed == 0 && missed.len() <= 5,
        "missed {} of 25 (at most 5, none in the en-us voice):\n{}",
        missed.len(),
        missed.join("\n")
    );
}

#[tokio::test]
async fn keyword_spotting_hears_key_phrases_and_none_in_unrelated_speech() {
    let stt = faq_engine(PhraseMatching::Keywords);
    let mut found = 0;
    for (voice, wpm) in [("en-us", 160), ("en-us", 190)] {
        for (question, key) in QUESTIONS {
            let heard = stt
                .transcribe(&caller_says(voice, wpm, question).await)
                .await
                .expect("transcribes");
            eprintln!("{voice} {wpm}: {question:?} -> {heard:?}");
            found += usize::from(heard.contains(key));
        }
        for unrelated in ["the weather is nice today", "my cat is called tom"] {
            let heard = stt
                .transcribe(&caller_says(voice, wpm, unrelated).await)
                .await
                .expect("transcribes");
            assert!(
                !FAQ.iter().any(|p| heard.contains(p)),
                "{voice} said {unrelated:?}; heard {heard:?}"
            );
        }
    }
    // Measured: 8 of 10 ("address" is not heard).
    assert!(found >= 7, "found {found} of 10 key phrases");
}

#[tokio::test]
async fn silence_and_noise_transcribe_without_error_and_empty_audio_to_nothing() {
    let stt = faq_engine(PhraseMatching::Grammar);
    let empty = Utterance {
        samples: Vec::new(),
        rate: 8000,
    };
    assert_eq!(stt.transcribe(&empty).await.expect("no error"), "");
    let silence = Utterance {
        samples: vec![0; 8000],
        rate: 8000,
    };
    stt.transcribe(&silence).await.expect("no error");
    let noise = Utterance {
        samples: (0..8000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 16) as i16)
            .collect(),
        rate: 8000,
    };
    stt.transcribe(&noise).await.expect("no error");
    let odd_rate = Utterance {
        samples: vec![0; 100],
        rate: 0,
    };
    assert!(
        stt.transcribe(&odd_rate).await.is_err(),
        "a 0 Hz utterance is an error"
    );
}

#[tokio::test]
async fn espeak_streams_a_long_reply_in_chunks_at_the_rate_asked_for_from_library_and_process() {
    let text = "We are open from nine in the morning to five in the afternoon, \
                Monday to Friday, and from ten to one on Saturdays.";
    for mode in [EspeakMode::Library, EspeakMode::Process] {
        for rate in [8000u32, 16_000] {
            let tts = EspeakNg::new(EspeakConfig {
                output_rate: rate,
                mode,
                ..EspeakConfig::default()
            })
            .expect("valid settings");
            let mut chunks = Vec::new();
            tts.speak_into(text, |chunk| {
                chunks.push(chunk);
                Ok(())
            })
            .await
            .expect("speaks");
            let samples: usize = chunks.iter().map(Vec::len).sum();
            let seconds = samples as f64 / f64::from(rate);
            assert!(
                chunks.len() > 3,
                "{mode:?}: {} chunks: not streamed",
                chunks.len()
            );
            assert!(
                (4.0..15.0).contains(&seconds),
                "{mode:?}: {seconds} s of speech at {rate} Hz"
            );
            let loud = chunks
                .iter()
                .flatten()
                .filter(|s| s.unsigned_abs() > 1000)
                .count();
            assert!(
                loud > samples / 10,
                "{mode:?}: mostly silent: {loud} of {samples} loud"
            );
        }
    }
}

#[tokio::test]
async fn a_reply_dropped_at_a_barge_in_stops_and_the_next_is_spoken_whole() {
    let tts = EspeakNg::new(EspeakConfig::default()).expect("valid settings");
    let long = "This reply is long, and the caller will interrupt it. ".repeat(20);
    let mut first = 0;
    let stopped = tts.speak_into(&long, |chunk| {
        first += chunk.len();
        Err(agent::speech::SpeechError::Engine("caller spoke".into()))
    });
    assert!(stopped.await.is_err(), "the sink's error ends the reply");
    assert!(first > 0);
    // A reply whose future is dropped part way.
    let mut heard = 0usize;
    let dropped = tokio::time::timeout(std::time::Duration::from_millis(1), async {
        tts.speak_into(&long, |chunk| {
            heard += chunk.len();
            Ok(())
        })
        .await
    });
    let _ = dropped.await;
    let mut whole = 0usize;
    tts.speak_into("We are open from nine to five.", |chunk| {
        whole += chunk.len();
        Ok(())
    })
    .await
    .expect("the next reply is spoken");
    let seconds = whole as f64 / 8000.0;
    assert!((1.0..5.0).contains(&seconds), "next reply {seconds} s");
}

#[tokio::test]
async fn a_missing_espeak_program_or_voice_is_an_engine_error() {
    let missing = EspeakNg::new(EspeakConfig {
        program: "/nonexistent/espeak-ng".into(),
        mode: EspeakMode::Process,
        ..EspeakConfig::default()
    })
    .expect("settings are valid");
    assert!(missing.speak_into("hello", |_| Ok(())).await.is_err());
    let no_voice = EspeakNg::new(EspeakConfig {
        voice: "xx-nonexistent".into(),
        mode: EspeakMode::Process,
        ..EspeakConfig::default()
    })
    .expect("settings are valid");
    assert!(no_voice.speak_into("hello", |_| Ok(())).await.is_err());
    let err = EspeakNg::new(EspeakConfig {
        voice: "xx-nonexistent".into(),
        ..EspeakConfig::default()
    })
    .expect_err("the library checks the voice at once");
    assert!(err.to_string().contains("xx-nonexistent"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcriptions_at_once_wait_for_a_decoder_even_after_one_was_abandoned() {
    let stt = std::sync::Arc::new(faq_engine(PhraseMatching::Grammar));
    let question = caller_says("en-us", 160, "what are your opening hours").await;
    // A transcription abandoned part way (the call hung up): its decoder
    // is still busy on its blocking thread for a while.
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(1),
        stt.transcribe(&question),
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (stt, question) = (std::sync::Arc::clone(&stt), question.clone());
        tasks.push(tokio::spawn(async move { stt.transcribe(&question).await }));
    }
    for task in tasks {
        let heard = task
            .await
            .expect("task ran")
            .expect("a decoder was free in turn");
        assert!(heard.contains("opening hours"), "heard {heard:?}");
    }
}
