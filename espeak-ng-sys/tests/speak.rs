//! The synthesizer with the installed eSpeak NG data. eSpeak is one per
//! process, so the tests take turns.

use espeak_ng_sys::{SynthError, Synthesizer};
use std::sync::Mutex;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn speaks_a_sentence_in_several_buffers_of_audible_samples() {
    let _t = turn();
    let mut synth = Synthesizer::new().expect("eSpeak NG's data is installed");
    assert_eq!(synth.sample_rate(), 22_050);
    synth.set_voice("en-us").expect("en-us exists");
    synth.set_words_per_minute(160).expect("a valid rate");
    let mut buffers = 0;
    let mut samples = Vec::new();
    synth
        .speak(
            "We are open from nine to five, Monday to Friday.",
            &mut |s| {
                buffers += 1;
                samples.extend_from_slice(s);
                true
            },
        )
        .expect("speaks");
    let seconds = samples.len() as f64 / 22_050.0;
    assert!(buffers > 10, "{buffers} buffers: not streamed");
    assert!((1.5..6.0).contains(&seconds), "{seconds} s");
    assert!(samples.iter().filter(|s| s.unsigned_abs() > 1000).count() > samples.len() / 10);
}

#[test]
fn a_faster_rate_gives_shorter_speech() {
    let _t = turn();
    let mut synth = Synthesizer::new().expect("eSpeak NG's data is installed");
    let mut length = |wpm| {
        synth.set_voice("en-us").expect("en-us exists");
        synth.set_words_per_minute(wpm).expect("a valid rate");
        let mut n = 0;
        synth
            .speak("one two three four five six", &mut |s| {
                n += s.len();
                true
            })
            .expect("speaks");
        n
    };
    let (slow, fast) = (length(100), length(300));
    assert!(fast * 2 < slow, "300 wpm: {fast} samples, 100 wpm: {slow}");
}

#[test]
fn returning_false_stops_the_synthesis_and_the_next_one_is_whole() {
    let _t = turn();
    let mut synth = Synthesizer::new().expect("eSpeak NG's data is installed");
    synth.set_voice("en-us").expect("en-us exists");
    let text = "This sentence is long enough to need many buffers of audio to say.";
    let mut calls = 0;
    synth
        .speak(text, &mut |_| {
            calls += 1;
            false
        })
        .expect("a stop is no error");
    assert_eq!(calls, 1);
    let mut whole = 0;
    synth
        .speak(text, &mut |_| {
            whole += 1;
            true
        })
        .expect("speaks");
    assert!(whole > 10);
}

#[test]
fn a_panic_in_the_audio_closure_comes_back_to_the_caller() {
    let _t = turn();
    let mut synth = Synthesizer::new().expect("eSpeak NG's data is installed");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = synth.speak("hello", &mut |_| panic!("sink failed"));
    }));
    assert!(caught.is_err());
    let mut n = 0;
    synth
        .speak("hello", &mut |s| {
            n += s.len();
            true
        })
        .expect("still speaks");
    assert!(n > 0);
}

#[test]
fn bad_settings_and_a_second_synthesizer_are_errors() {
    let _t = turn();
    let mut synth = Synthesizer::new().expect("eSpeak NG's data is installed");
    assert_eq!(Synthesizer::new().unwrap_err(), SynthError::InUse);
    assert_eq!(
        synth.set_voice("xx-nonexistent"),
        Err(SynthError::NoVoice("xx-nonexistent".into()))
    );
    assert_eq!(synth.set_words_per_minute(5), Err(SynthError::Rate(5)));
    assert_eq!(
        synth.speak("a\0b", &mut |_| true),
        Err(SynthError::Nul("text"))
    );
    drop(synth);
    let other = std::thread::spawn(|| Synthesizer::new().map(|s| s.sample_rate()))
        .join()
        .expect("thread ran");
    assert_eq!(
        other,
        Ok(22_050),
        "a dropped synthesizer frees eSpeak for another thread"
    );
}
