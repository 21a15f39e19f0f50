//! The built-in IVR and voicemail agents over a real media engine.

mod common;

use agent::agents::{Ivr, Voicemail};
use agent::call::{AgentOutcome, TransferTarget};
use agent::record::{recording_path, CallEnd, HangupCause, Outcome};
use agent::supervise::{Supervision, Verdict};
use agent::SharedAgent;
use common::*;
use rtp_media::prompt::Prompt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

fn limits() -> Supervision {
    Supervision {
        reply_timeout: Duration::from_secs(2),
        max_duration: Duration::from_secs(60),
        fallback_target: None,
    }
}

/// `text` spoken into a WAV file in `dir` (eSpeak's own rate, 22 kHz).
fn prompt_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.wav"));
    let status = std::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(&path)
        .arg(text)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// Talkspurts of audio the far end received (a marker bit starts each).
fn talkspurts(received: &[Received]) -> usize {
    received.iter().filter(|r| r.pt == 0 && r.marker).count()
}

async fn close(record: &agent::journal::RecordLog) {
    let end = CallEnd {
        at: jiff::Timestamp::now(),
        outcome: Outcome::Completed,
        cause: HangupCause::Agent,
    };
    record.close(end).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_pressed_during_the_menu_prompt_sends_the_call_where_the_menu_says() {
    let dir = scratch("ivr-key");
    let store = store(&dir);
    let engine = engine(24140);
    let prompt = prompt_file(
        &dir,
        "menu",
        "For sales press one. For support press two. For a person press zero.",
    );
    let menu = Ivr::new(
        prompt,
        BTreeMap::from([
            ('1', TransferTarget::Agent("sales".into())),
            ('2', TransferTarget::Number("+15550002222".into())),
        ]),
    );
    let agent: SharedAgent = Arc::new(menu);
    let call = start_call(&engine, &store, "ivr-1", agent, limits(), None);
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&call.far, Arc::clone(&sent));
    let packets = Stream::new(0x7777)
        .audio(&noise(8000, 40.0, 41))
        .key('2', 5)
        .audio(&noise(8000, 40.0, 43))
        .packets;
    let sender = send_paced_counting(&call.far, call.local, packets, sent);
    let verdict = call.verdict.await.unwrap();
    assert_eq!(
        verdict,
        Verdict::Finished(AgentOutcome::Transfer {
            target: TransferTarget::Number("+15550002222".into()),
            reason: Some("menu key 2".into()),
        })
    );
    sender.join().unwrap();
    let received = collector.finish();
    // The far end's packets are paced at 20 ms, so how many it had sent is
    // its clock: the key goes out after 50 packets of audio. The prompt
    // (about 5 s) starts once the agent has loaded it, so how much of it
    // came before the key depends on that; what matters is that it was
    // playing when the key went out and stopped at the key, where an
    // unstopped prompt would go on for seconds.
    const KEY_SENT: usize = 50;
    let prompt = |r: &&Received| r.pt == 0;
    let before_key = received
        .iter()
        .filter(prompt)
        .filter(|r| r.far_sent <= KEY_SENT)
        .count();
    let half_a_second_after_key = received
        .iter()
        .filter(prompt)
        .filter(|r| r.far_sent > KEY_SENT + 25)
        .count();
    assert!(
        before_key >= 5,
        "{before_key} prompt packets before the key"
    );
    assert!(
        half_a_second_after_key <= 10,
        "{half_a_second_after_key} prompt packets more than 0.5 s after the key"
    );
    close(&call.record).await;
    let record = store.get("ivr-1").unwrap().unwrap();
    assert_eq!(record.dtmf.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_chooses_nothing_hears_the_menu_again_then_goes_where_the_menu_says() {
    let dir = scratch("ivr-none");
    let store = store(&dir);
    let engine = engine(24160);
    let prompt = prompt_file(&dir, "menu", "Press one.");
    let mut menu = Ivr::new(prompt, BTreeMap::from([('1', TransferTarget::Voicemail)]));
    menu.timeout = Duration::from_millis(700);
    menu.attempts = 2;
    menu.no_choice = Some(TransferTarget::Voicemail);
    let agent: SharedAgent = Arc::new(menu);
    let call = start_call(&engine, &store, "ivr-2", agent, limits(), None);
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&call.far, Arc::clone(&sent));
    let packets = Stream::new(0x8888)
        .audio(&noise(8000 * 6, 40.0, 45))
        .packets;
    let sender = send_paced_counting(&call.far, call.local, packets, sent);
    let verdict = call.verdict.await.unwrap();
    assert_eq!(
        verdict,
        Verdict::Finished(AgentOutcome::Transfer {
            target: TransferTarget::Voicemail,
            reason: Some("no menu choice".into()),
        })
    );
    sender.join().unwrap();
    assert_eq!(
        talkspurts(&collector.finish()),
        2,
        "the prompt was played twice"
    );
    close(&call.record).await;
}

/// Runs a voicemail whose far end sends `packets`; returns the verdict,
/// the message's samples and the beep packets heard.
async fn leave_message(
    base: u16,
    name: &str,
    voicemail: Voicemail,
    packets: Vec<Vec<u8>>,
) -> (Verdict, Vec<i16>, usize) {
    let dir = scratch(name);
    let store = store(&dir);
    let engine = engine(base);
    let recordings = dir.join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    let agent: SharedAgent = Arc::new(voicemail);
    let call = start_call(
        &engine,
        &store,
        name,
        agent,
        limits(),
        Some(recordings.clone()),
    );
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&call.far, Arc::clone(&sent));
    let sender = send_paced_counting(&call.far, call.local, packets, sent);
    let verdict = call.verdict.await.unwrap();
    sender.join().unwrap();
    let received = collector.finish();
    let beep = received
        .iter()
        .filter(|r| r.pt == 0 && tone_share(&r.samples, 1000.0, 8000) > 0.5)
        .count();
    close(&call.record).await;
    let record = store.get(name).unwrap().unwrap();
    let path = recording_path(&recordings, name);
    let message = Prompt::load(&path).unwrap().samples().to_vec();
    assert_eq!(
        record.recording.as_deref(),
        Some(path.as_path()),
        "the record names the message's file"
    );
    (verdict, message, beep)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_records_the_callers_message_after_the_beep_until_hash() {
    let words = speech("hi, this is Anna, please call me back tomorrow", "vm-words");
    let (first, last) = (
        words.iter().position(|x| x.abs() > 300).unwrap(),
        words.iter().rposition(|x| x.abs() > 300).unwrap(),
    );
    let packets = Stream::new(0x9999)
        .audio(&noise(8000, 40.0, 51))
        .audio(&words)
        .audio(&noise(4000, 40.0, 53))
        .key('#', 5)
        .audio(&noise(8000, 40.0, 55))
        .packets;
    let (verdict, message, beep) =
        leave_message(24180, "vm-hash", Voicemail::default(), packets).await;
    let Verdict::Finished(AgentOutcome::HangUp { reason }) = verdict else {
        panic!("{verdict:?}");
    };
    assert!(reason.ends_with("the caller pressed #"), "{reason}");
    assert!((18..=22).contains(&beep), "{beep} beep packets");
    // The file holds the speech: from the beep to the key.
    let len = message.len();
    assert!(
        len >= last - first,
        "{len} samples, speech {}",
        last - first
    );
    assert!(len <= 8000 + words.len() + 4000 + 2400, "{len} samples");
    let loud = message.iter().filter(|x| x.abs() > 1000).count();
    assert!(loud > 2000, "{loud} loud samples in the message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_ends_the_message_after_the_configured_silence() {
    let words = speech("hello, it is about the invoice", "vm-silence");
    let packets = Stream::new(0xaaaa)
        .audio(&noise(4800, 40.0, 61))
        .audio(&words)
        .audio(&noise(8000 * 5, 40.0, 63))
        .packets;
    let voicemail = Voicemail {
        silence: Duration::from_millis(1500),
        ..Voicemail::default()
    };
    let (verdict, message, _) = leave_message(24200, "vm-silence", voicemail, packets).await;
    let Verdict::Finished(AgentOutcome::HangUp { reason }) = verdict else {
        panic!("{verdict:?}");
    };
    assert!(reason.ends_with("the caller stayed silent"), "{reason}");
    // Everything up to the end of speech, 1.5 s of silence, not the 5 s
    // the caller stayed on the line.
    let len = message.len() as f64 / 8000.0;
    let speech_end = (4800 + words.len()) as f64 / 8000.0;
    assert!(
        len > speech_end - 1.0 && len < speech_end + 2.0,
        "{len} s, speech ends at {speech_end} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_keeps_the_message_of_a_caller_who_hangs_up_while_talking() {
    let dir = scratch("vm-hangup");
    let store = store(&dir);
    let engine = engine(24260);
    let recordings = dir.join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    let agent: SharedAgent = Arc::new(Voicemail::default());
    let mut call = start_call(
        &engine,
        &store,
        "vm-hangup",
        agent,
        limits(),
        Some(recordings.clone()),
    );
    let words = speech("I will call again later, goodbye", "vm-hangup");
    let packets = Stream::new(0xdddd)
        .audio(&noise(4000, 40.0, 81))
        .audio(&words)
        .packets;
    send_paced(&call.far, call.local, packets).join().unwrap();
    call.hang_up();
    assert_eq!(
        call.bridge.await.unwrap(),
        agent::media::BridgeEnd::RemoteHungUp
    );
    assert_eq!(
        call.verdict.await.unwrap(),
        Verdict::Finished(AgentOutcome::CallerHungUp)
    );
    // The file is complete as soon as the call's media has ended.
    let message = Prompt::load(recording_path(&recordings, "vm-hangup")).unwrap();
    let loud = message.samples().iter().filter(|x| x.abs() > 1000).count();
    assert!(loud > 2000, "{loud} loud samples in the message");
    close(&call.record).await;
}
