//! The switch's settings: where SIP listens, the RTP ports, the trunk
//! accounts and trusted peers (the lines), the tenants they belong to and
//! where call records are kept. Plain structs deriving `Deserialize`, so a
//! TOML file and code build the same thing; [`Validate`] refuses a value
//! that cannot work and names the setting.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use sip_core::access::Cidr;
use sip_core::registration::{Account, KeepAlive};
use sip_core::transport::Transport;

use crate::config::{ConfigError, Validate};
use crate::record::StoreSettings;
use crate::routing::{Router, TenantConfig, TenantsConfig};

/// Everything a [`Switch`](super::Switch) needs to start.
///
/// ```
/// use agent::switch::{RtpConfig, SipConfig, SwitchConfig, TrunkAccountConfig, TrustedPeerConfig};
/// use agent::routing::TenantConfig;
/// use agent::config::Validate;
///
/// let mut tenant: TenantConfig = toml::from_str(
///     r#"
///     name = "acme"
///     default_country = "IT"
///     time_zone = "Europe/Rome"
///     default_profile = "front"
///     [profiles.front]
///     agent = "echo"
///     time_zone = "Europe/Rome"
///     "#,
/// ).unwrap();
/// tenant.limits.refuse_anonymous = false;
/// let config = SwitchConfig {
///     sip: SipConfig::listen("127.0.0.1:5060".parse().unwrap()),
///     rtp: RtpConfig { ports: (20000, 20999), ..RtpConfig::default() },
///     accounts: vec![TrunkAccountConfig::new("main", "acme", "sip.provider.example", "1001", "secret")],
///     trusted_peers: vec![TrustedPeerConfig {
///         name: "fxo".into(),
///         address: "192.0.2.10".into(),
///         tenant: "acme".into(),
///     }],
///     tenants: vec![tenant],
///     store: None,
/// };
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchConfig {
    /// SIP listening addresses and the address we announce (`[sip]`).
    pub sip: SipConfig,
    /// RTP ports and the address written into SDP (`[rtp]`).
    #[serde(default)]
    pub rtp: RtpConfig,
    /// The trunk accounts we register (`[[accounts]]`).
    #[serde(default)]
    pub accounts: Vec<TrunkAccountConfig>,
    /// Peers that call us without registering: FXO gateways,
    /// IP-authenticated trunks (`[[trusted_peers]]`).
    #[serde(default)]
    pub trusted_peers: Vec<TrustedPeerConfig>,
    /// The tenants the lines belong to (`[[tenants]]`).
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// Where call records are kept (`[store]`); the application opens the
    /// store and hands it to [`Switch::start`](super::Switch::start).
    #[serde(default)]
    pub store: Option<StoreSettings>,
}

/// Where SIP listens and what it announces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Addresses to listen on, for UDP and TCP (`0.0.0.0:5060`).
    pub listen: Vec<SocketAddr>,
    /// The public `host` or `host:port` written into Via and Contact when
    /// we are behind NAT (FreeSWITCH's `external_sip_ip`).
    #[serde(default)]
    pub external_address: Option<String>,
    /// Most calls in progress at once over all tenants; more get 486.
    #[serde(default)]
    pub max_calls: Option<usize>,
}

impl SipConfig {
    /// Listen on `addr` (UDP and TCP), nothing else set.
    pub fn listen(addr: SocketAddr) -> Self {
        SipConfig {
            listen: vec![addr],
            external_address: None,
            max_calls: None,
        }
    }
}

/// The RTP side: which ports the media sessions take and which address
/// the SDP announces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtpConfig {
    /// The local address the RTP sockets bind to.
    #[serde(default = "unspecified")]
    pub bind: IpAddr,
    /// First and last port of the range (RTP on even ports, RTCP on the
    /// next odd one).
    #[serde(default = "default_ports")]
    pub ports: (u16, u16),
    /// The address written into SDP `c=` lines: the public address behind
    /// NAT (FreeSWITCH's `external_rtp_ip`). Unset: the bind address when
    /// it is specific, else the address of the first SIP listener.
    #[serde(default)]
    pub advertised_address: Option<IpAddr>,
    /// Media worker threads.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Hang up a call after this long without RTP (seconds); 0 never.
    #[serde(default = "default_rtp_timeout")]
    pub timeout_secs: u32,
}

fn unspecified() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

fn default_ports() -> (u16, u16) {
    (16384, 32767)
}

fn default_workers() -> usize {
    2
}

fn default_rtp_timeout() -> u32 {
    30
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            bind: unspecified(),
            ports: default_ports(),
            advertised_address: None,
            workers: default_workers(),
            timeout_secs: default_rtp_timeout(),
        }
    }
}

impl RtpConfig {
    /// The media silence after which a call is hung up, if any.
    pub fn timeout(&self) -> Option<Duration> {
        (self.timeout_secs > 0).then(|| Duration::from_secs(u64::from(self.timeout_secs)))
    }
}

/// The transport to a registrar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportSetting {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

impl From<TransportSetting> for Transport {
    fn from(t: TransportSetting) -> Self {
        match t {
            TransportSetting::Udp => Transport::Udp,
            TransportSetting::Tcp => Transport::Tcp,
        }
    }
}

/// One SIP trunk account: we register with the provider and the calls it
/// sends us come in on this line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkAccountConfig {
    /// The line's name (in call records and metrics).
    pub name: String,
    /// The tenant the account's calls belong to.
    pub tenant: String,
    /// The registrar, `host[:port]` (a DNS name looked up with SRV, or an
    /// address).
    pub registrar: String,
    /// The user part of our address of record; the provider sends our
    /// calls to it in the Request-URI.
    pub username: String,
    /// The digest password.
    pub password: String,
    /// The digest user name, when the provider gives one apart from the
    /// user name.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// The domain (realm) of the address of record, when it differs from
    /// the registrar's host.
    #[serde(default)]
    pub domain: Option<String>,
    /// An outbound proxy, `host[:port]`.
    #[serde(default)]
    pub outbound_proxy: Option<String>,
    /// The registration lifetime asked for, in seconds.
    #[serde(default = "default_expiry")]
    pub expiry_secs: u32,
    /// `udp` or `tcp`.
    #[serde(default)]
    pub transport: TransportSetting,
}

fn default_expiry() -> u32 {
    300
}

impl TrunkAccountConfig {
    /// An account with the default expiry (300 s) over UDP.
    pub fn new(name: &str, tenant: &str, registrar: &str, username: &str, password: &str) -> Self {
        TrunkAccountConfig {
            name: name.into(),
            tenant: tenant.into(),
            registrar: registrar.into(),
            username: username.into(),
            password: password.into(),
            auth_username: None,
            domain: None,
            outbound_proxy: None,
            expiry_secs: default_expiry(),
            transport: TransportSetting::Udp,
        }
    }

    /// The sip-core account to register; the error names the setting.
    pub fn account(&self) -> Result<Account, ConfigError> {
        let mut account = Account::new(&self.registrar, &self.username, &self.password)
            .map_err(|e| ConfigError::new("registrar", e))?;
        if let Some(proxy) = &self.outbound_proxy {
            account = account
                .with_outbound_proxy(proxy)
                .map_err(|e| ConfigError::new("outbound_proxy", e))?;
        }
        account.auth_username = self.auth_username.clone();
        account.domain = self.domain.clone();
        account.expires = Duration::from_secs(u64::from(self.expiry_secs));
        account.transport = self.transport.into();
        account.keepalive = Some(KeepAlive::default_for(account.transport));
        Ok(account)
    }
}

/// A peer that calls us without registering, recognised by its source
/// address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedPeerConfig {
    /// The line's name.
    pub name: String,
    /// An address (`192.0.2.10`), an address with the port calls to it
    /// go to (`192.0.2.10:5080`; without one, 5060), or a network
    /// (`192.0.2.0/28`, which takes calls but cannot be an outbound
    /// route's trunk).
    pub address: String,
    /// The tenant its calls belong to.
    pub tenant: String,
}

impl TrustedPeerConfig {
    /// The peer's network.
    pub fn network(&self) -> Result<Cidr, ConfigError> {
        let address = match self.address.trim().parse::<SocketAddr>() {
            Ok(with_port) => with_port.ip().to_string(),
            Err(_) => self.address.clone(),
        };
        address.parse().map_err(|e| ConfigError::new("address", e))
    }
}

impl SwitchConfig {
    /// The tenants as the router takes them.
    pub fn tenants_config(&self) -> TenantsConfig {
        TenantsConfig {
            tenants: self.tenants.clone(),
        }
    }
}

fn check_name(
    names: &mut HashSet<String>,
    at: &str,
    name: &str,
    tenants: &HashSet<&str>,
    tenant: &str,
) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::new(format!("{at}.name"), "is empty"));
    }
    if !names.insert(name.to_string()) {
        return Err(ConfigError::new(
            format!("{at}.name"),
            format!("{name:?} names two lines"),
        ));
    }
    if !tenants.contains(tenant) {
        return Err(ConfigError::new(
            format!("{at}.tenant"),
            format!("no tenant is named {tenant:?}"),
        ));
    }
    Ok(())
}

impl Validate for SipConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::new(
                "listen",
                "is empty: give at least one address to listen on",
            ));
        }
        if let Some(ext) = &self.external_address {
            sip_core::resolve::HostPort::parse_setting("external_address", ext)
                .map_err(|e| ConfigError::new("external_address", e))?;
        }
        if self.max_calls == Some(0) {
            return Err(ConfigError::new("max_calls", "is 0: no call could come in"));
        }
        Ok(())
    }
}

impl Validate for RtpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let (first, last) = self.ports;
        if first == 0 || first > last || last - first < 1 {
            return Err(ConfigError::new(
                "ports",
                format!("[{first}, {last}] is not a range of at least two ports"),
            ));
        }
        if self.workers == 0 {
            return Err(ConfigError::new("workers", "must be at least 1"));
        }
        if self.advertised_address.is_some_and(|a| a.is_unspecified()) {
            return Err(ConfigError::new(
                "advertised_address",
                "is unspecified (0.0.0.0 or ::): a caller cannot send media there",
            ));
        }
        Ok(())
    }
}

impl Validate for SwitchConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.sip.validate().map_err(|e| e.within("sip"))?;
        self.rtp.validate().map_err(|e| e.within("rtp"))?;
        Router::new(&self.tenants_config())?;
        let tenants: HashSet<&str> = self.tenants.iter().map(|t| t.name.as_str()).collect();
        let mut names = HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let at = format!("accounts[{i}]");
            check_name(&mut names, &at, &a.name, &tenants, &a.tenant)?;
            if a.username.trim().is_empty() {
                return Err(ConfigError::new(format!("{at}.username"), "is empty"));
            }
            if a.password.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.password"),
                    "is empty: give the digest password the provider issued for the account",
                ));
            }
            if a.expiry_secs < 60 {
                return Err(ConfigError::new(
                    format!("{at}.expiry_secs"),
                    format!(
                        "{} s is shorter than registrars accept (60 s)",
                        a.expiry_secs
                    ),
                ));
            }
            a.account().map_err(|e| e.within(&at))?;
        }
        for (i, p) in self.trusted_peers.iter().enumerate() {
            let at = format!("trusted_peers[{i}]");
            check_name(&mut names, &at, &p.name, &tenants, &p.tenant)?;
            p.network().map_err(|e| e.within(&at))?;
        }
        if let Some(store) = &self.store {
            store.validate().map_err(|e| e.within("store"))?;
        }
        super::outbound::Trunks::new(self)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[sip]
listen = ["127.0.0.1:5060"]
external_address = "203.0.113.5"

[rtp]
ports = [20000, 20100]
advertised_address = "203.0.113.5"

[[accounts]]
name = "main"
tenant = "acme"
registrar = "sip.provider.example:5060"
username = "1001"
password = "secret"
expiry_secs = 600
transport = "tcp"

[[trusted_peers]]
name = "fxo"
address = "192.0.2.0/28"
tenant = "acme"

[[tenants]]
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[tenants.profiles.front]
agent = "echo"
time_zone = "Europe/Rome"
"#;

    fn parse(text: &str) -> SwitchConfig {
        toml::from_str(text).expect("the example parses")
    }

    fn problem(config: &SwitchConfig) -> ConfigError {
        config.validate().expect_err("a bad value is refused")
    }

    #[test]
    fn a_switch_config_read_from_toml_equals_the_one_built_in_code() {
        let read = parse(TOML);
        read.validate().expect("valid");
        let mut account = TrunkAccountConfig::new(
            "main",
            "acme",
            "sip.provider.example:5060",
            "1001",
            "secret",
        );
        account.expiry_secs = 600;
        account.transport = TransportSetting::Tcp;
        let built = SwitchConfig {
            sip: SipConfig {
                external_address: Some("203.0.113.5".into()),
                ..SipConfig::listen("127.0.0.1:5060".parse().unwrap())
            },
            rtp: RtpConfig {
                ports: (20000, 20100),
                advertised_address: Some("203.0.113.5".parse().unwrap()),
                ..RtpConfig::default()
            },
            accounts: vec![account],
            trusted_peers: vec![TrustedPeerConfig {
                name: "fxo".into(),
                address: "192.0.2.0/28".into(),
                tenant: "acme".into(),
            }],
            tenants: read.tenants.clone(),
            store: None,
        };
        assert_eq!(read, built);
        let account = read.accounts[0].account().unwrap();
        assert_eq!(account.expires, Duration::from_secs(600));
        assert_eq!(account.transport, Transport::Tcp);
        assert_eq!(account.registrar.port(), Some(5060));
    }

    #[test]
    fn bad_switch_settings_are_refused_naming_the_setting() {
        let cases: &[(&str, &str, &str)] = &[
            ("listen = [\"127.0.0.1:5060\"]", "listen = []", "sip.listen"),
            (
                "ports = [20000, 20100]",
                "ports = [20100, 20000]",
                "rtp.ports",
            ),
            (
                "advertised_address = \"203.0.113.5\"",
                "advertised_address = \"0.0.0.0\"",
                "rtp.advertised_address",
            ),
            (
                "registrar = \"sip.provider.example:5060\"",
                "registrar = \"sip.provider.example:99999\"",
                "accounts[0].registrar",
            ),
            (
                "password = \"secret\"",
                "password = \"\"",
                "accounts[0].password",
            ),
            (
                "expiry_secs = 600",
                "expiry_secs = 10",
                "accounts[0].expiry_secs",
            ),
            (
                "tenant = \"acme\"\nregistrar",
                "tenant = \"nobody\"\nregistrar",
                "accounts[0].tenant",
            ),
            (
                "address = \"192.0.2.0/28\"",
                "address = \"192.0.2.0/99\"",
                "trusted_peers[0].address",
            ),
            ("name = \"fxo\"", "name = \"main\"", "trusted_peers[0].name"),
            (
                "time_zone = \"Europe/Rome\"",
                "time_zone = \"Mars/Olympus\"",
                "tenants[0].time_zone",
            ),
            (
                "external_address = \"203.0.113.5\"",
                "external_address = \"a b\"",
                "sip.external_address",
            ),
        ];
        for (from, to, setting) in cases {
            assert!(TOML.contains(from), "{from}");
            let config = parse(&TOML.replacen(from, to, 1));
            let e = problem(&config);
            assert_eq!(&e.setting, setting, "{e}");
        }
    }

    #[test]
    fn an_unknown_setting_is_refused_by_name() {
        let e = toml::from_str::<SwitchConfig>(&TOML.replace("[rtp]", "[rtp]\nport = 1"))
            .expect_err("unknown key");
        assert!(e.to_string().contains("port"), "{e}");
    }
}
