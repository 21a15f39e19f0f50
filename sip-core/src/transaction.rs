//! RFC 3261 section 17 transactions, with the RFC 6026 corrections for
//! INVITE: client and server, INVITE and non-INVITE, timers A to M,
//! retransmission over UDP, absorption of retransmitted requests and
//! responses, the ACK for a non-2xx final response sent inside the client
//! transaction, and retransmission of a 2xx until its ACK arrives.
//!
//! Each transaction is a small tokio task that owns its state and timers;
//! the [`TransactionLayer`] keeps the tables that route received messages
//! to them (RFC 3261 17.1.3 and 17.2.3 matching).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::queue;
use crate::util::LockExt;
use bytes::Bytes;
use tokio::time::{sleep_until, Instant};
use tracing::{debug, trace};

use crate::message::{HeaderName, Message, MessageBuilder, Method, Request, Response};
use crate::transport::{Transport, TransportError, Transports};

/// The RFC 3261 timer base values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE
    /// responses, 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Identifies a server transaction (RFC 3261 17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// A request with an RFC 3261 branch: branch, sent-by and method
    /// (ACK is matched as INVITE).
    Branch {
        /// The branch parameter.
        branch: String,
        /// The top Via's sent-by.
        sent_by: String,
        /// The method, INVITE for an ACK.
        method: String,
    },
    /// An RFC 2543 request without the magic cookie: matched on the
    /// Request-URI, tags, Call-ID, CSeq number and top Via.
    Legacy {
        /// Request-URI.
        uri: String,
        /// From tag.
        from_tag: String,
        /// Call-ID.
        call_id: String,
        /// CSeq number.
        cseq: u32,
        /// Top Via as written.
        via: String,
        /// Method (INVITE for ACK).
        method: String,
    },
}

impl ServerKey {
    /// The key of a received request, or `None` when its headers cannot
    /// identify it (the request was screened before, so this is rare).
    pub fn of(req: &Request<'_>) -> Option<ServerKey> {
        let via = req.headers.top_via().ok()?;
        let method = match req.method {
            Method::Ack => "INVITE".to_string(),
            m => m.as_str().to_string(),
        };
        if via.has_rfc3261_branch() {
            let sent_by = match via.port {
                Some(p) => format!("{}:{p}", via.host_str.to_ascii_lowercase()),
                None => via.host_str.to_ascii_lowercase(),
            };
            Some(ServerKey::Branch {
                branch: via.branch()?.to_string(),
                sent_by,
                method,
            })
        } else {
            let from_tag = req.headers.from().ok()?.tag().unwrap_or("").to_string();
            Some(ServerKey::Legacy {
                uri: req.uri.to_string(),
                from_tag,
                call_id: req.headers.call_id()?.to_string(),
                cseq: req.headers.cseq().ok()?.seq,
                via: req.headers.list(HeaderName::Via).next()?.to_string(),
                method,
            })
        }
    }

    /// The key of the INVITE transaction a CANCEL refers to.
    pub fn invite_for_cancel(cancel: &Request<'_>) -> Option<ServerKey> {
        match ServerKey::of(cancel)? {
            ServerKey::Branch {
                branch, sent_by, ..
            } => Some(ServerKey::Branch {
                branch,
                sent_by,
                method: "INVITE".into(),
            }),
            ServerKey::Legacy {
                uri,
                from_tag,
                call_id,
                cseq,
                via,
                ..
            } => Some(ServerKey::Legacy {
                uri,
                from_tag,
                call_id,
                cseq,
                via,
                method: "INVITE".into(),
            }),
        }
    }
}

/// Identifies a client transaction: our branch and the CSeq method
/// (RFC 3261 17.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The branch we put in our Via.
    pub branch: String,
    /// The method (CANCEL has its own transaction with the INVITE's branch).
    pub method: String,
}

impl ClientKey {
    /// The key a received response belongs to.
    pub fn of(resp: &Response<'_>) -> Option<ClientKey> {
        let via = resp.headers.top_via().ok()?;
        let cseq = resp.headers.cseq().ok()?;
        Some(ClientKey {
            branch: via.branch()?.to_string(),
            method: cseq.method.as_str().to_string(),
        })
    }
}

/// What a server transaction tells its transaction user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The ACK for our non-2xx final response to an INVITE arrived.
    AckReceived,
    /// Timer H: no ACK for a non-2xx final response.
    AckTimeout,
    /// Timer L expired without the dialog confirming the ACK of our 2xx.
    NoAckFor2xx,
    /// The transaction ended.
    Terminated,
}

enum ServerInput {
    /// The request was received again.
    Retransmission,
    /// An ACK matched this (INVITE, non-2xx) transaction.
    Ack,
    /// The transaction user responds.
    Respond(u16, Bytes),
    /// The dialog saw the ACK for our 2xx, or ended without it.
    Settle2xx,
    /// Run this if timer L fires without the ACK for our 2xx.
    OnNoAck(Box<dyn FnOnce() + Send>),
    /// Send this response, then run this.
    RespondThen(u16, Bytes, Box<dyn FnOnce() + Send>),
}

/// A server transaction's entry in the layer's table.
#[derive(Debug)]
enum ServerEntry {
    /// A task runs it.
    Live(queue::Sender<ServerInput>),
    /// Its work is done and nobody waits for its events: until Timer J/L
    /// expires it only answers retransmissions of its request with its
    /// last response, which needs no task, no queues and no timer of its
    /// own (at 5,000 calls/s some 320,000 transactions are in this state).
    Lingering {
        last: Bytes,
        dest: SocketAddr,
        transport: Transport,
    },
}

/// The transaction user's handle on a server transaction.
#[derive(Debug, Clone)]
pub struct ServerTransaction {
    key: ServerKey,
    input: queue::Sender<ServerInput>,
}

impl ServerTransaction {
    /// Sends a response (the transaction retransmits it as RFC 3261 says).
    pub fn respond(&self, code: u16, bytes: impl Into<Bytes>) {
        let _ = self.input.send(ServerInput::Respond(code, bytes.into()));
    }

    /// Sends a response, then runs `then`: for work whose own messages
    /// must reach the wire after this response (RFC 3261 9.2: the 200 to
    /// a CANCEL, then the 487 to the INVITE), which two transactions'
    /// tasks would otherwise send in either order.
    pub fn respond_then(&self, code: u16, bytes: impl Into<Bytes>, then: Box<dyn FnOnce() + Send>) {
        let _ = self
            .input
            .send(ServerInput::RespondThen(code, bytes.into(), then));
    }

    /// Tells an INVITE transaction in the Accepted state that the dialog
    /// received the ACK for its 2xx, so it stops retransmitting.
    pub fn ack_2xx_received(&self) {
        let _ = self.input.send(ServerInput::Settle2xx);
    }

    /// Tells an INVITE transaction in the Accepted state that its dialog
    /// ended before the ACK for our 2xx came (a BYE overtook it): the 2xx
    /// is not retransmitted any more and Timer L ends the transaction
    /// quietly, as pjsip and FreeSWITCH do.
    pub fn dialog_ended(&self) {
        let _ = self.input.send(ServerInput::Settle2xx);
    }

    /// Sets what to do when our 2xx to an INVITE is never acknowledged
    /// (timer L fires first): the dialog's owner ends the call. A callback
    /// rather than a task waiting on [`ServerEvent::NoAckFor2xx`], so an
    /// answered call costs no extra task.
    pub fn on_no_ack(&self, f: Box<dyn FnOnce() + Send>) {
        let _ = self.input.send(ServerInput::OnNoAck(f));
    }

    /// The transaction's key.
    pub fn key(&self) -> &ServerKey {
        &self.key
    }
}

/// What became of a received request at the transaction layer.
#[derive(Debug)]
pub enum RequestDisposition {
    /// A new transaction: the transaction user must respond through it.
    New(ServerTransaction, queue::Receiver<ServerEvent>),
    /// A retransmission, absorbed here.
    Absorbed,
    /// An ACK. When it matched an INVITE transaction (the ACK for a non-2xx,
    /// or a peer that reuses the INVITE's branch for the ACK of a 2xx) the
    /// transaction has been told; either way the dialog layer gets it, as
    /// the ACK for a 2xx is its business (RFC 3261 13.3.1.4).
    Ack,
}

/// What a client transaction tells its transaction user.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// A provisional response.
    Provisional(Bytes),
    /// A final response (for INVITE, 2xx retransmissions are delivered
    /// again so that the dialog re-sends its ACK).
    Final(Bytes),
    /// Timer B or F: no final response.
    Timeout,
    /// The request could not be sent.
    TransportError(Arc<TransportError>),
}

enum ClientInput {
    Response(u16, Bytes),
}

/// The next event of a client transaction, giving up after `silence`
/// when `silence` is set and nothing has been heard from the target yet:
/// then [`ClientEvent::Timeout`] is returned early, as when a server does
/// not answer, so that the caller can fail over to the next server (RFC
/// 3263 4.3) without waiting the whole Timer B/F (32 s at T1 = 500 ms).
/// Dropping the receiver afterwards abandons the transaction.
pub async fn next_event_within(
    events: &mut queue::Receiver<ClientEvent>,
    silence: Option<Duration>,
) -> Option<ClientEvent> {
    match silence {
        Some(limit) => match tokio::time::timeout(limit, events.recv()).await {
            Ok(ev) => ev,
            Err(_) => Some(ClientEvent::Timeout),
        },
        None => events.recv().await,
    }
}

/// A request to send in a new client transaction.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// The serialized request; its top Via carries `branch`.
    pub bytes: Bytes,
    /// The branch in the top Via.
    pub branch: String,
    /// The method.
    pub method: Method<'static>,
    /// Where to send it.
    pub dest: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
}

/// Routes received messages to transactions and starts new ones.
#[derive(Debug)]
pub struct TransactionLayer {
    transports: Arc<Transports>,
    timers: Timers,
    server: Mutex<HashMap<ServerKey, ServerEntry>>,
    /// Lingering server transactions by expiry, oldest first.
    lingering: Mutex<VecDeque<(Instant, ServerKey)>>,
    client: Mutex<HashMap<ClientKey, queue::Sender<ClientInput>>>,
}

impl TransactionLayer {
    /// A layer sending through `transports`.
    pub fn new(transports: Arc<Transports>, timers: Timers) -> Arc<TransactionLayer> {
        let layer = Arc::new(TransactionLayer {
            transports,
            timers,
            server: Mutex::new(HashMap::new()),
            lingering: Mutex::new(VecDeque::new()),
            client: Mutex::new(HashMap::new()),
        });
        tokio::spawn(sweep_lingering(Arc::downgrade(&layer)));
        layer
    }

    /// Drops lingering transactions whose time is up; returns when the
    /// next one expires.
    fn sweep(&self, now: Instant) -> Option<Instant> {
        let mut expired = Vec::new();
        let next = {
            let mut q = self.lingering.locked();
            loop {
                match q.front() {
                    Some((until, _)) if *until <= now => {
                        if let Some((_, key)) = q.pop_front() {
                            expired.push(key);
                        }
                    }
                    Some((until, _)) => break Some(*until),
                    None => break None,
                }
            }
        };
        if !expired.is_empty() {
            let mut map = self.server.locked();
            for key in expired {
                if let Some(ServerEntry::Lingering { .. }) = map.get(&key) {
                    map.remove(&key);
                }
            }
        }
        next
    }

    /// The transports this layer sends through.
    pub fn transports(&self) -> &Arc<Transports> {
        &self.transports
    }

    /// The timer values.
    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// Number of live server and client transactions.
    pub fn counts(&self) -> (usize, usize) {
        let s = self.server.locked().len();
        let c = self.client.locked().len();
        (s, c)
    }

    /// Matches a received request. `reply_to` is where responses go
    /// (RFC 3261 18.2.2 and RFC 3581, decided by the caller).
    pub fn on_request(
        self: &Arc<Self>,
        req: &Request<'_>,
        reply_to: SocketAddr,
        transport: Transport,
    ) -> Option<RequestDisposition> {
        let key = ServerKey::of(req)?;
        // One lock for the lookup and the insertion: two copies of a
        // request received at once (over two sockets or connections) find
        // one transaction, never start two.
        let mut map = self.server.locked();
        match map.get(&key) {
            Some(ServerEntry::Live(tx)) => {
                if req.method == Method::Ack {
                    let _ = tx.send(ServerInput::Ack);
                    return Some(RequestDisposition::Ack);
                }
                if tx.send(ServerInput::Retransmission).is_ok() {
                    return Some(RequestDisposition::Absorbed);
                }
                // The task is gone and its entry with it in a moment: the
                // request starts a new transaction below.
            }
            Some(ServerEntry::Lingering {
                last,
                dest,
                transport,
            }) => {
                if req.method == Method::Ack {
                    return Some(RequestDisposition::Ack);
                }
                let (last, dest, transport) = (last.clone(), *dest, *transport);
                drop(map);
                trace!("request retransmission absorbed; resending last response");
                self.transports.send_now(dest, transport, last);
                return Some(RequestDisposition::Absorbed);
            }
            None => {}
        }
        if req.method == Method::Ack {
            return Some(RequestDisposition::Ack);
        }
        let (input_tx, input_rx) = queue::unbounded();
        let (event_tx, event_rx) = queue::unbounded();
        map.insert(key.clone(), ServerEntry::Live(input_tx.clone()));
        drop(map);
        let task = ServerTask {
            layer: self.clone(),
            key: key.clone(),
            invite: req.method == Method::Invite,
            dest: reply_to,
            transport,
            input: input_rx,
            events: event_tx,
        };
        tokio::spawn(task.run());
        Some(RequestDisposition::New(
            ServerTransaction {
                key,
                input: input_tx,
            },
            event_rx,
        ))
    }

    /// The server transaction with this key, if it is still alive (CANCEL
    /// looks up its INVITE this way).
    pub fn server_transaction(&self, key: &ServerKey) -> Option<ServerTransaction> {
        let map = self.server.locked();
        match map.get(key) {
            Some(ServerEntry::Live(input)) => Some(ServerTransaction {
                key: key.clone(),
                input: input.clone(),
            }),
            _ => None,
        }
    }

    /// Whether a server transaction with this key is in the table, live
    /// or lingering after its final response (until Timer J/L): `None`
    /// when it is not; for a lingering one, the To tag of its final
    /// response.
    pub fn server_transaction_tag(&self, key: &ServerKey) -> Option<Option<String>> {
        let last = match self.server.locked().get(key)? {
            ServerEntry::Live(_) => return Some(None),
            ServerEntry::Lingering { last, .. } => last.clone(),
        };
        let tag = match Message::parse(&last) {
            Ok(m) => m
                .headers()
                .to()
                .ok()
                .and_then(|t| t.tag().map(str::to_string)),
            Err(_) => None,
        };
        Some(tag)
    }

    /// Delivers a received response to its client transaction. Returns
    /// false when none matches (a stray or a 2xx retransmission after the
    /// transaction ended, which the dialog layer may still want).
    pub fn on_response(&self, resp: &Response<'_>, raw: &Bytes) -> bool {
        let Some(key) = ClientKey::of(resp) else {
            return false;
        };
        let map = self.client.locked();
        match map.get(&key) {
            Some(tx) => tx
                .send(ClientInput::Response(resp.code, raw.clone()))
                .is_ok(),
            None => false,
        }
    }

    /// Starts a client transaction; its events arrive on the returned
    /// receiver, which ends when the transaction terminates.
    pub fn send_request(self: &Arc<Self>, req: OutgoingRequest) -> queue::Receiver<ClientEvent> {
        let (input_tx, input_rx) = queue::unbounded();
        let (event_tx, event_rx) = queue::unbounded();
        let key = ClientKey {
            branch: req.branch.clone(),
            method: req.method.as_str().to_string(),
        };
        self.client.locked().insert(key.clone(), input_tx);
        tokio::spawn(
            ClientTask {
                layer: self.clone(),
                key,
                req,
                input: input_rx,
                events: event_tx,
            }
            .run(),
        );
        event_rx
    }

    /// Sends a message outside any transaction (the ACK for a 2xx, a
    /// stateless response).
    pub fn send_stateless(&self, dest: SocketAddr, transport: Transport, bytes: Bytes) {
        self.transports.send_now(dest, transport, bytes);
    }
}

/// Removes expired lingering server transactions; ends with the layer.
async fn sweep_lingering(layer: std::sync::Weak<TransactionLayer>) {
    loop {
        let next = match layer.upgrade() {
            Some(l) => l.sweep(Instant::now()),
            None => return,
        };
        // At most a second late, and a second between checks for the end
        // of the layer.
        let cap = Instant::now() + Duration::from_secs(1);
        sleep_until(next.map_or(cap, |n| n.min(cap))).await;
    }
}

struct ServerTask {
    layer: Arc<TransactionLayer>,
    key: ServerKey,
    invite: bool,
    dest: SocketAddr,
    transport: Transport,
    input: queue::Receiver<ServerInput>,
    events: queue::Sender<ServerEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Trying,
    Proceeding,
    /// Non-2xx final sent (INVITE) or any final sent (non-INVITE).
    Completed,
    /// INVITE: ACK received for a non-2xx.
    Confirmed,
    /// INVITE: 2xx sent (RFC 6026).
    Accepted,
}

impl ServerTask {
    fn send(&self, bytes: &Bytes) {
        self.layer
            .transports
            .send_now(self.dest, self.transport, bytes.clone());
    }

    /// The transaction user responds: send, and move to the state the
    /// response leads to with its timers.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &self,
        code: u16,
        bytes: Bytes,
        state: &mut ServerState,
        last: &mut Option<Bytes>,
        retransmit_at: &mut Option<Instant>,
        interval: &mut Duration,
        end_at: &mut Option<Instant>,
    ) {
        let t = self.layer.timers;
        let unreliable = self.transport.is_unreliable();
        if matches!(*state, ServerState::Completed | ServerState::Confirmed)
            || (*state == ServerState::Accepted && code >= 300)
        {
            debug!(code, "response after final ignored");
            return;
        }
        self.send(&bytes);
        *last = Some(bytes);
        let now = Instant::now();
        if code < 200 {
            *state = ServerState::Proceeding;
        } else if self.invite && code < 300 {
            // RFC 6026 Accepted: retransmit the 2xx until the dialog sees
            // the ACK (RFC 3261 13.3.1.4), for Timer L = 64*T1; absorb
            // INVITE retransmissions.
            *state = ServerState::Accepted;
            *interval = t.t1;
            *retransmit_at = unreliable.then_some(now + *interval);
            *end_at = Some(now + t.t1 * 64);
        } else if self.invite {
            *state = ServerState::Completed;
            *interval = t.t1;
            *retransmit_at = unreliable.then_some(now + *interval);
            *end_at = Some(now + t.t1 * 64); // Timer H
        } else {
            *state = ServerState::Completed;
            // Timer J
            *end_at = Some(
                now + if unreliable {
                    t.t1 * 64
                } else {
                    Duration::ZERO
                },
            );
        }
    }

    async fn run(mut self) {
        let t = self.layer.timers;
        let unreliable = self.transport.is_unreliable();
        let mut state = ServerState::Trying;
        let mut last: Option<Bytes> = None;
        // The retransmission timer (G, or the 2xx timer) and its interval.
        let mut retransmit_at: Option<Instant> = None;
        let mut interval = t.t1;
        // The state's end timer (H, I, J, L).
        let mut end_at: Option<Instant> = None;
        let mut no_ack: Option<Box<dyn FnOnce() + Send>> = None;
        // Accepted: the dialog saw the ACK for our 2xx (or ended without
        // it). Kept apart from the retransmission timer, which never runs
        // over TCP: Timer L must end an unacknowledged call there too.
        let mut settled = false;
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        // An INVITE server transaction whose TU never answers is bounded
        // by the TU (Timer C-like); a non-INVITE one by Timer F's length.
        if !self.invite {
            end_at = Some(Instant::now() + t.t1 * 64 + t.t4);
        }
        loop {
            let wake = retransmit_at.into_iter().chain(end_at).min().unwrap_or(far);
            tokio::select! {
                input = self.input.recv() => {
                    let Some(input) = input else { break };
                    match input {
                        ServerInput::Retransmission => {
                            if let Some(b) = &last {
                                trace!("request retransmission absorbed; resending last response");
                                self.send(b);
                            }
                        }
                        // An ACK with the INVITE's branch: whether it is
                        // for our 2xx is the dialog's call (it gets the
                        // ACK too and says so with `Settle2xx`).
                        ServerInput::Ack if state == ServerState::Accepted => {}
                        ServerInput::Ack => {
                            if self.invite && state == ServerState::Completed {
                                state = ServerState::Confirmed;
                                retransmit_at = None;
                                let _ = self.events.send(ServerEvent::AckReceived);
                                end_at = Some(Instant::now() + if unreliable { t.t4 } else { Duration::ZERO });
                            }
                        }
                        ServerInput::Settle2xx => {
                            if state == ServerState::Accepted {
                                settled = true;
                                retransmit_at = None;
                                no_ack = None;
                            }
                        }
                        ServerInput::OnNoAck(f) => no_ack = Some(f),
                        ServerInput::Respond(code, bytes) => {
                            self.respond(code, bytes, &mut state, &mut last, &mut retransmit_at, &mut interval, &mut end_at);
                        }
                        ServerInput::RespondThen(code, bytes, then) => {
                            self.respond(code, bytes, &mut state, &mut last, &mut retransmit_at, &mut interval, &mut end_at);
                            then();
                        }
                    }
                    // All that is left is answering retransmissions until
                    // Timer J (non-INVITE) or L (INVITE, ACK received), and
                    // nobody waits for our events: hand over to the table.
                    let quiet = unreliable
                        && match state {
                            ServerState::Completed => !self.invite,
                            ServerState::Accepted => settled,
                            _ => false,
                        };
                    if quiet && self.events.is_closed() {
                        if let (Some(b), Some(until)) = (&last, end_at) {
                            let b = b.clone();
                            self.linger(b, until);
                            return;
                        }
                    }
                }
                _ = sleep_until(wake) => {
                    let now = Instant::now();
                    if retransmit_at.is_some_and(|r| r <= now) {
                        if let Some(b) = &last {
                            self.send(b);
                        }
                        interval = (interval * 2).min(t.t2);
                        retransmit_at = Some(now + interval);
                    }
                    if end_at.is_some_and(|e| e <= now) {
                        match state {
                            ServerState::Completed if self.invite => {
                                let _ = self.events.send(ServerEvent::AckTimeout);
                            }
                            ServerState::Accepted if !settled => {
                                let _ = self.events.send(ServerEvent::NoAckFor2xx);
                                if let Some(f) = no_ack.take() {
                                    f();
                                }
                            }
                            _ => {}
                        }
                        break;
                    }
                }
            }
        }
        {
            // Our entry only: never one that replaced it.
            let mut map = self.layer.server.locked();
            if matches!(map.get(&self.key), Some(ServerEntry::Live(tx)) if tx.feeds(&self.input)) {
                map.remove(&self.key);
            }
        }
        let _ = self.events.send(ServerEvent::Terminated);
    }

    /// Hands the finished transaction over to the table: an entry that
    /// answers retransmissions of its request with `last` until `until`.
    fn linger(&mut self, last: Bytes, until: Instant) {
        // Exactly the response's bytes: the builder's buffer may be larger.
        let last = Bytes::copy_from_slice(&last);
        let mut then = Vec::new();
        {
            // Under the table lock, so that a retransmission is either
            // queued here already (answered now) or finds the new entry.
            let mut map = self.layer.server.locked();
            while let Some(queued) = self.input.try_recv() {
                match queued {
                    ServerInput::Retransmission => self.send(&last),
                    ServerInput::RespondThen(_, _, f) => then.push(f),
                    _ => {}
                }
            }
            map.insert(
                self.key.clone(),
                ServerEntry::Lingering {
                    last,
                    dest: self.dest,
                    transport: self.transport,
                },
            );
        }
        self.layer
            .lingering
            .locked()
            .push_back((until, self.key.clone()));
        for f in then {
            f();
        }
    }
}

struct ClientTask {
    layer: Arc<TransactionLayer>,
    key: ClientKey,
    req: OutgoingRequest,
    input: queue::Receiver<ClientInput>,
    events: queue::Sender<ClientEvent>,
}

/// Builds the ACK for a non-2xx final response to an INVITE (RFC 3261
/// 17.1.1.3): same Request-URI, top Via, From, Call-ID, CSeq number and
/// Route as the INVITE, To from the response.
pub fn ack_for_non_2xx(invite: &[u8], response: &[u8]) -> Option<Vec<u8>> {
    let inv = Message::parse(invite).ok()?;
    let inv = inv.as_request()?;
    let resp = Message::parse(response).ok()?;
    let mut b = MessageBuilder::request(Method::Ack, inv.uri);
    b.header(HeaderName::Via, inv.headers.list(HeaderName::Via).next()?);
    for r in inv.headers.get_all(HeaderName::Route) {
        b.header(HeaderName::Route, r);
    }
    b.header(HeaderName::MaxForwards, 70);
    b.header(HeaderName::From, inv.headers.get(HeaderName::From)?);
    b.header(HeaderName::To, resp.headers().get(HeaderName::To)?);
    b.header(HeaderName::CallId, inv.headers.call_id()?);
    b.header(
        HeaderName::CSeq,
        format_args!("{} ACK", inv.headers.cseq().ok()?.seq),
    );
    Some(b.finish())
}

impl ClientTask {
    fn send(&self, bytes: &Bytes) {
        self.layer
            .transports
            .send_now(self.req.dest, self.req.transport, bytes.clone());
    }

    async fn run(mut self) {
        let t = self.layer.timers;
        let invite = self.req.method == Method::Invite;
        let unreliable = self.req.transport.is_unreliable();
        let start = Instant::now();
        // First send awaits so that a TCP connect failure is reported.
        if let Err(e) = self
            .layer
            .transports
            .send(self.req.dest, self.req.transport, self.req.bytes.clone())
            .await
        {
            let _ = self.events.send(ClientEvent::TransportError(Arc::new(e)));
            self.finish();
            return;
        }
        let mut interval = t.t1;
        let mut retransmit_at = if unreliable {
            Some(start + interval)
        } else {
            None
        };
        // Timer B / F.
        let mut end_at = start + t.t1 * 64;
        let mut proceeding = false;
        let mut completed = false;
        let mut accepted = false;
        let mut ack: Option<Bytes> = None;
        loop {
            let wake = retransmit_at.map_or(end_at, |r| r.min(end_at));
            tokio::select! {
                input = self.input.recv() => {
                    let Some(ClientInput::Response(code, raw)) = input else { break };
                    if code < 200 {
                        if completed || accepted {
                            continue;
                        }
                        if !proceeding {
                            proceeding = true;
                            if invite {
                                retransmit_at = None; // Timer A stops.
                            } else if unreliable {
                                interval = t.t2; // Timer E continues at T2.
                                retransmit_at = Some(Instant::now() + interval);
                            }
                        }
                        let _ = self.events.send(ClientEvent::Provisional(raw));
                        continue;
                    }
                    let now = Instant::now();
                    if invite && code < 300 {
                        // RFC 6026: Accepted, pass every 2xx up for the
                        // dialog to ACK, until Timer M.
                        if !accepted {
                            accepted = true;
                            retransmit_at = None;
                            end_at = now + t.t1 * 64;
                        }
                        let _ = self.events.send(ClientEvent::Final(raw));
                    } else if invite {
                        if ack.is_none() {
                            ack = ack_for_non_2xx(&self.req.bytes, &raw).map(Bytes::from);
                        }
                        if let Some(a) = &ack {
                            self.send(a);
                        }
                        if !completed {
                            completed = true;
                            retransmit_at = None;
                            // Timer D: 32 s over UDP, 0 over TCP.
                            end_at = now + if unreliable { Duration::from_secs(32).max(t.t1 * 64) } else { Duration::ZERO };
                            let _ = self.events.send(ClientEvent::Final(raw));
                        }
                    } else if !completed {
                        completed = true;
                        retransmit_at = None;
                        end_at = now + if unreliable { t.t4 } else { Duration::ZERO }; // Timer K
                        let _ = self.events.send(ClientEvent::Final(raw));
                    }
                }
                _ = sleep_until(wake) => {
                    let now = Instant::now();
                    if !completed && !accepted && self.events.is_closed() {
                        // The transaction user gave up on this target
                        // (RFC 3263 failover before Timer B/F): stop
                        // retransmitting to it.
                        debug!(method = %self.req.method, dest = %self.req.dest, "request abandoned");
                        break;
                    }
                    if now >= end_at {
                        if !completed && !accepted {
                            let _ = self.events.send(ClientEvent::Timeout);
                        }
                        break;
                    }
                    if retransmit_at.is_some_and(|r| r <= now) {
                        trace!(method = %self.req.method, "retransmitting request");
                        self.send(&self.req.bytes);
                        interval = if invite { interval * 2 } else { (interval * 2).min(t.t2) };
                        retransmit_at = Some(now + interval);
                    }
                }
            }
        }
        self.finish();
    }

    fn finish(&self) {
        self.layer.client.locked().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    //! Timer behaviour on a paused tokio clock: our transactions talk over
    //! loopback UDP to a bare socket playing the peer, and the clock jumps
    //! straight to each timer, so intervals are checked exactly.
    use super::*;
    use crate::transport::{Received, Sink, TransportConfig};
    use tokio::net::UdpSocket;

    struct Collect(queue::Sender<Received>);
    impl Sink for Collect {
        fn received(&self, msg: Received) {
            let _ = self.0.send(msg);
        }
    }

    async fn setup() -> (Arc<TransactionLayer>, queue::Receiver<Received>, UdpSocket) {
        let (tx, rx) = queue::unbounded();
        let cfg = TransportConfig {
            udp: vec!["127.0.0.1:0".parse().unwrap()],
            tcp: vec![],
            ..TransportConfig::default()
        };
        let t = Transports::bind(&cfg, Arc::new(Collect(tx))).await.unwrap();
        let layer = TransactionLayer::new(t, Timers::default());
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        (layer, rx, peer)
    }

    fn request(method: &str, branch: &str) -> Vec<u8> {
        format!(
            "{method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\nFrom: <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\nContact: <sip:a@127.0.0.1>\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn response_to(req: &[u8], code: u16) -> Vec<u8> {
        let m = Message::parse(req).unwrap();
        MessageBuilder::response_to(
            m.headers(),
            "192.0.2.1:5060".parse().unwrap(),
            code,
            None,
            Some("t2"),
        )
        .finish()
    }

    async fn recv(peer: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = vec![0u8; 4096];
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        buf.truncate(n);
        (buf, from)
    }

    #[tokio::test(start_paused = true)]
    async fn client_invite_retransmits_with_timer_a_and_times_out_with_timer_b() {
        let (layer, _rx, peer) = setup().await;
        let branch = "z9hG4bKtimerA".to_string();
        let start = Instant::now();
        let mut events = layer.send_request(OutgoingRequest {
            bytes: Bytes::from(request("INVITE", &branch)),
            branch,
            method: Method::Invite,
            dest: peer.local_addr().unwrap(),
            transport: Transport::Udp,
        });
        let mut at = Vec::new();
        for _ in 0..7 {
            recv(&peer).await;
            at.push((Instant::now() - start).as_millis());
        }
        // Sent at 0, then after 0.5, 1, 2, 4, 8, 16 s (Timer A doubling).
        assert_eq!(at, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        match events.recv().await {
            Some(ClientEvent::Timeout) => {}
            other => panic!("expected timeout, got {other:?}"),
        }
        assert_eq!((Instant::now() - start).as_millis(), 32_000); // Timer B = 64*T1
        assert!(events.recv().await.is_none());
        assert_eq!(layer.counts(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn silent_target_is_given_up_early_and_the_abandoned_request_stops() {
        let (layer, _rx, peer) = setup().await;
        let branch = "z9hG4bKsilent".to_string();
        let start = Instant::now();
        let mut events = layer.send_request(OutgoingRequest {
            bytes: Bytes::from(request("REGISTER", &branch)),
            branch,
            method: Method::Register,
            dest: peer.local_addr().unwrap(),
            transport: Transport::Udp,
        });
        recv(&peer).await;
        let ev = next_event_within(&mut events, Some(Duration::from_secs(2))).await;
        assert!(matches!(ev, Some(ClientEvent::Timeout)), "{ev:?}");
        assert_eq!((Instant::now() - start).as_millis(), 2000);
        // Retransmitted at 0.5 and 1.5 s; dropping the receiver abandons
        // the transaction at its next timer (3.5 s) instead of Timer F.
        recv(&peer).await;
        recv(&peer).await;
        drop(events);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(layer.counts(), (0, 0));
        let mut buf = [0u8; 2048];
        assert!(
            peer.try_recv_from(&mut buf).is_err(),
            "nothing more was sent"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn client_non_invite_caps_timer_e_at_t2_and_slows_after_provisional() {
        let (layer, _rx, peer) = setup().await;
        let branch = "z9hG4bKtimerE".to_string();
        let req = request("OPTIONS", &branch);
        let start = Instant::now();
        let mut events = layer.send_request(OutgoingRequest {
            bytes: Bytes::from(req.clone()),
            branch,
            method: Method::Options,
            dest: peer.local_addr().unwrap(),
            transport: Transport::Udp,
        });
        let mut at = Vec::new();
        for _ in 0..6 {
            recv(&peer).await;
            at.push((Instant::now() - start).as_millis());
        }
        assert_eq!(at, [0, 500, 1500, 3500, 7500, 11500]);
        // A provisional response: retransmissions continue every T2.
        let prov_raw = response_to(&req, 100);
        let prov = Message::parse(&prov_raw).unwrap();
        let raw = Bytes::from(prov_raw.clone());
        assert!(layer.on_response(prov.as_response().unwrap(), &raw));
        assert!(matches!(
            events.recv().await,
            Some(ClientEvent::Provisional(_))
        ));
        let t0 = Instant::now();
        recv(&peer).await;
        assert_eq!((Instant::now() - t0).as_millis(), 4000);
        // The final response ends it; Timer K (T4) then removes it.
        let fin_raw = response_to(&req, 200);
        let fin = Message::parse(&fin_raw).unwrap();
        assert!(layer.on_response(fin.as_response().unwrap(), &Bytes::from(fin_raw.clone())));
        assert!(matches!(events.recv().await, Some(ClientEvent::Final(_))));
        assert!(events.recv().await.is_none());
        assert_eq!(layer.counts(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn client_invite_acks_a_failure_with_the_same_branch_and_absorbs_retransmissions() {
        let (layer, _rx, peer) = setup().await;
        let branch = "z9hG4bKack".to_string();
        let req = request("INVITE", &branch);
        let mut events = layer.send_request(OutgoingRequest {
            bytes: Bytes::from(req.clone()),
            branch: branch.clone(),
            method: Method::Invite,
            dest: peer.local_addr().unwrap(),
            transport: Transport::Udp,
        });
        recv(&peer).await;
        let busy = response_to(&req, 486);
        let m = Message::parse(&busy).unwrap();
        assert!(layer.on_response(m.as_response().unwrap(), &Bytes::from(busy.clone())));
        let (ack, _) = recv(&peer).await;
        let ack = Message::parse(&ack).unwrap();
        let a = ack.as_request().unwrap();
        assert_eq!(a.method, Method::Ack);
        assert_eq!(a.headers.top_via().unwrap().branch(), Some(branch.as_str()));
        assert_eq!(a.headers.to().unwrap().tag(), Some("t2"));
        assert_eq!(a.headers.cseq().unwrap().seq, 1);
        assert!(matches!(events.recv().await, Some(ClientEvent::Final(_))));
        // The 486 again: ACK again, no second Final event.
        assert!(layer.on_response(m.as_response().unwrap(), &Bytes::from(busy.clone())));
        let (ack2, _) = recv(&peer).await;
        assert!(ack2.starts_with(b"ACK "));
        // Timer D (32 s) ends the transaction.
        assert!(events.recv().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn server_invite_retransmits_failure_with_timer_g_until_ack() {
        let (layer, _rx, peer) = setup().await;
        let req_bytes = request("INVITE", "z9hG4bKsrv");
        let m = Message::parse(&req_bytes).unwrap();
        let req = m.as_request().unwrap();
        let Some(RequestDisposition::New(tx, mut events)) =
            layer.on_request(req, peer.local_addr().unwrap(), Transport::Udp)
        else {
            panic!("new transaction expected");
        };
        let start = Instant::now();
        tx.respond(486, response_to(&req_bytes, 486));
        let mut at = Vec::new();
        for _ in 0..4 {
            recv(&peer).await;
            at.push((Instant::now() - start).as_millis());
        }
        assert_eq!(at, [0, 500, 1500, 3500]);
        // The INVITE again: the 486 is resent at once, not a new transaction.
        assert!(matches!(
            layer.on_request(req, peer.local_addr().unwrap(), Transport::Udp),
            Some(RequestDisposition::Absorbed)
        ));
        recv(&peer).await;
        assert_eq!((Instant::now() - start).as_millis(), 3500);
        // ACK (same branch) matches, stops Timer G; Timer I (T4) ends it.
        let mut ack =
            String::from_utf8(req_bytes.clone())
                .unwrap()
                .replacen("INVITE sip", "ACK sip", 1);
        ack = ack.replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
        let am = Message::parse(ack.as_bytes()).unwrap();
        assert!(matches!(
            layer.on_request(
                am.as_request().unwrap(),
                peer.local_addr().unwrap(),
                Transport::Udp
            ),
            Some(RequestDisposition::Ack)
        ));
        assert_eq!(events.recv().await, Some(ServerEvent::AckReceived));
        assert_eq!(events.recv().await, Some(ServerEvent::Terminated));
        assert_eq!((Instant::now() - start).as_millis(), 3500 + 5000);
        assert_eq!(layer.counts(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn server_invite_retransmits_2xx_until_the_dialog_sees_the_ack() {
        let (layer, _rx, peer) = setup().await;
        let req_bytes = request("INVITE", "z9hG4bK2xx");
        let m = Message::parse(&req_bytes).unwrap();
        let Some(RequestDisposition::New(tx, mut events)) = layer.on_request(
            m.as_request().unwrap(),
            peer.local_addr().unwrap(),
            Transport::Udp,
        ) else {
            panic!("new transaction expected");
        };
        let start = Instant::now();
        tx.respond(200, response_to(&req_bytes, 200));
        for want in [0, 500, 1500, 3500, 7500, 11500] {
            recv(&peer).await;
            assert_eq!((Instant::now() - start).as_millis(), want);
        }
        tx.ack_2xx_received();
        // No more copies; Timer L (64*T1) ends the transaction quietly.
        assert_eq!(events.recv().await, Some(ServerEvent::Terminated));
        assert_eq!((Instant::now() - start).as_millis(), 32_000);
    }

    #[tokio::test(start_paused = true)]
    async fn server_invite_reports_missing_ack_for_2xx_after_timer_l() {
        let (layer, _rx, peer) = setup().await;
        let req_bytes = request("INVITE", "z9hG4bKnoack");
        let m = Message::parse(&req_bytes).unwrap();
        let Some(RequestDisposition::New(tx, mut events)) = layer.on_request(
            m.as_request().unwrap(),
            peer.local_addr().unwrap(),
            Transport::Udp,
        ) else {
            panic!("new transaction expected");
        };
        tx.respond(200, response_to(&req_bytes, 200));
        assert_eq!(events.recv().await, Some(ServerEvent::NoAckFor2xx));
        assert_eq!(events.recv().await, Some(ServerEvent::Terminated));
    }

    #[tokio::test(start_paused = true)]
    async fn finished_transactions_nobody_watches_linger_as_table_entries() {
        let (layer, _rx, peer) = setup().await;
        let to = peer.local_addr().unwrap();
        // A BYE answered 200, and an INVITE answered 200 and ACKed.
        let bye = request("BYE", "z9hG4bKlingerbye");
        let invite = request("INVITE", "z9hG4bKlingerinv");
        let mut responses = Vec::new();
        for (req_bytes, code) in [(&bye, 200), (&invite, 200)] {
            let m = Message::parse(req_bytes).unwrap();
            let Some(RequestDisposition::New(tx, events)) =
                layer.on_request(m.as_request().unwrap(), to, Transport::Udp)
            else {
                panic!("new transaction expected");
            };
            drop(events);
            tx.respond(code, response_to(req_bytes, code));
            responses.push(recv(&peer).await.0);
            if req_bytes == &invite {
                tx.ack_2xx_received();
            }
        }
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(layer.counts(), (2, 0));
        // Nothing is sent unprompted (the 2xx was acknowledged)...
        let mut buf = [0u8; 4096];
        while peer.try_recv_from(&mut buf).is_ok() {}
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(peer.try_recv_from(&mut buf).is_err());
        // ...but a retransmitted request still gets its response, byte
        // for byte, and a new transaction is not started for it.
        for (req_bytes, resp) in [(&bye, &responses[0]), (&invite, &responses[1])] {
            let m = Message::parse(req_bytes).unwrap();
            assert!(matches!(
                layer.on_request(m.as_request().unwrap(), to, Transport::Udp),
                Some(RequestDisposition::Absorbed)
            ));
            assert_eq!(&recv(&peer).await.0, resp);
        }
        // Timer J/L (64*T1) removes them, give or take the sweep period.
        tokio::time::sleep(Duration::from_secs(32) - (Instant::now() - start)).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(layer.counts(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn server_non_invite_absorbs_retransmissions_and_lingers_for_timer_j() {
        let (layer, _rx, peer) = setup().await;
        let req_bytes = request("BYE", "z9hG4bKbye");
        let m = Message::parse(&req_bytes).unwrap();
        let req = m.as_request().unwrap();
        let Some(RequestDisposition::New(tx, mut events)) =
            layer.on_request(req, peer.local_addr().unwrap(), Transport::Udp)
        else {
            panic!("new transaction expected");
        };
        let start = Instant::now();
        tx.respond(200, response_to(&req_bytes, 200));
        let (first, _) = recv(&peer).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(matches!(
            layer.on_request(req, peer.local_addr().unwrap(), Transport::Udp),
            Some(RequestDisposition::Absorbed)
        ));
        let (again, _) = recv(&peer).await;
        assert_eq!(first, again);
        assert_eq!(events.recv().await, Some(ServerEvent::Terminated));
        assert_eq!((Instant::now() - start).as_millis(), 32_000); // Timer J
    }
}
