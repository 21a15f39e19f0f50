//! Lines: where a call came in. A trunk account is recognised by the user
//! part the provider sends our calls to (the account's user name, which
//! is the user of the Contact we register, RFC 3261 10.2.1) or, when the
//! INVITE is for another user (the DID itself), by its source being the
//! registrar's address; a trusted peer by its source address alone.
//! Trusted peers are tried first: an address is a stronger proof than a
//! user part anyone can write.

use std::net::IpAddr;

use sip_core::access::Cidr;

use super::config::SwitchConfig;
use crate::config::ConfigError;

/// What kind of line a call came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A registered trunk account.
    TrunkAccount,
    /// A trusted peer (FXO gateway, IP-authenticated trunk).
    TrustedPeer,
}

/// A line the switch takes calls from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its name in the configuration (call records, metrics).
    pub name: String,
    /// The tenant its calls belong to.
    pub tenant: String,
    /// Trunk account or trusted peer.
    pub kind: LineKind,
    /// A trunk account's user name: an INVITE sent to it carries the
    /// number dialled in its To header instead.
    pub account_user: Option<String>,
}

impl Line {
    /// The number the caller dialled on this line: the Request-URI's
    /// user (`request_user`), or, when the provider sent the call to our
    /// account's user name (the Contact we registered), the To header's
    /// (`to_user`).
    pub fn dialled<'a>(&self, request_user: &'a str, to_user: Option<&'a str>) -> &'a str {
        match (&self.account_user, to_user) {
            (Some(user), Some(to)) if user == request_user => to,
            _ => request_user,
        }
    }
}

#[derive(Debug)]
struct Trunk {
    line: Line,
    username: String,
    registrar_ip: Option<IpAddr>,
}

#[derive(Debug)]
struct Peer {
    line: Line,
    network: Cidr,
}

/// Every configured line, and which one a call came in on.
#[derive(Debug, Default)]
pub struct Lines {
    trunks: Vec<Trunk>,
    peers: Vec<Peer>,
}

impl Lines {
    /// The lines of `config` (already validated: the error names the
    /// setting when it was not).
    pub fn new(config: &SwitchConfig) -> Result<Self, ConfigError> {
        let mut lines = Lines::default();
        for (i, a) in config.accounts.iter().enumerate() {
            let account = a
                .account()
                .map_err(|e| e.within(&format!("accounts[{i}]")))?;
            lines.trunks.push(Trunk {
                line: Line {
                    name: a.name.clone(),
                    tenant: a.tenant.clone(),
                    kind: LineKind::TrunkAccount,
                    account_user: Some(a.username.clone()),
                },
                username: a.username.clone(),
                registrar_ip: account.registrar.ip(),
            });
        }
        for (i, p) in config.trusted_peers.iter().enumerate() {
            lines.peers.push(Peer {
                line: Line {
                    name: p.name.clone(),
                    tenant: p.tenant.clone(),
                    kind: LineKind::TrustedPeer,
                    account_user: None,
                },
                network: p
                    .network()
                    .map_err(|e| e.within(&format!("trusted_peers[{i}]")))?,
            });
        }
        Ok(lines)
    }

    /// The line of a call from `source` to the Request-URI user
    /// `dialled`; `None` when it is from no line of ours.
    pub fn identify(&self, source: IpAddr, dialled: &str) -> Option<&Line> {
        if let Some(p) = self.peers.iter().find(|p| p.network.contains(source)) {
            return Some(&p.line);
        }
        if let Some(t) = self.trunks.iter().find(|t| t.username == dialled) {
            return Some(&t.line);
        }
        self.trunks
            .iter()
            .find(|t| t.registrar_ip == Some(source))
            .map(|t| &t.line)
    }

    /// The line named `name` (a trunk account or a trusted peer).
    pub fn named(&self, name: &str) -> Option<&Line> {
        self.trunks
            .iter()
            .map(|t| &t.line)
            .chain(self.peers.iter().map(|p| &p.line))
            .find(|l| l.name == name)
    }

    /// The trunk accounts' names.
    pub fn accounts(&self) -> impl Iterator<Item = &Line> {
        self.trunks.iter().map(|t| &t.line)
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::{SipConfig, TrunkAccountConfig, TrustedPeerConfig};
    use super::*;
    use crate::record::StoreSettings;

    fn config() -> SwitchConfig {
        let _: Option<StoreSettings> = None;
        SwitchConfig {
            sip: SipConfig::listen("127.0.0.1:5060".parse().unwrap()),
            rtp: Default::default(),
            accounts: vec![
                TrunkAccountConfig::new("main", "acme", "198.51.100.1", "1001", "pw"),
                TrunkAccountConfig::new("other", "beta", "sip.example", "2002", "pw"),
            ],
            trusted_peers: vec![TrustedPeerConfig {
                name: "fxo".into(),
                address: "192.0.2.0/28".into(),
                tenant: "beta".into(),
            }],
            tenants: vec![],
            store: None,
        }
    }

    #[test]
    fn a_call_is_placed_on_its_line_by_peer_address_then_account_user_then_registrar() {
        let lines = Lines::new(&config()).unwrap();
        let name = |ip: &str, user: &str| {
            lines
                .identify(ip.parse().unwrap(), user)
                .map(|l| l.name.clone())
        };
        // A trusted peer by its address, whatever the user.
        assert_eq!(name("192.0.2.3", "1001").as_deref(), Some("fxo"));
        // A trunk account by the user its calls are sent to.
        assert_eq!(name("203.0.113.9", "2002").as_deref(), Some("other"));
        assert_eq!(name("203.0.113.9", "1001").as_deref(), Some("main"));
        // A DID in the Request-URI from the registrar's address.
        assert_eq!(
            name("198.51.100.1", "+390212345678").as_deref(),
            Some("main")
        );
        // Anyone else is on no line.
        assert_eq!(name("203.0.113.9", "+390212345678"), None);
        assert_eq!(name("192.0.2.16", "3003"), None);
        let tenant = lines
            .identify("192.0.2.1".parse().unwrap(), "x")
            .map(|l| (l.tenant.as_str(), l.kind));
        assert_eq!(tenant, Some(("beta", LineKind::TrustedPeer)));
    }

    #[test]
    fn a_call_sent_to_the_account_user_was_dialled_to_the_number_in_to() {
        let lines = Lines::new(&config()).unwrap();
        let trunk = lines
            .identify("203.0.113.9".parse().unwrap(), "1001")
            .unwrap();
        assert_eq!(
            trunk.dialled("1001", Some("+390299887766")),
            "+390299887766"
        );
        assert_eq!(
            trunk.dialled("+390211111111", Some("+390299887766")),
            "+390211111111"
        );
        assert_eq!(trunk.dialled("1001", None), "1001");
        let peer = lines
            .identify("192.0.2.3".parse().unwrap(), "1001")
            .unwrap();
        assert_eq!(peer.dialled("1001", Some("+390299887766")), "1001");
    }
}
