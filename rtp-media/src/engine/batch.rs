//! Reading several datagrams from one socket per system call (`recvmmsg`).
//!
//! A call's socket holds one or two RTP packets per 20 ms tick. Reading them
//! with `recv_from` until "would block" costs one system call per packet
//! plus one that finds the socket empty; `recvmmsg` with room for
//! [`BATCH`] datagrams returns whatever is queued in one call, and a short
//! count says the socket is drained. The worker learns which sockets have
//! data from edge-triggered readiness, so a short count is enough: a
//! datagram arriving later raises a new readiness event.

use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams read from one socket per `recvmmsg` call.
pub(crate) const BATCH: usize = 8;
/// Longest datagram kept whole; a longer one is cut to this (an RTP packet
/// of 20 ms G.711 is 172 bytes).
const DATAGRAM_MAX: usize = 2048;

/// Buffers and headers for one `recvmmsg` call, reused by every call of a
/// worker. Not `Send` (the headers hold raw pointers): each worker thread
/// makes its own.
pub(crate) struct RecvBatch {
    headers: MultiHeaders<SockaddrStorage>,
    bufs: Box<[[u8; DATAGRAM_MAX]; BATCH]>,
    lens: [usize; BATCH],
    sources: [Option<SocketAddr>; BATCH],
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("lens", &self.lens)
            .finish()
    }
}

impl RecvBatch {
    pub(crate) fn new() -> Self {
        RecvBatch {
            headers: MultiHeaders::preallocate(BATCH, None),
            bufs: Box::new([[0; DATAGRAM_MAX]; BATCH]),
            lens: [0; BATCH],
            sources: [None; BATCH],
        }
    }

    /// Reads up to [`BATCH`] datagrams queued on `socket` without waiting.
    /// Returns how many were read: `Ok(0)` when none is waiting, fewer than
    /// [`BATCH`] when the socket is now empty.
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        let RecvBatch {
            headers,
            bufs,
            lens,
            sources,
        } = self;
        let mut slices = bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
        let received = match recvmmsg(
            socket.as_raw_fd(),
            headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(received) => received,
            Err(Errno::EAGAIN) => return Ok(0),
            Err(e) => return Err(std::io::Error::from(e)),
        };
        let mut count = 0;
        for (msg, (len, source)) in received.zip(lens.iter_mut().zip(sources.iter_mut())) {
            *len = msg.bytes.min(DATAGRAM_MAX);
            *source = msg.address.as_ref().and_then(socket_addr);
            count += 1;
        }
        Ok(count)
    }

    /// Datagram `i` of the last [`RecvBatch::recv`] and where it came from
    /// (`None` if the kernel gave no IPv4/IPv6 source).
    pub(crate) fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        match (self.bufs.get(i), self.lens.get(i), self.sources.get(i)) {
            (Some(buf), Some(&len), Some(&source)) => (&buf[..len], source),
            _ => (&[], None),
        }
    }
}

/// The standard library form of a kernel socket address.
fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_queued_datagrams_with_their_sources() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        a.send_to(b"first", to).expect("send");
        b.send_to(b"second!", to).expect("send");
        a.send_to(b"third", to).expect("send");
        let mut batch = RecvBatch::new();
        let n = batch.recv(&rx).expect("recv");
        assert_eq!(n, 3);
        let a_addr = a.local_addr().ok();
        let b_addr = b.local_addr().ok();
        assert_eq!(batch.datagram(0), (&b"first"[..], a_addr));
        assert_eq!(batch.datagram(1), (&b"second!"[..], b_addr));
        assert_eq!(batch.datagram(2), (&b"third"[..], a_addr));
        assert_eq!(batch.recv(&rx).expect("empty"), 0);
    }

    #[test]
    fn a_full_batch_leaves_the_rest_for_the_next_read() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        for i in 0..BATCH + 2 {
            tx.send_to(&[i as u8], to).expect("send");
        }
        let mut batch = RecvBatch::new();
        assert_eq!(batch.recv(&rx).expect("recv"), BATCH);
        assert_eq!(batch.datagram(BATCH - 1).0, &[(BATCH - 1) as u8]);
        assert_eq!(batch.recv(&rx).expect("recv"), 2);
        assert_eq!(batch.datagram(1).0, &[(BATCH + 1) as u8]);
        assert_eq!(batch.recv(&rx).expect("empty"), 0);
    }

    #[test]
    fn oversized_datagrams_are_cut() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        tx.send_to(&[7u8; DATAGRAM_MAX + 100], rx.local_addr().expect("addr"))
            .expect("send");
        let mut batch = RecvBatch::new();
        assert_eq!(batch.recv(&rx).expect("recv"), 1);
        assert_eq!(batch.datagram(0).0.len(), DATAGRAM_MAX);
    }
}
