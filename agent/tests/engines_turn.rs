//! The offline engines in a real turn: a caller on a PCMU call asks an
//! FAQ question in eSpeak's voice, the turn helper hears it with
//! PocketSphinx, answers from a small FAQ and speaks the answer with
//! eSpeak NG; the far end hears the answer's words.

mod common;

use agent::agent::BoxFuture;
use agent::engines::{EspeakConfig, EspeakNg, PocketSphinx, PocketSphinxConfig};
use agent::record::{CallEnd, HangupCause, Outcome, Speaker};
use agent::speech::{Line, Responder, SpeechError, SpeechToText, Utterance};
use agent::supervise::{Supervision, Verdict};
use agent::turn::{TurnAgent, TurnConfig};
use common::*;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

const HOURS: &str = "We are open from nine to five, Monday to Friday.";

/// Answers from the phrase it finds in the transcript.
struct Faq;

impl Responder for Faq {
    fn respond<'a>(
        &'a self,
        _conversation: &'a [Line],
        text: &'a str,
    ) -> BoxFuture<'a, Result<String, SpeechError>> {
        Box::pin(async move {
            Ok(if text.contains("opening hours") {
                HOURS.to_string()
            } else if text.contains("address") {
                "We are at one main street.".to_string()
            } else {
                "Sorry, I did not understand.".to_string()
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_faq_question_spoken_on_a_call_is_answered_in_espeak_speech_the_caller_can_hear() {
    let stt = PocketSphinx::new(PocketSphinxConfig {
        expected_phrases: vec!["opening hours".into(), "address".into(), "operator".into()],
        ..PocketSphinxConfig::default()
    })
    .expect("the en-us model loads");
    let tts = EspeakNg::new(EspeakConfig::default()).expect("eSpeak NG's data is installed");
    let agent = Arc::new(TurnAgent::new(
        Arc::new(stt),
        Arc::new(Faq),
        Arc::new(tts),
        TurnConfig::default(),
    ));
    let limits = Supervision {
        reply_timeout: Duration::from_secs(5),
        max_duration: Duration::from_secs(60),
        fallback_target: None,
    };
    let dir = scratch("engines-turn");
    let store = store(&dir);
    let engine = engine(24700);
    let mut call = start_call(&engine, &store, "engines-turn-1", agent, limits, None);

    let mut audio = noise(8000, 40.0, 41);
    audio.extend(speech("what are your opening hours", "engines-q"));
    let speech_end_packet = audio.len() / 160;
    audio.extend(noise(6 * 8000, 40.0, 43));
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&call.far, Arc::clone(&sent));
    let packets = Stream::new(0x7777).audio(&audio).packets;
    send_paced_counting(&call.far, call.local, packets, sent)
        .join()
        .unwrap();
    call.hang_up();
    assert!(matches!(call.verdict.await.unwrap(), Verdict::Finished(_)));
    let received = collector.finish();

    call.record
        .close(CallEnd {
            at: jiff::Timestamp::now(),
            outcome: Outcome::Completed,
            cause: HangupCause::Remote,
        })
        .await
        .unwrap();
    let record = store.get("engines-turn-1").unwrap().unwrap();
    let [caller, answer, ..] = &record.transcript[..] else {
        panic!("{:?}", record.transcript);
    };
    assert_eq!(caller.speaker, Speaker::Remote);
    assert!(
        caller.text.contains("opening hours"),
        "heard {:?}",
        caller.text
    );
    assert_eq!(answer.speaker, Speaker::Agent);
    assert_eq!(answer.text, HOURS);
    let t = answer.timings;
    if let (Some(eos), Some(fa)) = (t.end_of_speech, t.first_audio) {
        eprintln!("end of speech to first reply audio: {:?}", fa - eos);
    }

    // What the far end heard after the question: the answer, which
    // PocketSphinx listening for its words recognises.
    let reply: Vec<i16> = received
        .iter()
        .filter(|r| r.pt == 0 && r.far_sent >= speech_end_packet)
        .flat_map(|r| r.samples.iter().copied())
        .collect();
    let loud = reply.iter().filter(|s| s.unsigned_abs() > 1000).count();
    assert!(
        loud > 8000 / 2,
        "the answer was hardly heard: {loud} loud samples"
    );
    let listener = PocketSphinx::new(PocketSphinxConfig {
        expected_phrases: vec![
            "nine to five".into(),
            "monday to friday".into(),
            "main street".into(),
        ],
        ..PocketSphinxConfig::default()
    })
    .expect("the en-us model loads");
    let heard = listener
        .transcribe(&Utterance {
            samples: reply,
            rate: 8000,
        })
        .await
        .expect("transcribes");
    assert!(
        heard.contains("nine to five") || heard.contains("monday to friday"),
        "the caller heard {heard:?}"
    );
}
