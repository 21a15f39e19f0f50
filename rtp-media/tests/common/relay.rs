//! An impairing UDP relay for tests: forwards datagrams between a client
//! (side A) and a fixed target (side B) with delay, jitter, loss, reordering
//! and duplication from a seeded generator, so runs are reproducible.

#![allow(dead_code)] // each test binary uses a different part

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the relay does to each datagram.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Mean one-way delay.
    pub delay: Duration,
    /// Delay varies uniformly within ± this.
    pub jitter: Duration,
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is held back an extra `reorder_by`.
    pub reorder: f64,
    /// Extra delay of a reordered datagram.
    pub reorder_by: Duration,
    /// Probability a datagram is sent twice (each copy delayed on its own).
    pub duplicate: f64,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for Impairment {
    /// 40 ms ± 30 ms, 3% loss, 1% reorder, 1% duplicates.
    fn default() -> Self {
        Impairment {
            delay: Duration::from_millis(40),
            jitter: Duration::from_millis(30),
            loss: 0.03,
            reorder: 0.01,
            reorder_by: Duration::from_millis(50),
            duplicate: 0.01,
            seed: 0x5EED_1234,
        }
    }
}

/// xorshift64*: tiny, seeded, good enough for test impairments.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the relay did, per direction.
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Datagrams received from side A.
    pub a_in: AtomicU64,
    /// Datagrams dropped A→B.
    pub a_lost: AtomicU64,
    /// Datagrams duplicated A→B.
    pub a_duplicated: AtomicU64,
    /// Datagrams held back A→B.
    pub a_reordered: AtomicU64,
    /// Datagrams received from side B.
    pub b_in: AtomicU64,
    /// Datagrams dropped B→A.
    pub b_lost: AtomicU64,
}

/// A running relay; stops when dropped.
pub struct ImpairmentRelay {
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Counters, updated live.
    pub counters: Arc<RelayCounters>,
}

struct Due {
    at: Instant,
    order: u64,
    to_b: bool,
    data: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

impl ImpairmentRelay {
    /// Relays between whoever sends to [`Self::a_addr`] and `target`,
    /// impairing both directions with `imp`.
    pub fn start(target: SocketAddr, imp: Impairment) -> std::io::Result<Self> {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let b = UdpSocket::bind("127.0.0.1:0")?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        let a_addr = a.local_addr()?;
        let b_addr = b.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(RelayCounters::default());
        let thread = {
            let stop = Arc::clone(&stop);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("impairment-relay".into())
                .spawn(move || run(a, b, target, imp, &stop, &counters))?
        };
        Ok(ImpairmentRelay {
            a_addr,
            b_addr,
            stop,
            thread: Some(thread),
            counters,
        })
    }

    /// Where side A sends.
    pub fn a_addr(&self) -> SocketAddr {
        self.a_addr
    }

    /// The address side B sees datagrams coming from.
    pub fn b_addr(&self) -> SocketAddr {
        self.b_addr
    }
}

impl Drop for ImpairmentRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    a: UdpSocket,
    b: UdpSocket,
    target: SocketAddr,
    imp: Impairment,
    stop: &AtomicBool,
    counters: &RelayCounters,
) {
    let mut rng = XorShift::new(imp.seed);
    let mut queue: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut a_peer: Option<SocketAddr> = None;
    let mut buf = [0u8; 2048];
    let delay = |rng: &mut XorShift| {
        let j = imp.jitter.as_secs_f64();
        let d = imp.delay.as_secs_f64() + (rng.next_f64() * 2.0 - 1.0) * j;
        Duration::from_secs_f64(d.max(0.0))
    };
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for (sock, to_b) in [(&a, true), (&b, false)] {
            loop {
                let (n, src) = match sock.recv_from(&mut buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                };
                if to_b {
                    a_peer = Some(src);
                    counters.a_in.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.b_in.fetch_add(1, Ordering::Relaxed);
                }
                if rng.next_f64() < imp.loss {
                    let c = if to_b {
                        &counters.a_lost
                    } else {
                        &counters.b_lost
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let copies = if rng.next_f64() < imp.duplicate {
                    if to_b {
                        counters.a_duplicated.fetch_add(1, Ordering::Relaxed);
                    }
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let mut d = delay(&mut rng);
                    if rng.next_f64() < imp.reorder {
                        d += imp.reorder_by;
                        if to_b {
                            counters.a_reordered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    order += 1;
                    queue.push(Reverse(Due {
                        at: now + d,
                        order,
                        to_b,
                        data: buf[..n].to_vec(),
                    }));
                }
            }
        }
        while queue.peek().is_some_and(|Reverse(d)| d.at <= now) {
            let Some(Reverse(d)) = queue.pop() else { break };
            let _ = if d.to_b {
                b.send_to(&d.data, target)
            } else if let Some(p) = a_peer {
                a.send_to(&d.data, p)
            } else {
                continue;
            };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
