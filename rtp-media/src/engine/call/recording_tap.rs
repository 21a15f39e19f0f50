//! Recording a call without disk I/O on the worker thread.
//!
//! The worker copies each 20 ms frame (the caller's as delivered, the
//! agent's as sent) into the queue of one writer thread that serves every
//! recording of the process, and that thread writes them into each call's
//! [`Recorder`]. One thread, not one per recording: a thousand recorded
//! calls would otherwise be a thousand threads. When the writer falls
//! behind (a slow disk) and [`RECORDING_QUEUE`] frames wait, further frames
//! are dropped and counted rather than stalling the calls of the worker.
//! Starting and finishing a recording go through the same queue, so they
//! stay in order with the frames, and are never dropped: a finish waits
//! for the frames queued before it, at most the queue's bound, and
//! completes as soon as the disk has taken them.
//!
//! The bound is a parameter of the writer ([`RecordingWriter::spawn`]), so
//! tests can run a writer of their own with a small queue; the engine's
//! writer has [`RECORDING_QUEUE`].

use crate::engine::error::MediaError;
use crate::engine::event::{RecordingSummary, FRAME_SAMPLES};
use crate::recording::{Recorder, RecordingError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use tokio::sync::oneshot;

/// Frames that may wait for the writer, across all recordings (10 s of a
/// hundred stereo recordings; 330 bytes each).
pub(crate) const RECORDING_QUEUE: usize = 10_000;

/// Which direction of the call a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Received from the far end, as delivered to the application.
    Caller,
    /// Sent to the far end.
    Agent,
}

type Reply = oneshot::Sender<Result<RecordingSummary, MediaError>>;

/// What the writer thread is asked to do.
// `Frame` is as large as the audio it carries; boxing it would allocate per
// recorded frame on the worker.
#[allow(clippy::large_enum_variant)]
enum WriterMsg {
    Start {
        id: u64,
        call_id: u64,
        recorder: Box<Recorder>,
    },
    Frame {
        id: u64,
        side: Side,
        samples: [i16; FRAME_SAMPLES],
    },
    /// Finish the file; `reply` is `None` when the call ended without
    /// `stop_recording` (nobody waits).
    Finish {
        id: u64,
        dropped: u64,
        reply: Option<Reply>,
    },
}

/// A recording writer thread and its queue, which holds at most `bound`
/// frames (starts and finishes are not counted, and never dropped).
#[derive(Debug)]
pub(crate) struct RecordingWriter {
    tx: Sender<WriterMsg>,
    /// Frames waiting, across the writer's recordings; the thread counts
    /// them down as it takes them.
    queued: Arc<AtomicUsize>,
    bound: usize,
}

impl RecordingWriter {
    /// Starts a writer thread whose queue holds `bound` frames.
    pub(crate) fn spawn(bound: usize) -> std::io::Result<RecordingWriter> {
        let (tx, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = Arc::clone(&queued);
        std::thread::Builder::new()
            .name("call-recorder".into())
            .spawn(move || write_recordings(rx, &taken))?;
        Ok(RecordingWriter { tx, queued, bound })
    }
}

/// The process's recording writer, or why its thread could not start.
static WRITER: OnceLock<Result<RecordingWriter, String>> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn writer_stopped() -> MediaError {
    MediaError::Io(std::io::Error::other("recording writer stopped"))
}

/// The writer every call records through, started by the first recording.
fn writer() -> Result<&'static RecordingWriter, MediaError> {
    WRITER
        .get_or_init(|| RecordingWriter::spawn(RECORDING_QUEUE).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| MediaError::Io(std::io::Error::other(e.clone())))
}

/// The worker's end of one recording.
#[derive(Debug)]
pub(crate) struct RecordingTap {
    id: u64,
    /// `None` once finished, or once the writer has stopped.
    writer: Option<&'static RecordingWriter>,
    dropped: u64,
}

impl std::fmt::Debug for WriterMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriterMsg::Start { id, .. } => write!(f, "Start({id})"),
            WriterMsg::Frame { id, side, .. } => write!(f, "Frame({id}, {side:?})"),
            WriterMsg::Finish { id, dropped, .. } => write!(f, "Finish({id}, {dropped})"),
        }
    }
}

impl RecordingTap {
    /// Registers `recorder` (created by the application, so file creation
    /// errors reach it directly) with the process's writer thread.
    pub(crate) fn start(call_id: u64, recorder: Recorder) -> Result<Self, MediaError> {
        Self::start_on(writer()?, call_id, recorder)
    }

    /// Registers `recorder` with `writer`.
    pub(crate) fn start_on(
        writer: &'static RecordingWriter,
        call_id: u64,
        recorder: Recorder,
    ) -> Result<Self, MediaError> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        writer
            .tx
            .send(WriterMsg::Start {
                id,
                call_id,
                recorder: Box::new(recorder),
            })
            .map_err(|_| writer_stopped())?;
        Ok(RecordingTap {
            id,
            writer: Some(writer),
            dropped: 0,
        })
    }

    /// Hands one frame to the writer without blocking.
    fn push(&mut self, side: Side, samples: &[i16; FRAME_SAMPLES]) {
        let Some(writer) = self.writer else { return };
        if writer.queued.load(Ordering::Relaxed) >= writer.bound {
            self.dropped += 1;
            return;
        }
        writer.queued.fetch_add(1, Ordering::Relaxed);
        let frame = WriterMsg::Frame {
            id: self.id,
            side,
            samples: *samples,
        };
        if writer.tx.send(frame).is_err() {
            writer.queued.fetch_sub(1, Ordering::Relaxed);
            self.dropped += 1;
            self.writer = None;
        }
    }

    /// Asks the writer to write what is queued, close the file and answer
    /// on `reply` (if any).
    fn finish(&mut self, reply: Option<Reply>) {
        let unsent = match self.writer.take() {
            Some(writer) => match writer.tx.send(WriterMsg::Finish {
                id: self.id,
                dropped: self.dropped,
                reply,
            }) {
                Ok(()) => None,
                Err(std::sync::mpsc::SendError(WriterMsg::Finish { reply, .. })) => reply,
                Err(_) => None,
            },
            None => reply,
        };
        if let Some(reply) = unsent {
            let _ = reply.send(Err(writer_stopped()));
        }
    }
}

impl Drop for RecordingTap {
    /// A call that ends, or starts another recording, finishes its file.
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// One recording on the writer thread.
struct Open {
    call_id: u64,
    recorder: Recorder,
    failed: Option<RecordingError>,
}

/// The writer thread: serves its recordings until every sender of its
/// queue is gone (the process's writer: until the process ends).
fn write_recordings(rx: Receiver<WriterMsg>, queued: &AtomicUsize) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            WriterMsg::Start {
                id,
                call_id,
                recorder,
            } => {
                open.insert(
                    id,
                    Open {
                        call_id,
                        recorder: *recorder,
                        failed: None,
                    },
                );
            }
            WriterMsg::Frame { id, side, samples } => {
                queued.fetch_sub(1, Ordering::Relaxed);
                let Some(rec) = open.get_mut(&id) else {
                    continue;
                };
                if rec.failed.is_some() {
                    continue;
                }
                let written = match side {
                    Side::Caller => rec.recorder.write_caller(&samples),
                    Side::Agent => rec.recorder.write_agent(&samples),
                };
                if let Err(e) = written {
                    tracing::warn!(call = rec.call_id, error = %e, "recording failed, later audio not written");
                    rec.failed = Some(e);
                }
            }
            WriterMsg::Finish { id, dropped, reply } => {
                let Some(rec) = open.remove(&id) else {
                    continue;
                };
                let written = rec.recorder.frames_written();
                let finished = rec.recorder.finish();
                let result = match (rec.failed, finished) {
                    (Some(source), _) | (None, Err(source)) => {
                        Err(MediaError::RecordingIncomplete {
                            summary: RecordingSummary {
                                samples: written,
                                frames_dropped: dropped,
                            },
                            source,
                        })
                    }
                    (None, Ok(samples)) => Ok(RecordingSummary {
                        samples,
                        frames_dropped: dropped,
                    }),
                };
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                } else if let Err(e) = result {
                    tracing::warn!(call = rec.call_id, error = %e, "recording not finished");
                }
            }
        }
    }
}

/// The recording of one call, when one runs.
#[derive(Debug, Default)]
pub(crate) struct CallRecording {
    tap: Option<RecordingTap>,
}

impl CallRecording {
    /// Starts recording, finishing any recording already running.
    pub(crate) fn start(&mut self, tap: RecordingTap) {
        self.tap = Some(tap);
    }

    /// Stops recording; the writer thread answers on `reply`.
    pub(crate) fn stop(&mut self, reply: oneshot::Sender<Result<RecordingSummary, MediaError>>) {
        match self.tap.take() {
            Some(mut tap) => tap.finish(Some(reply)),
            None => {
                let _ = reply.send(Err(MediaError::NotRecording));
            }
        }
    }

    /// Frames dropped by the running recording so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.tap.as_ref().map_or(0, |t| t.dropped)
    }

    /// Records one frame of `side`, if recording.
    #[inline]
    pub(crate) fn record(&mut self, side: Side, samples: &[i16; FRAME_SAMPLES]) {
        if let Some(tap) = self.tap.as_mut() {
            tap.push(side, samples);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::command::Op;
    use crate::engine::{EngineConfig, MediaEngine, MediaEvent, MediaSession, MediaStats};
    use crate::engine::{SessionParams, FRAME_DURATION};
    use crate::g711::Codec;
    use crate::recording::RecordMode;
    use crate::rtp::RtpHeader;
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use nix::sys::stat::Mode;
    use std::fs::{File, OpenOptions};
    use std::io::{ErrorKind, Read, Write};
    use std::net::UdpSocket;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicBool;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    /// A disk that stalls on demand: a FIFO whose read end the test holds
    /// without reading, its pipe filled up, so the writer's next write()
    /// blocks; [`StalledDisk::drain`] is the disk catching up.
    struct StalledDisk {
        path: PathBuf,
        reader: File,
        /// Bytes put in the pipe to fill it, before anything recorded.
        filler: usize,
    }

    impl StalledDisk {
        fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("rtp-media-{}-{name}.fifo", std::process::id()));
            let _ = std::fs::remove_file(&path);
            nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
            // Non-blocking, opening the read end does not wait for a writer.
            let nonblocking = OFlag::O_NONBLOCK.bits();
            let reader = OpenOptions::new()
                .read(true)
                .custom_flags(nonblocking)
                .open(&path)
                .unwrap();
            // The smallest pipe (a page), full before the recording starts.
            fcntl(&reader, FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
            let mut fill = OpenOptions::new()
                .write(true)
                .custom_flags(nonblocking)
                .open(&path)
                .unwrap();
            let mut filler = 0;
            loop {
                match fill.write(&[0x55; 512]) {
                    Ok(n) => filler += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("filling the pipe: {e}"),
                }
            }
            drop(fill);
            // Reads wait for data from now on, and end when the recording
            // closes the file.
            fcntl(&reader, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
            StalledDisk {
                path,
                reader,
                filler,
            }
        }

        /// Reads everything until the file is closed, on a thread; returns
        /// what was written after the filler.
        fn drain(self) -> JoinHandle<Vec<u8>> {
            let StalledDisk {
                path,
                mut reader,
                filler,
            } = self;
            std::thread::spawn(move || {
                let mut all = Vec::new();
                reader.read_to_end(&mut all).unwrap();
                let _ = std::fs::remove_file(&path);
                all.split_off(filler)
            })
        }
    }

    /// A writer of the test's own with a queue of `bound` frames (the
    /// engine's holds 10,000: 200 s of one call).
    fn writer_with_queue(bound: usize) -> &'static RecordingWriter {
        Box::leak(Box::new(RecordingWriter::spawn(bound).unwrap()))
    }

    /// Waits up to 10 s for the answer to a finish.
    fn wait_answer(
        mut answer: oneshot::Receiver<Result<RecordingSummary, MediaError>>,
    ) -> Result<RecordingSummary, MediaError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match answer.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("no answer to the finish: {e:?}"),
            }
        }
    }

    /// A file that could not be completed because it is a pipe: the
    /// counts of what was written and dropped.
    fn incomplete_on_a_pipe(result: Result<RecordingSummary, MediaError>) -> RecordingSummary {
        match result {
            Err(e @ MediaError::RecordingIncomplete { .. }) => {
                let text = e.to_string();
                assert!(text.contains("cannot seek back"), "{text}");
                let MediaError::RecordingIncomplete { summary, source } = e else {
                    unreachable!()
                };
                assert!(matches!(source, RecordingError::Finalize(_)), "{source}");
                summary
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_beyond_the_queue_are_dropped_and_counted_while_the_disk_stalls() {
        let disk = StalledDisk::new("writer");
        let writer = writer_with_queue(8);
        // A write buffer smaller than a frame: each frame goes to the
        // pipe at once (the header waits in it, so creating does not block).
        let recorder = Recorder::create_buffered(&disk.path, RecordMode::Caller, 64).unwrap();
        let mut tap = RecordingTap::start_on(writer, 7, recorder).unwrap();
        let pushed = 200u64;
        for i in 0..pushed {
            tap.push(Side::Caller, &[i as i16; FRAME_SAMPLES]);
        }
        // The writer is stuck on the first frame: the queue filled up and
        // the rest was dropped, without the pushes ever waiting.
        let dropped = tap.dropped;
        assert!(dropped > 0 && dropped <= pushed - 8, "{dropped}");

        let (reply, answer) = oneshot::channel();
        tap.finish(Some(reply));
        std::thread::sleep(Duration::from_millis(100));
        let mut answer = answer;
        assert!(
            matches!(answer.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
            "finished although the disk stalls"
        );
        let data = disk.drain();
        let summary = incomplete_on_a_pipe(wait_answer(answer));
        let bytes = data.join().unwrap();

        assert_eq!(summary.frames_dropped, dropped);
        let kept = pushed - dropped;
        assert_eq!(summary.samples, kept * FRAME_SAMPLES as u64);
        // The header (sizes never filled in) and the frames kept, in order.
        assert_eq!(bytes.len() as u64, 44 + 2 * summary.samples);
        assert_eq!(&bytes[..4], b"RIFF");
        let firsts: Vec<i16> = bytes[44..]
            .chunks(2 * FRAME_SAMPLES)
            .map(|f| i16::from_le_bytes([f[0], f[1]]))
            .collect();
        assert!(firsts.windows(2).all(|w| w[0] < w[1]), "{firsts:?}");
        assert_eq!(firsts[0], 0);
    }

    /// The session's statistics, waiting up to 2 s for them.
    async fn stats(s: &mut MediaSession) -> MediaStats {
        s.request_stats().unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let next = tokio::time::timeout(Duration::from_millis(200), s.next_event());
            if let Ok(Some(MediaEvent::Stats(st))) = next.await {
                return st;
            }
        }
        panic!("no stats");
    }

    /// Waits up to 10 s for statistics that satisfy `ok`.
    async fn stats_until(s: &mut MediaSession, ok: impl Fn(&MediaStats) -> bool) -> MediaStats {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = stats(s).await;
            if ok(&st) {
                return st;
            }
            assert!(Instant::now() < deadline, "{st:?}");
            tokio::time::sleep(FRAME_DURATION * 5).await;
        }
    }

    #[tokio::test]
    async fn a_stalled_recording_drops_frames_the_call_goes_on_and_stop_completes_once_the_disk_catches_up(
    ) {
        let engine = MediaEngine::new(EngineConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            port_range: 22560..=22563,
            frame_queue: 1000,
            event_queue: 256,
            vad: None,
            ..EngineConfig::default()
        })
        .unwrap();
        let far = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut params = SessionParams::new(Codec::Pcmu);
        params.remote_rtp = Some(far.local_addr().unwrap());
        let mut s = engine.open_session(params).unwrap();

        let disk = StalledDisk::new("call");
        let recorder = Recorder::create_buffered(&disk.path, RecordMode::Caller, 64).unwrap();
        let tap = RecordingTap::start_on(writer_with_queue(16), s.id(), recorder).unwrap();
        s.send(Op::StartRecording(Box::new(tap))).unwrap();

        // The far end talks until told to stop; the call plays to it.
        let talking = Arc::new(AtomicBool::new(true));
        let sender = {
            let (talking, to) = (Arc::clone(&talking), s.local_rtp_addr());
            let far = far.try_clone().unwrap();
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut payload = [0u8; FRAME_SAMPLES];
                Codec::Pcmu.encode(&[2000; FRAME_SAMPLES], &mut payload);
                let mut pkt = [0u8; 12 + FRAME_SAMPLES];
                let mut i = 0u32;
                while talking.load(Ordering::Relaxed) {
                    let header = RtpHeader::new(0, i as u16, i * 160, 0x7a9e);
                    let n = header.write_packet(&payload, 0, &mut pkt).unwrap();
                    far.send_to(&pkt[..n], to).unwrap();
                    i += 1;
                    let next = start + FRAME_DURATION * i;
                    if let Some(d) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(d);
                    }
                }
            })
        };
        s.play(vec![1000; 8000 * 60]).unwrap();

        // Frames are dropped once the queue is full ...
        let first = stats_until(&mut s, |st| st.recording_dropped > 0).await;
        // ... and the call goes on receiving, delivering and sending.
        let later = stats_until(&mut s, |st| {
            st.packets_received >= first.packets_received + 25
                && st.frames_delivered >= first.frames_delivered + 25
                && st.packets_sent >= first.packets_sent + 25
        })
        .await;
        assert!(later.recording_dropped >= first.recording_dropped + 20);
        assert_eq!(later.frames_overflowed, 0);

        let (result, data) = {
            // The stop waits for the stalled disk ...
            let stop = s.stop_recording();
            tokio::pin!(stop);
            let early = tokio::time::timeout(Duration::from_millis(200), &mut stop).await;
            assert!(early.is_err(), "stopped although the disk stalls");
            // ... and completes once it catches up.
            let data = disk.drain();
            let result = tokio::time::timeout(Duration::from_secs(10), stop)
                .await
                .expect("the stop completes once the disk has caught up");
            (result, data)
        };
        let summary = incomplete_on_a_pipe(result);
        assert!(summary.frames_dropped >= later.recording_dropped);
        let bytes = data.join().unwrap();
        assert_eq!(bytes.len() as u64, 44 + 2 * summary.samples);

        // The call is still there.
        let after = stats(&mut s).await;
        assert!(after.packets_sent > later.packets_sent);
        assert_eq!(after.recording_dropped, 0, "not recording any more");
        talking.store(false, Ordering::Relaxed);
        sender.join().unwrap();
    }
}
