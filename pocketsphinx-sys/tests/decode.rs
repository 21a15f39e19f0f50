//! The decoder with Debian's US English model on speech that eSpeak NG
//! speaks (16 kHz, the model's rate).

use pocketsphinx_sys::{Decoder, DecoderConfig, DecoderError};
use std::process::Command;

/// eSpeak NG's speech of `text` at 16 kHz, as 16-bit samples.
fn espeak_16k(text: &str) -> Vec<i16> {
    let out = Command::new("sh")
        .arg("-c")
        .arg("espeak-ng --stdout -v en-us -s 150 \"$1\" | sox -t wav - -t raw -r 16000 -e signed -b 16 -c 1 -")
        .arg("sh")
        .arg(text)
        .output()
        .expect("espeak-ng and sox are installed (scripts/test installs them)");
    assert!(out.status.success(), "espeak-ng | sox failed");
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn en_us() -> DecoderConfig {
    let dir =
        pocketsphinx_sys::model_dir().expect("pkg-config names PocketSphinx's model directory");
    DecoderConfig::en_us(dir)
}

#[test]
fn decodes_espeak_speech_into_words_with_the_generic_language_model() {
    let mut decoder = Decoder::new(&en_us()).expect("the en-us model loads");
    // The generic model hears eSpeak's voice poorly ("lo where luke" for
    // "hello world"): the reason the agent's engine restricts what it
    // expects. Here only that speech becomes words, silence none.
    let text = decoder.decode(&espeak_16k("hello world")).expect("decodes");
    assert!(!text.is_empty(), "speech decoded to nothing");
    assert_eq!(decoder.decode(&[0; 16_000]).expect("decodes"), "");
}

#[test]
fn a_jsgf_grammar_search_recognises_its_own_phrase() {
    let mut decoder = Decoder::new(&en_us()).expect("the en-us model loads");
    assert!(decoder.knows_word("opening"));
    assert!(!decoder.knows_word("xqzzyv"));
    decoder
        .set_jsgf(
            "faq",
            "#JSGF V1.0; grammar faq; public <q> = what are your opening hours | where are you | talk to an operator;",
        )
        .expect("the grammar is accepted");
    decoder.use_search("faq").expect("the search exists");
    let text = decoder
        .decode(&espeak_16k("what are your opening hours"))
        .expect("decodes");
    assert_eq!(text, "what are your opening hours");
}

#[test]
fn silence_and_empty_audio_decode_to_nothing_and_the_decoder_goes_on() {
    let mut decoder = Decoder::new(&en_us()).expect("the en-us model loads");
    assert_eq!(decoder.decode(&[]).expect("empty audio is no error"), "");
    let _ = decoder.decode(&[0; 1600]).expect("silence is no error");
    let noise: Vec<i16> = (0..16_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 16) as i16)
        .collect();
    let _ = decoder.decode(&noise).expect("noise is no error");
    decoder
        .set_jsgf(
            "two",
            "#JSGF V1.0; grammar two; public <q> = hello world | goodbye;",
        )
        .expect("the grammar is accepted");
    decoder.use_search("two").expect("the search exists");
    let text = decoder.decode(&espeak_16k("hello world")).expect("decodes");
    assert_eq!(text, "hello world");
}

#[test]
fn refuses_a_grammar_with_a_word_missing_from_the_dictionary() {
    let mut decoder = Decoder::new(&en_us()).expect("the en-us model loads");
    let err = decoder
        .set_jsgf("bad", "#JSGF V1.0; grammar bad; public <q> = xqzzyv;")
        .unwrap_err();
    assert!(
        matches!(err, DecoderError::Search { kind: "jsgf", .. }),
        "{err}"
    );
    assert!(matches!(
        decoder.use_search("nothing"),
        Err(DecoderError::NoSearch(_))
    ));
}

#[test]
fn a_missing_model_is_named() {
    let mut config = en_us();
    config.acoustic_model = "/nonexistent/model".into();
    match Decoder::new(&config) {
        Err(DecoderError::MissingModel(p)) => assert!(p.starts_with("/nonexistent/model")),
        other => panic!("expected MissingModel, got {other:?}"),
    }
}
