//! The call handle over a real media engine: the far end is a UDP socket
//! on 127.0.0.1 sending G.711 RTP and RFC 4733 keys.

mod common;

use agent::agents::Echo;
use agent::call::{AgentOutcome, CallContext, CallEvent, CallHandle, CallOptions};
use agent::media::{BridgeEnd, MediaBridge};
use agent::record::{CallDirection, Party};
use agent::record::{CallEnd, HangupCause, Outcome};
use agent::supervise::supervise;
use agent::supervise::{AgentFailure, Supervision, Verdict};
use agent::{agent_fn, AgentError, SharedAgent};
use common::*;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

fn limits() -> Supervision {
    Supervision {
        reply_timeout: Duration::from_millis(400),
        max_duration: Duration::from_secs(30),
        fallback_target: Some("operator".into()),
    }
}

async fn close(record: &agent::journal::RecordLog) {
    let end = CallEnd {
        at: jiff::Timestamp::now(),
        outcome: Outcome::Completed,
        cause: HangupCause::Remote,
    };
    record.close(end).await.unwrap();
}

/// Audio packets received whose samples carry the tone.
fn tone_packets(received: &[Received], freq: f64) -> Vec<&Received> {
    received
        .iter()
        .filter(|r| r.pt == 0 && tone_share(&r.samples, freq, 8000) > 0.5)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_agent_plays_the_callers_audio_back_to_them() {
    let dir = scratch("echo");
    let store = store(&dir);
    let engine = engine(24000);
    let agent: SharedAgent = Arc::new(Echo);
    let mut call = start_call(&engine, &store, "echo-1", agent, limits(), None);

    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&call.far, Arc::clone(&sent));
    let audio = tone(8000, 440.0, 8000, 8000.0);
    let packets = Stream::new(0x1111).audio(&audio).packets;
    send_paced_counting(&call.far, call.local, packets, sent)
        .join()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    call.hang_up();

    let verdict = call.verdict.await.unwrap();
    assert_eq!(verdict, Verdict::Finished(AgentOutcome::CallerHungUp));
    let received = collector.finish();
    // 50 packets of 440 Hz went out; what came back is the same tone.
    let echoed = tone_packets(&received, 440.0);
    assert!(echoed.len() >= 45, "{} of 50 frames echoed", echoed.len());
    assert!(tone_packets(&received, 1000.0).is_empty());
    close(&call.record).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_and_a_key_press_reach_the_agent_and_the_key_only_once() {
    let dir = scratch("events");
    let store = store(&dir);
    let engine = engine(24020);
    let (tx, mut rx) = mpsc::unbounded_channel::<CallEvent>();
    let agent: SharedAgent = Arc::new(agent_fn(move |_ctx, mut call| {
        let tx = tx.clone();
        async move {
            let mut frames = 0usize;
            while let Some(event) = call.next_event().await {
                match event {
                    CallEvent::Audio(frame) => {
                        assert_eq!(frame.samples.len(), 160);
                        frames += 1;
                    }
                    other => {
                        let _ = tx.send(other);
                    }
                }
            }
            Ok(AgentOutcome::hang_up(format!("{frames} frames")))
        }
    }));
    let mut call = start_call(&engine, &store, "events-1", agent, limits(), None);

    let mut audio = noise(4000, 40.0, 3);
    audio.extend(speech("hello, I would like to speak to somebody", "events"));
    audio.extend(noise(8000, 40.0, 5));
    let packets = Stream::new(0x2222)
        .audio(&audio)
        .key('5', 5)
        .audio(&noise(4000, 40.0, 7))
        .packets;
    send_paced(&call.far, call.local, packets).join().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.hang_up();

    let Verdict::Finished(AgentOutcome::HangUp { reason }) = call.verdict.await.unwrap() else {
        panic!("the agent saw the hang-up and returned");
    };
    let frames: usize = reason.split(' ').next().unwrap().parse().unwrap();
    assert!(frames > 100, "{frames} frames of audio");
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let started = events
        .iter()
        .position(|e| matches!(e, CallEvent::SpeechStarted { .. }));
    let stopped = events
        .iter()
        .position(|e| matches!(e, CallEvent::SpeechStopped { .. }));
    assert!(
        matches!((started, stopped), (Some(a), Some(b)) if a < b),
        "{events:?}"
    );
    let keys: Vec<char> = events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Dtmf { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(keys, vec!['5']);
    assert_eq!(events.last(), Some(&CallEvent::HungUp));

    close(&call.record).await;
    let record = store.get("events-1").unwrap().unwrap();
    let digits: Vec<char> = record.dtmf.iter().map(|d| d.digit).collect();
    assert_eq!(digits, vec!['5'], "the record has the key once");
}

/// Plays 6 s of 1 kHz with barge-in on or off while the far end talks
/// after 1 s; returns the agent's audio packets received after the far end
/// sent its first packet of speech.
async fn packets_after_caller_speaks(base: u16, barge_in: bool) -> (usize, usize) {
    let dir = scratch(&format!("barge-{barge_in}"));
    let store = store(&dir);
    let engine = engine(base);
    let agent: SharedAgent = Arc::new(agent_fn(move |_ctx, mut call| async move {
        call.set_barge_in(barge_in)?;
        call.play(tone(48_000, 1000.0, 8000, 6000.0))?;
        call.wait_playback().await?;
        while call.next_event().await.is_some() {}
        Ok(AgentOutcome::CallerHungUp)
    }));
    let mut call = start_call(&engine, &store, "barge-1", agent, limits(), None);

    let lead = noise(8000, 40.0, 11);
    let words = speech("excuse me, can I ask something", "barge");
    let onset = lead.len() + words.iter().position(|x| x.abs() > 300).unwrap();
    let mut audio = lead;
    audio.extend(words);
    // The call lasts longer than the prompt.
    audio.extend(noise(24_000, 40.0, 13));
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&call.far, Arc::clone(&sent));
    let packets = Stream::new(0x3333).audio(&audio).packets;
    send_paced_counting(&call.far, call.local, packets, sent)
        .join()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.hang_up();
    call.verdict.await.unwrap();
    let received = collector.finish();
    close(&call.record).await;

    // The far end's packet that carried the first sample of speech.
    let onset_packet = onset / 160 + 1;
    let tone = tone_packets(&received, 1000.0);
    let after = tone.iter().filter(|r| r.far_sent >= onset_packet).count();
    eprintln!(
        "barge-in {barge_in}: {after} packets after speech, {} in all",
        tone.len()
    );
    (after, tone.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_stops_the_agents_audio_soon_after_the_caller_starts_talking() {
    let (after, total) = packets_after_caller_speaks(24040, true).await;
    // The engine's VAD needs its start hangover and the jitter buffer's
    // delay; a few more frames are in flight. Far less than the 4 s left.
    assert!(
        after <= 25,
        "{after} packets of the prompt after the caller spoke"
    );
    assert!(total < 150, "{total} packets of the prompt in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_barge_in_the_prompt_plays_to_the_end_over_the_caller() {
    let (after, total) = packets_after_caller_speaks(24060, false).await;
    assert!(after > 150, "{after} packets after the caller spoke");
    assert!(total >= 290, "{total} packets of 300");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_agents_fall_back_with_the_reason_in_the_record_while_another_call_goes_on() {
    let dir = scratch("fallback");
    let store = store(&dir);
    let engine = engine(24080);

    // A healthy call on the same engine throughout.
    let echo: SharedAgent = Arc::new(Echo);
    let mut healthy = start_call(&engine, &store, "healthy", echo, limits(), None);
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&healthy.far, Arc::clone(&sent));
    let packets = Stream::new(0x4444)
        .audio(&tone(24_000, 440.0, 8000, 8000.0))
        .packets;
    let sender = send_paced_counting(&healthy.far, healthy.local, packets, sent);

    let failing: SharedAgent = Arc::new(agent_fn(|_ctx, _call| async move {
        Err::<AgentOutcome, _>(AgentError::failed("the model endpoint refused the key"))
    }));
    let panicking: SharedAgent = Arc::new(agent_fn(|_ctx, _call| async move {
        if true {
            panic!("agent bug: index out of range");
        }
        Ok(AgentOutcome::CallerHungUp)
    }));
    let hanging: SharedAgent = Arc::new(agent_fn(|_ctx, call| async move {
        // Busy forever without reading events or giving commands.
        std::future::pending::<()>().await;
        drop(call);
        Ok(AgentOutcome::CallerHungUp)
    }));
    let waiting: SharedAgent = Arc::new(agent_fn(|_ctx, mut call| async move {
        // Quiet, but waiting for the caller: not a hang.
        while call.next_event().await.is_some() {}
        Ok(AgentOutcome::CallerHungUp)
    }));
    let failed = start_call(&engine, &store, "failed", failing, limits(), None);
    let panicked = start_call(&engine, &store, "panicked", panicking, limits(), None);
    let hung = start_call(&engine, &store, "hung", hanging, limits(), None);
    let mut patient = start_call(&engine, &store, "patient", waiting, limits(), None);

    let expect = [
        (failed, "agent failed: the model endpoint refused the key"),
        (panicked, "agent panicked: agent bug: index out of range"),
        (hung, "agent did not respond for"),
    ];
    for (call, reason) in expect {
        let verdict = call.verdict.await.unwrap();
        let Verdict::Fallback(failure) = &verdict else {
            panic!("{}: {verdict:?}", call.call_id);
        };
        assert!(failure.to_string().starts_with(reason), "{failure}");
        if call.call_id == "hung" {
            assert!(matches!(failure, AgentFailure::Unresponsive { .. }));
        }
        // The bridge ends because the agent's handle is gone.
        assert_eq!(
            call.bridge.await.unwrap(),
            agent::media::BridgeEnd::AgentDone
        );
        call.record
            .close(CallEnd {
                at: jiff::Timestamp::now(),
                outcome: Outcome::AgentFailed {
                    reason: failure.to_string(),
                },
                cause: HangupCause::Error,
            })
            .await
            .unwrap();
        let record = store.get(&call.call_id).unwrap().unwrap();
        assert_eq!(record.errors.len(), 1, "{:?}", record.errors);
        assert_eq!(record.errors[0].component, "agent");
        assert!(record.errors[0].message.starts_with(reason));
        assert_eq!(record.handoffs.len(), 1);
        assert_eq!(record.handoffs[0].target, "operator");
    }

    sender.join().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    healthy.hang_up();
    patient.hang_up();
    assert_eq!(
        healthy.verdict.await.unwrap(),
        Verdict::Finished(AgentOutcome::CallerHungUp)
    );
    assert_eq!(
        patient.verdict.await.unwrap(),
        Verdict::Finished(AgentOutcome::CallerHungUp),
        "an agent waiting for events for longer than the reply timeout is not hung"
    );
    let echoed = tone_packets(&collector.finish(), 440.0).len();
    assert!(
        echoed >= 140,
        "{echoed} of 150 frames echoed on the healthy call"
    );
    close(&healthy.record).await;
    close(&patient.record).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_agent_serves_a_failed_agents_call_on_the_same_media() {
    let engine = engine(24220);
    let (session, far) = open(&engine);
    let local = session.local_rtp_addr();
    let ctx = CallContext::new(
        "fb-1",
        "test-line",
        CallDirection::Inbound,
        Party::raw("100"),
    );
    let mut bridge = MediaBridge::new(session).unwrap();

    let failing: SharedAgent = Arc::new(agent_fn(|_ctx, _call| async move {
        Err::<AgentOutcome, _>(AgentError::failed("no model loaded"))
    }));
    let (call, line) = CallHandle::new("fb-1", CallOptions::default());
    let limits = limits();
    let (end, verdict) = tokio::join!(
        bridge.run(line, std::future::pending()),
        supervise(failing, ctx.clone(), call, &limits)
    );
    assert_eq!(end, BridgeEnd::AgentDone);
    assert!(matches!(verdict, Verdict::Fallback(AgentFailure::Error(_))));

    // The profile's fallback (here the echo test) takes the same call.
    let (call, line) = CallHandle::new("fb-1", CallOptions::default());
    let sent = Arc::new(AtomicUsize::new(0));
    let collector = Collector::start(&far, Arc::clone(&sent));
    let packets = Stream::new(0xbbbb)
        .audio(&tone(8000, 440.0, 8000, 8000.0))
        .packets;
    let sender = send_paced_counting(&far, local, packets, sent);
    let far_end_done = async {
        tokio::task::spawn_blocking(move || sender.join().unwrap())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    };
    let echo: SharedAgent = Arc::new(Echo);
    let (end, verdict) = tokio::join!(
        bridge.run(line, far_end_done),
        supervise(echo, ctx, call, &limits)
    );
    assert_eq!(end, BridgeEnd::RemoteHungUp);
    assert_eq!(verdict, Verdict::Finished(AgentOutcome::CallerHungUp));
    let echoed = tone_packets(&collector.finish(), 440.0).len();
    assert!(echoed >= 45, "{echoed} of 50 frames echoed by the fallback");
    bridge.into_session().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_gone_silent_ends_the_call_as_a_media_timeout_and_the_agent_sees_the_hang_up() {
    let dir = scratch("timeout");
    let store = store(&dir);
    let engine = engine_with(24240, |c| c.rtp_timeout = Some(Duration::from_millis(800)));
    let agent: SharedAgent = Arc::new(Echo);
    let call = start_call(&engine, &store, "timeout-1", agent, limits(), None);
    let packets = Stream::new(0xcccc).audio(&noise(4000, 40.0, 71)).packets;
    send_paced(&call.far, call.local, packets).join().unwrap();
    // No hang-up from the test: only the silence ends the call.
    assert!(matches!(
        call.bridge.await.unwrap(),
        BridgeEnd::MediaTimeout { silent_for } if silent_for >= Duration::from_millis(800)
    ));
    assert_eq!(
        call.verdict.await.unwrap(),
        Verdict::Finished(AgentOutcome::CallerHungUp)
    );
    close(&call.record).await;
}
