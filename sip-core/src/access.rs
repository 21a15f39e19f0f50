//! Who may reach us: an IP/CIDR allow-list of trusted peers (the trunk's
//! signalling addresses, an FXO gateway) and a per-source request rate
//! limit, both checked before a request costs us anything.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// An IP network in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`), or a
/// single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address or CIDR network: {0:?}")]
pub struct CidrError(pub String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError(s.to_string());
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    /// True when `ip` is inside this network. An IPv4-mapped IPv6 address
    /// matches the IPv4 network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The allow-list of trusted peers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Cidr>,
}

impl AllowList {
    /// An allow-list of these networks.
    pub fn new(nets: Vec<Cidr>) -> Self {
        AllowList { nets }
    }

    /// Parses a list of CIDR strings.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, CidrError> {
        items
            .iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()
            .map(AllowList::new)
    }

    /// True when the list is empty (nobody configured).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// True when `ip` is in one of the networks.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }
}

/// A fixed-window counter of requests per source address: more than
/// `limit` requests in one second from one address are refused (503) and
/// logged. Old entries are swept as the table grows.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    window: Duration,
    table: HashMap<IpAddr, (Instant, u32)>,
    refused: u64,
}

impl RateLimiter {
    /// At most `per_second` requests per source per second.
    pub(crate) fn new(per_second: u32) -> Self {
        RateLimiter {
            limit: per_second,
            window: Duration::from_secs(1),
            table: HashMap::new(),
            refused: 0,
        }
    }

    /// Counts one request from `ip` at `now`; false when over the limit.
    pub(crate) fn check(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.table.len() > 65_536 {
            let window = self.window;
            self.table
                .retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let e = self.table.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
        if e.1 > self.limit {
            self.refused += 1;
            false
        } else {
            true
        }
    }

    /// How many requests were refused so far (the endpoint counts them in
    /// its own statistics; this is for the limiter's tests).
    #[cfg(test)]
    pub(crate) fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let n: Cidr = "203.0.113.0/24".parse().unwrap();
        assert!(n.contains("203.0.113.77".parse().unwrap()));
        assert!(!n.contains("203.0.114.1".parse().unwrap()));
        assert!(n.contains("::ffff:203.0.113.5".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("198.51.100.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn rate_limit_per_source_and_window() {
        let mut r = RateLimiter::new(3);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(r.check(a, t0) && r.check(a, t0) && r.check(a, t0));
        assert!(!r.check(a, t0));
        assert!(r.check(b, t0));
        assert!(r.check(a, t0 + Duration::from_millis(1001)));
        assert_eq!(r.refused(), 1);
    }
}
