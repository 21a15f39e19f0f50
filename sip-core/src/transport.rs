//! SIP transports (RFC 3261 section 18): UDP and TCP, IPv4 and IPv6.
//!
//! UDP: one socket per listening address; each datagram is one message.
//! TCP: a listener plus one task per connection that frames messages by
//! Content-Length ([`Message::parse_stream`]); connections are kept in a
//! table keyed by the peer's address so that responses and in-dialog
//! requests reuse the connection the peer opened (RFC 3261 18.2.2), and a
//! connection is opened on demand when we send to a peer we have none with.
//!
//! Received messages are handed to a [`Sink`] as [`Received`] values that own
//! their bytes (`bytes::Bytes`, no copy beyond the one from the socket).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, trace, warn};

use crate::message::{Message, ParseLimits};
use crate::util::LockExt;

/// The transport protocol of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so the transaction layer retransmits.
    Udp,
    /// TCP: reliable and stream-framed.
    Tcp,
}

impl Transport {
    /// The token used in Via and in `transport=` URI parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// True for transports where the transaction layer must retransmit.
    pub fn is_unreliable(self) -> bool {
        matches!(self, Transport::Udp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Binding a listening socket failed.
    #[error("cannot listen on {addr} ({transport}): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The transport.
        transport: Transport,
        /// The OS error.
        source: io::Error,
    },
    /// No socket of this transport and address family is open.
    #[error("no {0} socket for this address family")]
    NoSocket(Transport),
    /// Sending failed.
    #[error("sending to {dest} over {transport} failed: {source}")]
    Send {
        /// Destination.
        dest: SocketAddr,
        /// Transport.
        transport: Transport,
        /// The OS error.
        source: io::Error,
    },
    /// A TCP connection could not be opened.
    #[error("cannot connect to {dest}: {source}")]
    Connect {
        /// Destination.
        dest: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// The message bytes (for TCP, exactly one framed message).
    pub bytes: Bytes,
    /// Where it came from.
    pub source: SocketAddr,
    /// The local address it arrived on.
    pub local: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
}

/// Where received messages go. Called on the receiving task: it must not
/// block (hand work to other tasks through channels).
pub trait Sink: Send + Sync + 'static {
    /// A message arrived.
    fn received(&self, msg: Received);
}

/// Listening addresses and limits.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// UDP addresses to listen on (port 0 picks a free port).
    pub udp: Vec<SocketAddr>,
    /// TCP addresses to listen on.
    pub tcp: Vec<SocketAddr>,
    /// Message size and header limits.
    pub limits: ParseLimits,
}

impl Default for TransportConfig {
    fn default() -> Self {
        let any: SocketAddr = ([0, 0, 0, 0], 5060).into();
        TransportConfig {
            udp: vec![any],
            tcp: vec![any],
            limits: ParseLimits::default(),
        }
    }
}

type ConnMap = Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>>>;

/// The open sockets and TCP connections of an endpoint.
pub struct Transports {
    udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    tcp_listen: Vec<SocketAddr>,
    connections: ConnMap,
    limits: ParseLimits,
    sink: Arc<dyn Sink>,
}

impl fmt::Debug for Transports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transports")
            .field("udp", &self.udp.iter().map(|(a, _)| a).collect::<Vec<_>>())
            .field("tcp", &self.tcp_listen)
            .finish()
    }
}

impl Transports {
    /// Opens every configured socket and starts receiving into `sink`.
    pub async fn bind(
        config: &TransportConfig,
        sink: Arc<dyn Sink>,
    ) -> Result<Arc<Transports>, TransportError> {
        let mut udp = Vec::new();
        for addr in &config.udp {
            let sock = bind_udp(*addr).map_err(|source| TransportError::Bind {
                addr: *addr,
                transport: Transport::Udp,
                source,
            })?;
            let local = sock.local_addr().map_err(|source| TransportError::Bind {
                addr: *addr,
                transport: Transport::Udp,
                source,
            })?;
            udp.push((local, Arc::new(sock)));
        }
        let mut listeners = Vec::new();
        let mut tcp_listen = Vec::new();
        for addr in &config.tcp {
            // Use the UDP port for TCP too when the TCP port is 0 and a UDP
            // socket on the same IP got one, so one port serves both.
            let mut want = *addr;
            if want.port() == 0 {
                if let Some((l, _)) = udp.iter().find(|(l, _)| l.ip() == addr.ip()) {
                    want.set_port(l.port());
                }
            }
            let l = TcpListener::bind(want)
                .await
                .map_err(|source| TransportError::Bind {
                    addr: want,
                    transport: Transport::Tcp,
                    source,
                })?;
            tcp_listen.push(l.local_addr().unwrap_or(want));
            listeners.push(l);
        }
        let t = Arc::new(Transports {
            udp,
            tcp_listen,
            connections: Mutex::new(HashMap::new()),
            limits: config.limits,
            sink,
        });
        for (local, sock) in &t.udp {
            tokio::spawn(udp_receive_loop(
                Arc::downgrade(&t),
                sock.clone(),
                *local,
                t.sink.clone(),
            ));
        }
        for l in listeners {
            tokio::spawn(tcp_accept_loop(Arc::downgrade(&t), l));
        }
        Ok(t)
    }

    /// The bound UDP addresses.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().map(|(a, _)| *a).collect()
    }

    /// The bound TCP listening addresses.
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp_listen.clone()
    }

    /// The local address we would send from to reach `dest` over
    /// `transport` (same address family), for Via and Contact.
    pub fn local_for(&self, dest: SocketAddr, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => self
                .udp
                .iter()
                .find(|(a, _)| a.is_ipv4() == dest.is_ipv4())
                .map(|(a, _)| *a),
            Transport::Tcp => self
                .tcp_listen
                .iter()
                .find(|a| a.is_ipv4() == dest.is_ipv4())
                .copied(),
        }
    }

    /// Sends one message. Over TCP, reuses the connection to `dest` or opens
    /// one.
    pub async fn send(
        self: &Arc<Self>,
        dest: SocketAddr,
        transport: Transport,
        bytes: Bytes,
    ) -> Result<(), TransportError> {
        match transport {
            Transport::Udp => {
                let sock = self
                    .udp
                    .iter()
                    .find(|(a, _)| a.is_ipv4() == dest.is_ipv4())
                    .map(|(_, s)| s)
                    .ok_or(TransportError::NoSocket(Transport::Udp))?;
                trace!(%dest, len = bytes.len(), "udp send");
                sock.send_to(&bytes, dest)
                    .await
                    .map(|_| ())
                    .map_err(|source| TransportError::Send {
                        dest,
                        transport,
                        source,
                    })
            }
            Transport::Tcp => {
                let existing = self.connection(dest);
                let tx = match existing {
                    Some(tx) => tx,
                    None => self.connect(dest).await?,
                };
                tx.send(bytes).map_err(|_| TransportError::Send {
                    dest,
                    transport,
                    source: io::Error::new(io::ErrorKind::BrokenPipe, "connection closed"),
                })
            }
        }
    }

    /// Sends without waiting (UDP `try_send_to`, TCP queue); used from
    /// synchronous code such as the receive path. Falls back to a spawned
    /// send when the socket would block.
    pub fn send_now(self: &Arc<Self>, dest: SocketAddr, transport: Transport, bytes: Bytes) {
        if transport == Transport::Udp {
            if let Some((_, sock)) = self.udp.iter().find(|(a, _)| a.is_ipv4() == dest.is_ipv4()) {
                match sock.try_send_to(&bytes, dest) {
                    Ok(_) => return,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        debug!(%dest, error = %e, "udp send failed");
                        return;
                    }
                }
            }
        } else if let Some(tx) = self.connection(dest) {
            let _ = tx.send(bytes);
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.send(dest, transport, bytes).await {
                debug!(error = %e, "send failed");
            }
        });
    }

    fn connection(&self, dest: SocketAddr) -> Option<mpsc::UnboundedSender<Bytes>> {
        let map = self.connections.locked();
        map.get(&dest).filter(|tx| !tx.is_closed()).cloned()
    }

    async fn connect(
        self: &Arc<Self>,
        dest: SocketAddr,
    ) -> Result<mpsc::UnboundedSender<Bytes>, TransportError> {
        let stream = TcpStream::connect(dest)
            .await
            .map_err(|source| TransportError::Connect { dest, source })?;
        Ok(self.adopt(stream, dest))
    }

    /// Starts reader and writer tasks for a connection and records it.
    fn adopt(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> mpsc::UnboundedSender<Bytes> {
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let (rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        {
            let mut map = self.connections.locked();
            map.insert(peer, tx.clone());
        }
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if let Err(e) = wr.write_all(&b).await {
                    debug!(%peer, error = %e, "tcp write failed");
                    break;
                }
            }
        });
        let weak = Arc::downgrade(self);
        let sink = self.sink.clone();
        let limits = self.limits;
        tokio::spawn(async move {
            tcp_read_loop(rd, peer, local, sink, limits).await;
            if let Some(t) = weak.upgrade() {
                let mut map = t.connections.locked();
                map.remove(&peer);
            }
        });
        tx
    }
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Large buffers absorb bursts at high call rates.
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

async fn udp_receive_loop(
    transports: std::sync::Weak<Transports>,
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    sink: Arc<dyn Sink>,
) {
    let mut buf = BytesMut::with_capacity(256 * 1024);
    loop {
        if buf.capacity() < 65_536 {
            buf.reserve(256 * 1024);
        }
        // SAFETY-free: recv_buf writes into the spare capacity.
        let res = sock.recv_buf_from(&mut buf).await;
        match res {
            Ok((n, source)) => {
                let bytes = buf.split_to(n).freeze();
                if transports.strong_count() == 0 {
                    return;
                }
                if bytes.iter().all(|&b| b == b'\r' || b == b'\n' || b == 0) {
                    // Keep-alive (RFC 5626 style CRLF or NAT pings): nothing to do.
                    continue;
                }
                sink.received(Received {
                    bytes,
                    source,
                    local,
                    transport: Transport::Udp,
                });
            }
            Err(e) => {
                // ICMP errors surface here on Linux; they are not fatal.
                trace!(error = %e, "udp receive error");
                if transports.strong_count() == 0 {
                    return;
                }
            }
        }
    }
}

async fn tcp_accept_loop(transports: std::sync::Weak<Transports>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let Some(t) = transports.upgrade() else {
            return;
        };
        debug!(%peer, "tcp connection accepted");
        t.adopt(stream, peer);
    }
}

async fn tcp_read_loop(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    peer: SocketAddr,
    local: SocketAddr,
    sink: Arc<dyn Sink>,
    limits: ParseLimits,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            let used = match Message::parse_stream(&buf, &limits) {
                Ok(Ok((_, used))) => used,
                Ok(Err(_partial)) => {
                    // Keep-alive CRLFs only: drop them.
                    if !buf.is_empty() && buf.iter().all(|&b| b == b'\r' || b == b'\n') {
                        buf.clear();
                    }
                    break;
                }
                Err(e) => {
                    // A stream cannot be resynchronised after a framing
                    // error: report and close (RFC 3261 18.3).
                    warn!(%peer, error = %e, "unframeable data on SIP stream; closing");
                    let bytes = buf.split().freeze();
                    sink.received(Received {
                        bytes,
                        source: peer,
                        local,
                        transport: Transport::Tcp,
                    });
                    return;
                }
            };
            let bytes = buf.split_to(used).freeze();
            sink.received(Received {
                bytes,
                source: peer,
                local,
                transport: Transport::Tcp,
            });
        }
    }
}
