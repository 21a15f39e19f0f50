use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::record::*;

/// A directory of its own for one test, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("agent-store-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("calls.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const START: &str = "2026-12-04T10:00:00.123456789Z";

/// A record with every field set, lists included, closed.
fn full_record(call_id: &str) -> CallRecord {
    let start = ts(START);
    let answer = ts("2026-12-04T10:00:02.5Z");
    CallRecord {
        call_id: call_id.to_string(),
        line: "trunk-main".into(),
        tenant: Some("acme".into()),
        direction: CallDirection::Inbound,
        caller: Party {
            raw: "0612345678".into(),
            e164: Some("+33612345678".into()),
            name: Some("Alice Martin".into()),
        },
        did: Some("+33198765432".into()),
        start,
        answer: Some(answer),
        end: Some(CallEnd {
            at: ts("2026-12-04T10:03:01.000000001Z"),
            outcome: Outcome::Completed,
            cause: HangupCause::Remote,
        }),
        profile: Some("sales".into()),
        agent: Some("turns".into()),
        handoffs: vec![
            Handoff {
                at: ts("2026-12-04T10:01:00Z"),
                kind: HandoffKind::Fallback,
                target: "voicemail".into(),
                reason: Some("speech-to-text timed out".into()),
            },
            Handoff {
                at: ts("2026-12-04T10:02:00Z"),
                kind: HandoffKind::Transfer,
                target: "sip:desk@example.com".into(),
                reason: None,
            },
        ],
        dtmf: vec![
            DtmfEntry {
                digit: '4',
                offset: ms(1_200),
                duration: Some(ms(160)),
            },
            DtmfEntry {
                digit: '#',
                offset: ms(1_900),
                duration: None,
            },
        ],
        recording: Some(PathBuf::from("/var/spool/ai-line/abc.wav")),
        errors: vec![ErrorEntry {
            at: ts("2026-12-04T10:00:59Z"),
            component: "agent".into(),
            message: "speech-to-text: connection reset".into(),
        }],
        transcript: vec![
            TranscriptEntry {
                speaker: Speaker::Agent,
                text: "Bonjour, ici Acme.".into(),
                offset: ms(300),
                timings: TurnTimings {
                    first_audio: Some(ms(300)),
                    ..TurnTimings::default()
                },
            },
            TranscriptEntry {
                speaker: Speaker::Remote,
                text: "Je voudrais un rendez-vous ✓".into(),
                offset: ms(2_000),
                timings: TurnTimings {
                    end_of_speech: Some(ms(3_100)),
                    transcript_ready: Some(ms(3_280)),
                    reply_ready: Some(ms(3_650)),
                    first_audio: Some(Duration::new(3, 720_000_001)),
                },
            },
        ],
    }
}

fn open_call(call_id: &str, start: Timestamp) -> CallRecord {
    CallRecord::new(
        call_id,
        "trunk-main",
        CallDirection::Inbound,
        Party::raw("anonymous"),
        start,
    )
}

fn open_store(dir: &TempDir) -> SqliteStore {
    SqliteStore::open_path(&dir.db(), "test").unwrap()
}

#[test]
fn a_record_round_trips_with_every_field() {
    let dir = TempDir::new("round-trip");
    let store = open_store(&dir);
    let record = full_record("a84b4c76e66710@pc33.example.com");
    store.open(&record).unwrap();
    assert_eq!(store.get(&record.call_id).unwrap(), Some(record.clone()));
    assert_eq!(record.duration(), Some(Duration::new(180, 876_543_212)));
    assert_eq!(record.talk_time(), Some(Duration::new(178, 500_000_001)));
    assert_eq!(store.get("no-such-call").unwrap(), None);

    // A record opened bare, with nothing but what a new call has.
    let bare = open_call("bare", ts(START));
    store.open(&bare).unwrap();
    assert_eq!(store.get("bare").unwrap(), Some(bare));
}

#[test]
fn every_outcome_and_hangup_cause_round_trips() {
    let dir = TempDir::new("outcomes");
    let store = open_store(&dir);
    let outcomes = [
        Outcome::Completed,
        Outcome::Refused {
            status: 603,
            reason: "caller prefix +882 is blocked".into(),
        },
        Outcome::Busy,
        Outcome::NoAnswer,
        Outcome::Cancelled,
        Outcome::Failed {
            status: Some(488),
            reason: "no common codec".into(),
        },
        Outcome::Failed {
            status: None,
            reason: "no free media port".into(),
        },
        Outcome::AgentFailed {
            reason: "model endpoint returned 500".into(),
        },
        Outcome::Interrupted,
    ];
    let causes = [
        HangupCause::Remote,
        HangupCause::Agent,
        HangupCause::Transferred,
        HangupCause::Switch,
        HangupCause::MediaTimeout,
        HangupCause::Error,
        HangupCause::Shutdown,
        HangupCause::ProcessStopped,
    ];
    for (i, outcome) in outcomes.iter().enumerate() {
        for (j, cause) in causes.iter().enumerate() {
            let id = format!("call-{i}-{j}");
            store.open(&open_call(&id, ts(START))).unwrap();
            let end = CallEnd {
                at: ts("2026-12-04T10:00:10Z"),
                outcome: outcome.clone(),
                cause: *cause,
            };
            assert!(store.close(&id, &end).unwrap());
            assert_eq!(store.get(&id).unwrap().unwrap().end, Some(end));
        }
    }
    // And an outbound call, opened already closed.
    let mut refused = open_call("refused", ts(START));
    refused.direction = CallDirection::Outbound;
    refused.end = Some(CallEnd {
        at: ts(START),
        outcome: outcomes[1].clone(),
        cause: HangupCause::Switch,
    });
    store.open(&refused).unwrap();
    assert_eq!(store.get("refused").unwrap(), Some(refused));
}

#[test]
fn updates_append_to_the_record_in_order() {
    let dir = TempDir::new("append");
    let store = open_store(&dir);
    let full = full_record("append");
    store.open(&open_call("append", full.start)).unwrap();

    store
        .update("append", &CallUpdate::Answered(full.answer.unwrap()))
        .unwrap();
    // A second answer does not move the first.
    store
        .update("append", &CallUpdate::Answered(ts("2026-12-04T11:00:00Z")))
        .unwrap();
    store
        .update(
            "append",
            &CallUpdate::Routed {
                profile: "sales".into(),
                agent: "turns".into(),
            },
        )
        .unwrap();
    store
        .update(
            "append",
            &CallUpdate::Recording(full.recording.clone().unwrap()),
        )
        .unwrap();
    for e in &full.transcript {
        store
            .update("append", &CallUpdate::Transcript(e.clone()))
            .unwrap();
    }
    for e in &full.dtmf {
        store.update("append", &CallUpdate::Dtmf(*e)).unwrap();
    }
    for e in &full.handoffs {
        store
            .update("append", &CallUpdate::Handoff(e.clone()))
            .unwrap();
    }
    for e in &full.errors {
        store
            .update("append", &CallUpdate::Error(e.clone()))
            .unwrap();
    }
    let so_far = store.get("append").unwrap().unwrap();
    assert_eq!(so_far.end, None, "still up");
    assert!(store.close("append", full.end.as_ref().unwrap()).unwrap());

    let mut expected = full.clone();
    expected.caller = Party::raw("anonymous");
    expected.tenant = None;
    expected.did = None;
    assert_eq!(store.get("append").unwrap(), Some(expected));

    // A transcript line that arrives after the hang-up is still kept.
    let late = TranscriptEntry {
        speaker: Speaker::Remote,
        text: "au revoir".into(),
        offset: ms(178_000),
        timings: TurnTimings::default(),
    };
    store
        .update("append", &CallUpdate::Transcript(late.clone()))
        .unwrap();
    assert_eq!(
        store.get("append").unwrap().unwrap().transcript.last(),
        Some(&late)
    );
}

#[test]
fn the_first_close_wins_and_unknown_or_duplicate_calls_are_refused() {
    let dir = TempDir::new("close");
    let store = open_store(&dir);
    store.open(&open_call("c1", ts(START))).unwrap();
    let first = CallEnd {
        at: ts("2026-12-04T10:00:05Z"),
        outcome: Outcome::Completed,
        cause: HangupCause::Agent,
    };
    let second = CallEnd {
        at: ts("2026-12-04T10:00:06Z"),
        outcome: Outcome::AgentFailed {
            reason: "panicked".into(),
        },
        cause: HangupCause::Error,
    };
    assert!(store.close("c1", &first).unwrap());
    assert!(!store.close("c1", &second).unwrap());
    assert_eq!(store.get("c1").unwrap().unwrap().end, Some(first));

    assert!(matches!(
        store.open(&open_call("c1", ts(START))),
        Err(StoreError::DuplicateCall(id)) if id == "c1"
    ));
    assert!(matches!(
        store.close("nope", &second),
        Err(StoreError::UnknownCall(id)) if id == "nope"
    ));
    for update in [
        CallUpdate::Answered(ts(START)),
        CallUpdate::Error(ErrorEntry {
            at: ts(START),
            component: "sip".into(),
            message: "x".into(),
        }),
        CallUpdate::Dtmf(DtmfEntry {
            digit: '1',
            offset: ms(1),
            duration: Some(ms(1)),
        }),
    ] {
        assert!(matches!(
            store.update("nope", &update),
            Err(StoreError::UnknownCall(_))
        ));
    }
    // Nothing was left behind for the unknown call.
    let conn = store.lock();
    let orphans: i64 = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM call_errors) + (SELECT COUNT(*) FROM call_dtmf)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}

#[test]
fn a_hand_edited_row_reads_back_as_a_corrupt_record_naming_it() {
    let dir = TempDir::new("corrupt");
    let store = open_store(&dir);
    store.open(&full_record("edited")).unwrap();
    store
        .lock()
        .execute(
            "UPDATE calls SET outcome = 'exploded' WHERE call_id = 'edited'",
            [],
        )
        .unwrap();
    match store.get("edited") {
        Err(e @ StoreError::Corrupt { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("\"edited\"") && text.contains("exploded"),
                "{text}"
            );
        }
        other => panic!("expected a corrupt record, got {other:?}"),
    }
    store
        .lock()
        .execute(
            "UPDATE calls SET outcome = NULL WHERE call_id = 'edited'",
            [],
        )
        .unwrap();
    assert!(matches!(
        store.get("edited"),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn times_outside_what_sqlite_can_hold_are_refused_not_wrapped() {
    let dir = TempDir::new("range");
    let store = open_store(&dir);
    let far = open_call("far", ts("2400-01-01T00:00:00Z"));
    assert!(matches!(
        store.open(&far),
        Err(StoreError::Unstorable { what: "a time", .. })
    ));
    assert_eq!(store.get("far").unwrap(), None);
}

#[test]
fn recent_and_time_range_queries_order_by_start() {
    let dir = TempDir::new("queries");
    let store = open_store(&dir);
    let base = ts("2026-12-04T09:00:00Z");
    for i in 0..10 {
        let start = base + SignedDuration::from_mins(i);
        store.open(&open_call(&format!("q{i}"), start)).unwrap();
    }
    let recent: Vec<String> = store
        .recent(3)
        .unwrap()
        .into_iter()
        .map(|r| r.call_id)
        .collect();
    assert_eq!(recent, ["q9", "q8", "q7"]);
    let between: Vec<String> = store
        .started_between(
            base + SignedDuration::from_mins(2),
            base + SignedDuration::from_mins(5),
        )
        .unwrap()
        .into_iter()
        .map(|r| r.call_id)
        .collect();
    assert_eq!(between, ["q2", "q3", "q4"]);
    // Bounds beyond what can be stored select everything.
    let all = store
        .started_between(Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(all.len(), 10);
}

#[test]
fn close_interrupted_ends_open_calls_at_their_last_known_moment() {
    let dir = TempDir::new("interrupted");
    let store = open_store(&dir);
    let start = ts(START);
    let answer = ts("2026-12-04T10:00:02Z");
    store.open(&open_call("up", start)).unwrap();
    store.update("up", &CallUpdate::Answered(answer)).unwrap();
    store
        .update(
            "up",
            &CallUpdate::Transcript(TranscriptEntry {
                speaker: Speaker::Remote,
                text: "allô ?".into(),
                offset: ms(1_000),
                timings: TurnTimings {
                    transcript_ready: Some(ms(4_000)),
                    ..TurnTimings::default()
                },
            }),
        )
        .unwrap();
    store.open(&open_call("ringing", start)).unwrap();
    store.open(&open_call("done", start)).unwrap();
    let done_end = CallEnd {
        at: ts("2026-12-04T10:00:09Z"),
        outcome: Outcome::Completed,
        cause: HangupCause::Remote,
    };
    store.close("done", &done_end).unwrap();
    // Another process sharing the database has a call up too.
    let other = SqliteStore::open_path(&dir.db(), "other-instance").unwrap();
    other.open(&open_call("theirs", start)).unwrap();

    assert_eq!(store.close_interrupted().unwrap(), 2);
    let up = store.get("up").unwrap().unwrap();
    assert_eq!(
        up.end,
        Some(CallEnd {
            at: ts("2026-12-04T10:00:06Z"),
            outcome: Outcome::Interrupted,
            cause: HangupCause::ProcessStopped,
        })
    );
    assert_eq!(
        store.get("ringing").unwrap().unwrap().end.unwrap().at,
        start
    );
    assert_eq!(store.get("done").unwrap().unwrap().end, Some(done_end));
    assert_eq!(store.get("theirs").unwrap().unwrap().end, None);
    assert_eq!(store.close_interrupted().unwrap(), 0);
}

const CHILD_DB: &str = "AGENT_RECORD_TEST_CHILD_DB";
const CHILD_READY: &str = "child: call is up";

/// Run only as the child of
/// `a_process_killed_mid_call_leaves_a_record_the_next_start_closes`:
/// opens a call, says so, and waits to be killed.
#[test]
#[ignore = "the child process of a_process_killed_mid_call_leaves_a_record_the_next_start_closes"]
fn child_process_holding_a_call_up() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let store = SqliteStore::open_path(Path::new(&path), "test").unwrap();
    let start = ts(START);
    store.open(&open_call("killed-mid-call", start)).unwrap();
    store
        .update(
            "killed-mid-call",
            &CallUpdate::Answered(ts("2026-12-04T10:00:01Z")),
        )
        .unwrap();
    store
        .update(
            "killed-mid-call",
            &CallUpdate::Transcript(TranscriptEntry {
                speaker: Speaker::Agent,
                text: "Bonjour".into(),
                offset: ms(500),
                timings: TurnTimings::default(),
            }),
        )
        .unwrap();
    println!("{CHILD_READY}");
    // Waits for the kill; gives up after a minute, so a parent that
    // failed never leaves it behind.
    std::thread::sleep(Duration::from_secs(60));
    panic!("the parent test did not kill this process");
}

#[test]
fn a_process_killed_mid_call_leaves_a_record_the_next_start_closes() {
    let dir = TempDir::new("killed");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "record::sqlite::tests::child_process_holding_a_call_up",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, dir.db())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest may print the test's name on the same line first.
        .any(|line| line.ends_with(CHILD_READY));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ready, "the child never opened its call");

    // The record is open in the file the killed process left behind.
    let store = SqliteStore::open_at_version(&dir.db(), "test", migrations::LATEST).unwrap();
    assert_eq!(store.get("killed-mid-call").unwrap().unwrap().end, None);
    drop(store);

    // The next start closes it, keeping what was written before the kill.
    let store = open_store(&dir);
    let record = store.get("killed-mid-call").unwrap().unwrap();
    assert_eq!(
        record.end,
        Some(CallEnd {
            at: ts("2026-12-04T10:00:01.5Z"),
            outcome: Outcome::Interrupted,
            cause: HangupCause::ProcessStopped,
        })
    );
    assert_eq!(record.transcript.len(), 1);
    assert_eq!(record.transcript[0].text, "Bonjour");
}

#[test]
fn threads_and_connections_write_calls_at_once_without_losing_any() {
    let dir = TempDir::new("concurrent");
    let store = Arc::new(open_store(&dir));
    // A second connection to the same file, as a second process would.
    let second = Arc::new(SqliteStore::open_path(&dir.db(), "second").unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store: Arc<dyn CallStore> = if t % 2 == 0 {
                store.clone()
            } else {
                second.clone()
            };
            std::thread::spawn(move || {
                for i in 0..25 {
                    let id = format!("t{t}-c{i}");
                    let start = ts(START);
                    store.open(&open_call(&id, start)).unwrap();
                    store.update(&id, &CallUpdate::Answered(start)).unwrap();
                    for k in 0..4u64 {
                        store
                            .update(
                                &id,
                                &CallUpdate::Transcript(TranscriptEntry {
                                    speaker: Speaker::Remote,
                                    text: format!("line {k}"),
                                    offset: ms(k * 1000),
                                    timings: TurnTimings::default(),
                                }),
                            )
                            .unwrap();
                        store
                            .update(
                                &id,
                                &CallUpdate::Dtmf(DtmfEntry {
                                    digit: char::from(b'0' + k as u8),
                                    offset: ms(k * 1000 + 500),
                                    duration: Some(ms(100)),
                                }),
                            )
                            .unwrap();
                    }
                    let end = CallEnd {
                        at: start + SignedDuration::from_secs(5),
                        outcome: Outcome::Completed,
                        cause: HangupCause::Remote,
                    };
                    assert!(store.close(&id, &end).unwrap());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = store.recent(1_000).unwrap();
    assert_eq!(all.len(), 200);
    for record in all {
        let texts: Vec<&str> = record.transcript.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            texts,
            ["line 0", "line 1", "line 2", "line 3"],
            "{}",
            record.call_id
        );
        let digits: String = record.dtmf.iter().map(|d| d.digit).collect();
        assert_eq!(digits, "0123", "{}", record.call_id);
        assert_eq!(record.end.unwrap().outcome, Outcome::Completed);
    }
}

#[test]
fn a_database_from_a_newer_program_is_refused() {
    let dir = TempDir::new("newer");
    let store = open_store(&dir);
    store
        .lock()
        .execute(
            "INSERT INTO schema_version (version, applied_ns) VALUES (?1, 0)",
            [migrations::LATEST + 1],
        )
        .unwrap();
    drop(store);
    match SqliteStore::open_path(&dir.db(), "test") {
        Err(StoreError::NewerSchema { found, known }) => {
            assert_eq!((found, known), (migrations::LATEST + 1, migrations::LATEST));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn the_database_runs_in_write_ahead_log_mode() {
    let dir = TempDir::new("wal");
    let store = open_store(&dir);
    let mode: String = store
        .lock()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_database_in_a_missing_directory_is_an_open_error_naming_the_file() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("no-such-dir").join("calls.sqlite");
    match SqliteStore::open_path(&path, "test") {
        Err(e @ StoreError::Open { .. }) => {
            assert!(e.to_string().contains("no-such-dir"), "{e}");
        }
        other => panic!("expected an open error, got {other:?}"),
    }
}
