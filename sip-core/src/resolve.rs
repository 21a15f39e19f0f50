//! Locating SIP servers (RFC 3263): a registrar or outbound proxy given
//! as a host name is looked up with SRV (RFC 2782 ordering: priority, then
//! weighted random choice), then A/AAAA; an explicit port skips SRV; an IP
//! literal is used as it is. The result is an ordered list of targets the
//! caller tries in turn when one does not answer.
//!
//! NAPTR (RFC 3263 4.1) is not consulted: providers publish SRV records
//! for the transports they offer, and the transport is configured.
//! Answers are cached for their TTL by the underlying resolver
//! (`hickory-resolver`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

use crate::message::Uri;
use crate::transport::Transport;

/// What to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipDestination {
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// Explicit port, if the URI had one.
    pub port: Option<u16>,
    /// Required transport, if any.
    pub transport: Option<Transport>,
    /// A `sips:` URI (TLS; SRV `_sips._tcp`).
    pub secure: bool,
}

impl SipDestination {
    /// A host with no port or transport constraint.
    pub fn host(host: impl Into<String>) -> Self {
        SipDestination {
            host: host.into(),
            port: None,
            transport: None,
            secure: false,
        }
    }
}

/// A SIP or tel URI (`sip:+15551234567@trunk.example.com`,
/// `tel:+15551234567` through an outbound proxy), checked once where it
/// enters: whom to call ([`DialOptions::to`](crate::outbound::DialOptions::to)), where a call is redirected
/// ([`IncomingCall::redirect`](crate::call::IncomingCall::redirect)) or
/// transferred ([`Call::transfer`](crate::call::Call::transfer)), and our own identity in From
/// ([`DialOptions::from`](crate::outbound::DialOptions::from)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTarget {
    uri: String,
    /// The host part (none in a tel: URI) and its explicit port.
    host: Option<(String, Option<u16>)>,
}

impl CallTarget {
    /// Checks `uri` as the `to` setting.
    pub fn parse(uri: &str) -> Result<CallTarget, InvalidSetting> {
        CallTarget::parse_setting("to", uri)
    }

    /// Checks `uri` as the value of the setting named `setting`; the
    /// error names it.
    pub fn parse_setting(setting: &'static str, uri: &str) -> Result<CallTarget, InvalidSetting> {
        let uri = uri.trim();
        match Uri::parse(uri) {
            Ok(u) => Ok(CallTarget {
                uri: uri.to_string(),
                host: u.host.map(|_| (u.host_str.to_string(), u.port)),
            }),
            Err(e) => Err(InvalidSetting {
                setting,
                value: uri.to_string(),
                reason: format!("not a SIP or tel URI: {e}"),
            }),
        }
    }

    /// The host part (none in a tel: URI) and its explicit port.
    pub(crate) fn host_port(&self) -> Option<(&str, Option<u16>)> {
        self.host.as_ref().map(|(h, p)| (h.as_str(), *p))
    }

    /// The URI as text.
    pub fn as_str(&self) -> &str {
        &self.uri
    }
}

impl std::str::FromStr for CallTarget {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallTarget::parse(s)
    }
}

impl TryFrom<&str> for CallTarget {
    type Error = InvalidSetting;

    /// As [`CallTarget::parse`].
    fn try_from(uri: &str) -> Result<Self, Self::Error> {
        CallTarget::parse(uri)
    }
}

impl std::fmt::Display for CallTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri)
    }
}

/// A server's (or our own public) address as configured: a host name or
/// an IP address, with an optional port (`sip.example.com`,
/// `192.0.2.10:5070`, `[2001:db8::1]`, `[2001:db8::1]:5080`). A leading
/// `sip:` is accepted and dropped. Parsed once, where the setting enters,
/// so a value of this type always names a usable host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: String,
    ip: Option<IpAddr>,
    port: Option<u16>,
}

/// A `host[:port]` setting that cannot be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a host[:port]: {reason}")]
pub struct AddressError {
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A setting whose value cannot be used: which setting, the value, and
/// why, so that the operator knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} = {value:?}: {reason}")]
pub struct InvalidSetting {
    /// The setting's name (`registrar`, `outbound_proxy`, `to`...).
    pub setting: &'static str,
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::str::FromStr for HostPort {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddressError {
            value: s.to_string(),
            reason,
        };
        let t = s.trim();
        let t = t.strip_prefix("sip:").unwrap_or(t);
        if t.is_empty() {
            return Err(err("it is empty"));
        }
        let parse_port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(err("the port is not a number from 1 to 65535")),
            Ok(p) => Ok(Some(p)),
        };
        if let Some(rest) = t.strip_prefix('[') {
            let (addr, after) = rest
                .split_once(']')
                .ok_or_else(|| err("an IPv6 address opened with [ is not closed with ]"))?;
            let ip: std::net::Ipv6Addr = addr
                .parse()
                .map_err(|_| err("the part in brackets is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => parse_port(
                    p.strip_prefix(':')
                        .ok_or_else(|| err("only :port may follow the IPv6 address"))?,
                )?,
            };
            return Ok(HostPort {
                host: addr.to_string(),
                ip: Some(IpAddr::V6(ip)),
                port,
            });
        }
        if let Ok(ip) = t.parse::<std::net::Ipv6Addr>() {
            // A bare IPv6 address: no room for a port without brackets.
            return Ok(HostPort {
                host: t.to_string(),
                ip: Some(IpAddr::V6(ip)),
                port: None,
            });
        }
        let (host, port) = match t.split_once(':') {
            Some((h, p)) => (h, parse_port(p)?),
            None => (t, None),
        };
        if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
            return Ok(HostPort {
                host: host.to_string(),
                ip: Some(IpAddr::V4(ip)),
                port,
            });
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                // `_` is not in host names (RFC 1123) but in container
                // and SRV-style names operators do use.
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let name = host.strip_suffix('.').unwrap_or(host);
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(err(
                "the host is neither an IP address nor a DNS name (letters, digits, -, _ and .)",
            ));
        }
        Ok(HostPort {
            host: host.to_ascii_lowercase(),
            ip: None,
            port,
        })
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            Some(IpAddr::V6(_)) => write!(f, "[{}]", self.host)?,
            _ => f.write_str(&self.host)?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

impl From<SocketAddr> for HostPort {
    fn from(a: SocketAddr) -> Self {
        HostPort {
            host: a.ip().to_string(),
            ip: Some(a.ip()),
            port: Some(a.port()),
        }
    }
}

impl HostPort {
    /// Parses the value of the setting named `setting`; the error names it.
    pub fn parse_setting(setting: &'static str, value: &str) -> Result<HostPort, InvalidSetting> {
        value.parse().map_err(|e: AddressError| InvalidSetting {
            setting,
            value: e.value,
            reason: format!("not a host[:port]: {}", e.reason),
        })
    }

    /// The host: a DNS name (lower case) or an IP address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The IP address, when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The explicit port, if one was given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// True when `host` (a URI's host, IPv6 in brackets or not) names this
    /// host: the same IP address, or the same DNS name ignoring case.
    pub fn names(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match self.ip {
            Some(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == ip),
            None => self.host.eq_ignore_ascii_case(host),
        }
    }

    /// What to look up to reach this server over `transport` (RFC 3263:
    /// SRV unless a port is given, A/AAAA, or the IP address as it is).
    pub fn destination(&self, transport: Transport) -> SipDestination {
        SipDestination {
            host: self.host.clone(),
            port: self.port,
            transport: Some(transport),
            secure: false,
        }
    }
}

/// One address to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Where to send.
    pub addr: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
}

/// Lookup failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name has no SRV, A or AAAA records.
    #[error("{0} has no SIP server records (SRV, A or AAAA)")]
    NoRecords(String),
    /// The DNS query failed (timeout, server failure).
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns {
        /// The name looked up.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

/// A DNS resolver for SIP targets. Cheap to clone.
#[derive(Clone)]
pub struct Resolver {
    dns: Option<Arc<TokioResolver>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field(
                "dns",
                &self.dns.as_ref().map(|r| r.config().name_servers().len()),
            )
            .finish()
    }
}

impl Resolver {
    /// The system's resolver configuration (`/etc/resolv.conf`). Without
    /// one, only IP literals resolve.
    pub fn system() -> Resolver {
        let dns = TokioResolver::builder_tokio()
            .ok()
            .map(|b| Arc::new(b.build()));
        Resolver { dns }
    }

    /// A resolver asking one name server (an operator's own, or a test's).
    pub fn with_name_server(server: SocketAddr) -> Resolver {
        let mut cfg = ResolverConfig::new();
        cfg.add_name_server(NameServerConfig::new(server, Protocol::Udp));
        cfg.add_name_server(NameServerConfig::new(server, Protocol::Tcp));
        let mut b = TokioResolver::builder_with_config(cfg, TokioConnectionProvider::default());
        let opts = b.options_mut();
        opts.attempts = 2;
        opts.timeout = std::time::Duration::from_secs(2);
        Resolver {
            dns: Some(Arc::new(b.build())),
        }
    }

    /// Resolves `dest` into the ordered list of targets to try.
    pub async fn resolve(&self, dest: &SipDestination) -> Result<Vec<Target>, ResolveError> {
        let host = dest.host.trim_start_matches('[').trim_end_matches(']');
        let default_transport = dest.transport.unwrap_or(Transport::Udp);
        let default_port = if dest.secure { 5061 } else { 5060 };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![Target {
                addr: SocketAddr::new(ip, dest.port.unwrap_or(default_port)),
                transport: default_transport,
            }]);
        }
        let dns = self.dns.as_ref().ok_or_else(|| ResolveError::Dns {
            host: host.to_string(),
            reason: "no DNS configuration".into(),
        })?;
        if let Some(port) = dest.port {
            let ips = lookup_ips(dns, host).await?;
            return Ok(ips
                .into_iter()
                .map(|ip| Target {
                    addr: SocketAddr::new(ip, port),
                    transport: default_transport,
                })
                .collect());
        }
        // SRV for the transports we may use, in our order of preference.
        let services: Vec<(&str, Transport)> = match (dest.secure, dest.transport) {
            (true, _) => vec![("_sips._tcp", Transport::Tcp)],
            (false, Some(Transport::Udp)) => vec![("_sip._udp", Transport::Udp)],
            (false, Some(Transport::Tcp)) => vec![("_sip._tcp", Transport::Tcp)],
            (false, None) => vec![("_sip._udp", Transport::Udp), ("_sip._tcp", Transport::Tcp)],
        };
        for (service, transport) in services {
            let name = format!("{service}.{host}.");
            let records = match dns.srv_lookup(name.as_str()).await {
                Ok(l) => l
                    .iter()
                    .map(|s| SrvRecord {
                        priority: s.priority(),
                        weight: s.weight(),
                        port: s.port(),
                        target: s.target().to_utf8(),
                    })
                    .collect::<Vec<_>>(),
                Err(e) if e.is_no_records_found() => continue,
                Err(e) => {
                    return Err(ResolveError::Dns {
                        host: name,
                        reason: e.to_string(),
                    })
                }
            };
            // A single "." target means the service is not offered.
            let records: Vec<SrvRecord> = records
                .into_iter()
                .filter(|r| r.target != "." && !r.target.is_empty())
                .collect();
            if records.is_empty() {
                continue;
            }
            let mut targets = Vec::new();
            for r in order_srv(records, &mut crate::util::random_u64) {
                match lookup_ips(dns, r.target.trim_end_matches('.')).await {
                    Ok(ips) => targets.extend(ips.into_iter().map(|ip| Target {
                        addr: SocketAddr::new(ip, r.port),
                        transport,
                    })),
                    Err(e) => {
                        tracing::debug!(target = %r.target, error = %e, "SRV target does not resolve")
                    }
                }
            }
            if !targets.is_empty() {
                return Ok(targets);
            }
        }
        // No SRV: A/AAAA of the host itself, default port.
        let ips = lookup_ips(dns, host).await?;
        Ok(ips
            .into_iter()
            .map(|ip| Target {
                addr: SocketAddr::new(ip, default_port),
                transport: default_transport,
            })
            .collect())
    }
}

async fn lookup_ips(dns: &TokioResolver, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
    match dns.lookup_ip(format!("{host}.")).await {
        Ok(l) => {
            let v: Vec<IpAddr> = l.iter().collect();
            if v.is_empty() {
                Err(ResolveError::NoRecords(host.to_string()))
            } else {
                Ok(v)
            }
        }
        Err(e) if e.is_no_records_found() => Err(ResolveError::NoRecords(host.to_string())),
        Err(e) => Err(ResolveError::Dns {
            host: host.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// One SRV answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative weight within a priority.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host.
    pub target: String,
}

/// Orders SRV records as RFC 2782 says: by priority, and within one
/// priority by repeated weighted random selection (zero-weight records
/// have a small chance, and come first when all weights are zero).
pub fn order_srv(mut records: Vec<SrvRecord>, rand: &mut impl FnMut() -> u64) -> Vec<SrvRecord> {
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    let mut i = 0;
    while i < records.len() {
        let p = records[i].priority;
        let mut group: Vec<SrvRecord> = records[i..]
            .iter()
            .take_while(|r| r.priority == p)
            .cloned()
            .collect();
        i += group.len();
        // Zero-weight entries first, as RFC 2782 suggests, so they get a
        // small but real chance.
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                let n = rand() % (total + 1);
                let mut run = 0u64;
                group
                    .iter()
                    .position(|r| {
                        run += u64::from(r.weight);
                        run >= n
                    })
                    .unwrap_or(0)
            };
            out.push(group.remove(pick));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 5060,
            target: target.into(),
        }
    }

    #[test]
    fn srv_order_is_by_priority_then_weight() {
        let mut seed = 1u64;
        let mut rand = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let mut first_b = 0;
        for _ in 0..2000 {
            let o = order_srv(
                vec![rec(20, 0, "z"), rec(10, 10, "a"), rec(10, 30, "b")],
                &mut rand,
            );
            assert_eq!(o.len(), 3);
            assert_eq!(o[2].target, "z");
            if o[0].target == "b" {
                first_b += 1;
            }
        }
        // b has weight 30 of 40: chosen first about three times in four.
        assert!((1300..1700).contains(&first_b), "{first_b}");
    }

    #[tokio::test]
    async fn ip_literals_need_no_dns() {
        let r = Resolver { dns: None };
        let t = r
            .resolve(&SipDestination {
                host: "[::1]".into(),
                port: Some(5070),
                transport: Some(Transport::Tcp),
                secure: false,
            })
            .await
            .unwrap();
        assert_eq!(
            t,
            [Target {
                addr: "[::1]:5070".parse().unwrap(),
                transport: Transport::Tcp
            }]
        );
        let t = r.resolve(&SipDestination::host("192.0.2.1")).await.unwrap();
        assert_eq!(t[0].addr, "192.0.2.1:5060".parse().unwrap());
        assert!(r
            .resolve(&SipDestination::host("example.com"))
            .await
            .is_err());
    }
    #[test]
    fn host_port_settings_parse_once_into_a_host_and_a_port() {
        let hp = |s: &str| s.parse::<HostPort>().unwrap();
        let d = hp("sip.example.com").destination(Transport::Udp);
        assert_eq!((d.host.as_str(), d.port), ("sip.example.com", None));
        let d = hp("127.0.0.1:5070").destination(Transport::Udp);
        assert_eq!((d.host.as_str(), d.port), ("127.0.0.1", Some(5070)));
        let d = hp("[::1]:5080").destination(Transport::Tcp);
        assert_eq!((d.host.as_str(), d.port), ("::1", Some(5080)));
        assert_eq!(
            hp("sip:edge.example.net:5062").to_string(),
            "edge.example.net:5062"
        );
        // A bracketed IPv6 address without a port is a host, not host:port.
        let v6 = hp("[2001:db8::1]");
        assert_eq!((v6.host(), v6.port()), ("2001:db8::1", None));
        assert_eq!(v6.to_string(), "[2001:db8::1]");
        assert_eq!(hp("2001:db8::1").port(), None);
        assert_eq!(hp("sip_proxy:5060").host(), "sip_proxy");
        for bad in [
            "",
            "host:",
            "host:0",
            "host:99999",
            "[::1",
            "[nope]:5060",
            "a b",
            "[::1]x",
        ] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_host_port_names_the_same_address_written_either_way() {
        let v6: HostPort = "[2001:db8::1]".parse().unwrap();
        assert!(v6.names("[2001:db8::1]"));
        assert!(v6.names("2001:DB8:0::1"));
        assert!(!v6.names("[2001:db8::2]"));
        let name: HostPort = "Trunk.Example.com:5060".parse().unwrap();
        assert!(name.names("trunk.example.COM"));
        assert!(!name.names("example.com"));
    }
}
