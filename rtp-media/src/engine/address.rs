//! The address our SDP names for the call's media (`c=` and `m=`).
//!
//! An engine bound to the unspecified address (`0.0.0.0` or `::`) takes
//! packets on every interface, but that address means nothing to the far
//! end. The address to advertise is, in order: the one configured
//! ([`EngineConfig::advertised_ip`](super::EngineConfig::advertised_ip),
//! e.g. the public address behind NAT), the bound one if it is specific,
//! or the local address the kernel routes to the remote (asked by
//! connecting a UDP socket, which sends nothing). Never the unspecified
//! address.

use super::error::MediaError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// The address to advertise for a socket bound to `bound`, given the
/// configured `advertised` IP and the `remote` RTP address when known.
pub(crate) fn advertised_addr(
    advertised: Option<IpAddr>,
    bound: SocketAddr,
    remote: Option<SocketAddr>,
) -> Result<SocketAddr, MediaError> {
    let port = bound.port();
    if let Some(ip) = advertised {
        return Ok(SocketAddr::new(ip, port));
    }
    if !bound.ip().is_unspecified() {
        return Ok(bound);
    }
    let remote = remote.ok_or(MediaError::NoAdvertisedAddress)?;
    let ip = route_to(remote).map_err(|source| MediaError::NoRoute { remote, source })?;
    Ok(SocketAddr::new(ip, port))
}

/// The local address the kernel would send from to reach `remote`.
fn route_to(remote: SocketAddr) -> std::io::Result<IpAddr> {
    let any: IpAddr = match remote {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let probe = UdpSocket::bind((any, 0))?;
    probe.connect(remote)?;
    let ip = probe.local_addr()?.ip();
    if ip.is_unspecified() {
        return Err(std::io::Error::other("no local address for the route"));
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_configured_address_comes_first() {
        let a = advertised_addr(
            Some("198.51.100.4".parse().unwrap()),
            addr("0.0.0.0:20000"),
            Some(addr("127.0.0.1:5000")),
        );
        assert_eq!(a.unwrap(), addr("198.51.100.4:20000"));
    }

    #[test]
    fn a_specific_bound_address_is_advertised_as_it_is() {
        let a = advertised_addr(None, addr("127.0.0.1:20000"), None);
        assert_eq!(a.unwrap(), addr("127.0.0.1:20000"));
    }

    #[test]
    fn bound_to_all_the_route_to_the_remote_gives_the_address() {
        let a = advertised_addr(None, addr("0.0.0.0:20000"), Some(addr("127.0.0.7:5000")));
        let a = a.unwrap();
        assert!(a.ip().is_loopback() && !a.ip().is_unspecified(), "{a}");
        assert_eq!(a.port(), 20000);
    }

    #[test]
    fn bound_to_all_without_a_remote_is_an_error_not_the_unspecified_address() {
        let a = advertised_addr(None, addr("0.0.0.0:20000"), None);
        assert!(matches!(a, Err(MediaError::NoAdvertisedAddress)), "{a:?}");
    }
}
