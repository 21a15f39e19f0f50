//! A small unbounded single-consumer queue for per-call and per-transaction
//! events.
//!
//! tokio's unbounded channel allocates a block of 32 slots up front for
//! every channel, which for a call's event type is kilobytes per call
//! before any event is sent. A phone line holds tens of thousands of calls
//! and transactions at once and most of them see two or three events in
//! their life, so this queue allocates nothing until the first event and
//! then grows like a `VecDeque`. Same shape as tokio's API: `send` fails
//! once the receiver is gone, `recv` returns `None` once every sender is
//! gone and the queue is drained.

use crate::util::LockExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

struct Shared<T> {
    items: Mutex<VecDeque<T>>,
    notify: Notify,
    senders: AtomicUsize,
    receiver_alive: AtomicBool,
}

/// The sending half; cloneable.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// The receiver is gone; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// A new queue.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        items: Mutex::new(VecDeque::new()),
        notify: Notify::new(),
        senders: AtomicUsize::new(1),
        receiver_alive: AtomicBool::new(true),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queues `value` unless the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if !self.shared.receiver_alive.load(Ordering::Acquire) {
            return Err(SendError(value));
        }
        self.shared.items.locked().push_back(value);
        // A stored permit wakes the receiver even if it is not waiting yet.
        self.shared.notify.notify_one();
        Ok(())
    }

    /// True when `rx` is this queue's receiver.
    pub fn feeds(&self, rx: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &rx.shared)
    }

    /// True once the receiver is gone.
    pub fn is_closed(&self) -> bool {
        !self.shared.receiver_alive.load(Ordering::Acquire)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::AcqRel);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.notify.notify_one();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value, waiting for one; `None` once all senders are gone
    /// and nothing is left.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(v) = self.try_recv() {
                return Some(v);
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                // A value sent just before the last sender dropped.
                return self.try_recv();
            }
            self.shared.notify.notified().await;
        }
    }

    /// The next value if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        self.shared.items.locked().pop_front()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receiver_alive.store(false, Ordering::Release);
        self.shared.items.locked().clear();
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("queue::Sender")
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("queue::Receiver")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_arrive_in_order_and_end_when_senders_drop() {
        let (tx, mut rx) = unbounded();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        drop(tx);
        let t = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx2.send(3).unwrap();
        });
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        t.await.unwrap();
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn send_fails_after_the_receiver_is_gone() {
        let (tx, rx) = unbounded();
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(7), Err(SendError(7)));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken() {
        let (tx, mut rx) = unbounded();
        let waiter = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.send("x").unwrap();
        assert_eq!(waiter.await.unwrap(), Some("x"));
    }
}
