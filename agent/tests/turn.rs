//! The turn helper over a real media engine, with test speech engines: a
//! speech-to-text that reports the utterance's length, a responder that
//! answers at once, and a text-to-speech that produces a tone of known
//! length; and a responder that reacts to silence and keys.

mod common;

use agent::agent::BoxFuture;
use agent::call::{AgentOutcome, TransferTarget};
use agent::record::{CallEnd, HangupCause, Outcome, Speaker};
use agent::speech::{
    CallerTurn, Line, Reply, Responder, SpeechError, SpeechOut, SpeechToText, TextToSpeech,
    Utterance,
};
use agent::supervise::{Supervision, Verdict};
use agent::turn::{TurnAgent, TurnConfig};
use agent::SharedAgent;
use common::*;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// "<length of the utterance in ms> ms".
struct LengthStt;

impl SpeechToText for LengthStt {
    fn transcribe<'a>(
        &'a self,
        utterance: &'a Utterance,
    ) -> BoxFuture<'a, Result<String, SpeechError>> {
        Box::pin(async move { Ok(format!("{} ms", utterance.duration().as_millis())) })
    }
}

/// Answers at once, and notes how long the conversation was each time.
#[derive(Default)]
struct EchoResponder {
    seen: Mutex<Vec<usize>>,
}

impl Responder for EchoResponder {
    fn respond<'a>(
        &'a self,
        conversation: &'a [Line],
        text: &'a str,
    ) -> BoxFuture<'a, Result<String, SpeechError>> {
        self.seen.lock().unwrap().push(conversation.len());
        Box::pin(async move { Ok(format!("you spoke for {text}")) })
    }
}

/// A 600 Hz tone of `length` at 16 kHz, in 100 ms chunks.
struct ToneTts {
    length: Duration,
}

impl TextToSpeech for ToneTts {
    fn synthesize<'a>(
        &'a self,
        _text: &'a str,
        out: &'a mut SpeechOut,
    ) -> BoxFuture<'a, Result<(), SpeechError>> {
        Box::pin(async move {
            let samples = (self.length.as_millis() as usize) * 16;
            let all = tone(samples, 600.0, 16_000, 6000.0);
            for chunk in all.chunks(1600) {
                out.play(chunk.to_vec(), 16_000)?;
                tokio::task::yield_now().await;
            }
            Ok(())
        })
    }
}

fn turn_agent(reply: Duration, responder: Arc<EchoResponder>) -> SharedAgent {
    Arc::new(TurnAgent::new(
        Arc::new(LengthStt),
        responder,
        Arc::new(ToneTts { length: reply }),
        TurnConfig {
            audio_rate: 16_000,
            ..TurnConfig::default()
        },
    ))
}

fn limits() -> Supervision {
    Supervision {
        reply_timeout: Duration::from_secs(2),
        max_duration: Duration::from_secs(60),
        fallback_target: None,
    }
}

fn reply_packets(received: &[Received]) -> Vec<&Received> {
    received
        .iter()
        .filter(|r| r.pt == 0 && tone_share(&r.samples, 600.0, 8000) > 0.5)
        .collect()
}

/// The span of `speech` above the quiet line, in samples.
fn voiced(speech: &[i16]) -> (usize, usize) {
    let first = speech.iter().position(|x| x.abs() > 300).unwrap();
    let last = speech.iter().rposition(|x| x.abs() > 300).unwrap();
    (first, last + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_goes_from_the_callers_words_to_a_spoken_reply_with_its_timings_in_the_transcript() {
    let dir = scratch("turn");
    let store = store(&dir);
    let engine = engine(24100);
    let responder = Arc::new(EchoResponder::default());
    let agent = turn_agent(Duration::from_secs(1), Arc::clone(&responder));
    let mut call = start_call(&engine, &store, "turn-1", agent, limits(), None);

    let words = speech("I would like to know my account balance please", "turn");
    let (first, last) = voiced(&words);
    let lead = noise(8000, 40.0, 21);
    let speech_end_packet = (lead.len() + last) / 160 + 1;
    let mut audio = lead;
    audio.extend(&words);
    audio.extend(noise(24_000, 40.0, 23));
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&call.far, Arc::clone(&sent));
    let packets = Stream::new(0x5555).audio(&audio).packets;
    send_paced_counting(&call.far, call.local, packets, sent)
        .join()
        .unwrap();
    call.hang_up();
    assert!(matches!(call.verdict.await.unwrap(), Verdict::Finished(_)));
    let received = collector.finish();

    // The whole reply (1 s: 50 packets) was played, after the caller spoke.
    let reply = reply_packets(&received);
    assert!(
        (45..=52).contains(&reply.len()),
        "{} reply packets",
        reply.len()
    );
    assert!(
        reply[0].far_sent >= speech_end_packet,
        "reply began before the caller finished"
    );

    call.record
        .close(CallEnd {
            at: jiff::Timestamp::now(),
            outcome: Outcome::Completed,
            cause: HangupCause::Remote,
        })
        .await
        .unwrap();
    let record = store.get("turn-1").unwrap().unwrap();
    let [caller, answer] = &record.transcript[..] else {
        panic!("{:?}", record.transcript);
    };
    assert_eq!(caller.speaker, Speaker::Remote);
    assert_eq!(answer.speaker, Speaker::Agent);
    // The utterance handed to speech-to-text spans the speech.
    let ms: i64 = caller.text.trim_end_matches(" ms").parse().unwrap();
    let truth = ((last - first) / 8) as i64;
    assert!(
        (ms - truth).abs() <= 300,
        "utterance {ms} ms, speech {truth} ms"
    );
    assert_eq!(answer.text, format!("you spoke for {}", caller.text));
    let t = answer.timings;
    let (Some(eos), Some(tr), Some(rr), Some(fa)) = (
        t.end_of_speech,
        t.transcript_ready,
        t.reply_ready,
        t.first_audio,
    ) else {
        panic!("{t:?}");
    };
    assert!(eos <= tr && tr <= rr && rr <= fa, "{t:?}");
    assert_eq!(caller.timings.end_of_speech, Some(eos));
    assert_eq!(*responder.seen.lock().unwrap(), vec![0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_talking_over_a_reply_stops_it_and_is_heard_as_the_next_turn() {
    let dir = scratch("turn-barge");
    let store = store(&dir);
    let engine = engine(24120);
    let responder = Arc::new(EchoResponder::default());
    let agent = turn_agent(Duration::from_secs(6), Arc::clone(&responder));
    let mut call = start_call(&engine, &store, "turn-2", agent, limits(), None);

    let question = speech("what time do you open tomorrow", "q1");
    let interruption = speech("sorry, I meant on Sunday", "q2");
    let mut audio = noise(8000, 40.0, 31);
    audio.extend(&question);
    // The reply starts in this pause; the caller talks over it.
    audio.extend(noise(16_000, 40.0, 33));
    let onset_packet = (audio.len() + voiced(&interruption).0) / 160 + 1;
    audio.extend(&interruption);
    audio.extend(noise(16_000, 40.0, 35));
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&call.far, Arc::clone(&sent));
    let packets = Stream::new(0x6666).audio(&audio).packets;
    send_paced_counting(&call.far, call.local, packets, sent)
        .join()
        .unwrap();
    call.hang_up();
    assert!(matches!(call.verdict.await.unwrap(), Verdict::Finished(_)));
    let received = collector.finish();

    // The first reply (one talkspurt: consecutive RTP timestamps) was
    // playing when the caller spoke again, and stopped within a few frames.
    let reply = reply_packets(&received);
    let first_reply: Vec<_> = reply
        .iter()
        .enumerate()
        .take_while(|(i, r)| r.ts == reply[0].ts.wrapping_add(160 * *i as u32))
        .map(|(_, r)| r)
        .collect();
    let before = first_reply
        .iter()
        .filter(|r| r.far_sent < onset_packet)
        .count();
    let after = first_reply.len() - before;
    eprintln!("first reply: {before} packets before the caller spoke, {after} after");
    assert!(
        before >= 10,
        "{before} reply packets before the interruption"
    );
    assert!(after <= 25, "{after} reply packets after the caller spoke");
    assert!(
        reply.len() > first_reply.len(),
        "the interruption was answered"
    );

    call.record
        .close(CallEnd {
            at: jiff::Timestamp::now(),
            outcome: Outcome::Completed,
            cause: HangupCause::Remote,
        })
        .await
        .unwrap();
    let record = store.get("turn-2").unwrap().unwrap();
    let speakers: Vec<Speaker> = record.transcript.iter().map(|l| l.speaker).collect();
    assert_eq!(
        speakers[..3],
        [Speaker::Remote, Speaker::Agent, Speaker::Remote],
        "{:?}",
        record.transcript
    );
    // The second turn is the interruption, and the responder saw the
    // first exchange.
    let ms: i64 = record.transcript[2]
        .text
        .trim_end_matches(" ms")
        .parse()
        .unwrap();
    let (a, b) = voiced(&interruption);
    assert!((ms - ((b - a) / 8) as i64).abs() <= 300, "{ms} ms");
    assert_eq!(responder.seen.lock().unwrap()[..2], [0, 2]);
}

/// Asks "still there?" on silence and ends the conversation with a
/// transfer on any key; notes every turn it saw.
#[derive(Default)]
struct KeyResponder {
    turns: Mutex<Vec<String>>,
}

impl Responder for KeyResponder {
    fn respond<'a>(
        &'a self,
        _conversation: &'a [Line],
        _text: &'a str,
    ) -> BoxFuture<'a, Result<String, SpeechError>> {
        Box::pin(async { Ok(String::new()) })
    }

    fn reply<'a>(
        &'a self,
        _conversation: &'a [Line],
        turn: CallerTurn<'a>,
    ) -> BoxFuture<'a, Result<Reply, SpeechError>> {
        self.turns.lock().unwrap().push(format!("{turn:?}"));
        Box::pin(async move {
            Ok(match turn {
                CallerTurn::Silent => Reply::say("still there?"),
                CallerTurn::Key(digit) => Reply::end_with(
                    "transferring",
                    AgentOutcome::Transfer {
                        target: TransferTarget::Operator,
                        reason: Some(format!("key {digit}")),
                    },
                ),
                _ => Reply::default(),
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_and_keys_are_turns_and_a_reply_can_end_the_conversation_with_a_transfer() {
    let dir = scratch("turn-keys");
    let store = store(&dir);
    let engine = engine(24280);
    let responder = Arc::new(KeyResponder::default());
    let agent: SharedAgent = Arc::new(TurnAgent::new(
        Arc::new(LengthStt),
        responder.clone(),
        Arc::new(ToneTts {
            length: Duration::from_millis(400),
        }),
        TurnConfig {
            no_input: Some(Duration::from_millis(1500)),
            ..TurnConfig::default()
        },
    ));
    let mut call = start_call(&engine, &store, "turn-3", agent, limits(), None);

    // 1.5 s of quiet make a silent turn, answered; the key 1.1 s later
    // (before the silence after the answer is long enough again) ends it.
    let packets = Stream::new(0x7777)
        .audio(&noise(8000 * 13 / 5, 40.0, 41))
        .key('5', 5)
        .audio(&noise(8000, 40.0, 43))
        .packets;
    let sent = Arc::new(AtomicUsize::new(0));
    send_paced_counting(&call.far, call.local, packets, sent)
        .join()
        .unwrap();
    call.hang_up();
    let verdict = call.verdict.await.unwrap();
    let Verdict::Finished(outcome) = verdict else {
        panic!("{verdict:?}");
    };
    assert_eq!(
        outcome,
        AgentOutcome::Transfer {
            target: TransferTarget::Operator,
            reason: Some("key 5".into())
        }
    );
    assert_eq!(*responder.turns.lock().unwrap(), ["Silent", "Key('5')"]);

    call.record
        .close(CallEnd {
            at: jiff::Timestamp::now(),
            outcome: Outcome::Completed,
            cause: HangupCause::Agent,
        })
        .await
        .unwrap();
    let record = store.get("turn-3").unwrap().unwrap();
    let said: Vec<(&str, Speaker)> = record
        .transcript
        .iter()
        .map(|l| (l.text.as_str(), l.speaker))
        .collect();
    assert_eq!(
        said,
        [
            ("still there?", Speaker::Agent),
            ("transferring", Speaker::Agent)
        ]
    );
    // Nobody spoke: the answers have no end of speech, but were played.
    for line in &record.transcript {
        assert_eq!(line.timings.end_of_speech, None);
        assert!(line.timings.first_audio.is_some(), "{line:?}");
    }
    assert_eq!(record.dtmf.len(), 1);
}
