//! The user-agent core: the layer under calls, registrations and
//! outbound dialling, as pjsip keeps its dialog and INVITE-session layers
//! under `pjsua`. [`UaCore`] holds the transaction layer, our addresses
//! (Via sent-by, Contact), response building, the dialog table, the
//! INVITEs waiting for their final response and the call counter, behind
//! a small crate-internal interface. A dialog usage (a call) registers
//! itself in the table as a [`DialogUsage`] and the endpoint routes
//! in-dialog requests, ACKs and retransmitted 2xx responses to it through
//! that trait; nothing above this module reaches into another's state.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::info;

use crate::dialog::DialogId;
use crate::message::validate::Capabilities;
use crate::message::{HeaderName, MessageBuilder, Request, Response, ResponseHead};
use crate::resolve::{HostPort, Resolver};
use crate::transaction::{ServerKey, ServerTransaction, TransactionLayer};
use crate::transport::{Received, Transport};
use crate::util::LockExt;

/// What the core needs from the endpoint's configuration.
#[derive(Debug, Clone)]
pub(crate) struct UaSettings {
    /// Written into Via and Contact instead of our local address.
    pub(crate) external_address: Option<HostPort>,
    /// Product token for User-Agent and Server.
    pub(crate) user_agent: String,
    /// How long a silent server is waited for before failing over.
    pub(crate) failover_timeout: Option<Duration>,
}

/// A usage of a dialog (RFC 5057): today a call. The endpoint finds it in
/// the dialog table and hands it what arrives in its dialog.
pub(crate) trait DialogUsage: Send + Sync {
    /// The peer's tag in this dialog.
    fn remote_tag(&self) -> String;
    /// A request inside the dialog (BYE, re-INVITE, INFO, NOTIFY...), with
    /// its server transaction.
    fn on_request(self: Arc<Self>, req: &Request<'_>, rx: &Received, tx: ServerTransaction);
    /// An ACK for our 2xx, with its body (the answer to an offer we made
    /// in the 2xx).
    fn on_ack(self: Arc<Self>, body: &[u8]);
    /// A 2xx to our INVITE arrived again after its transaction ended: the
    /// ACK must be sent again (RFC 3261 13.2.2.4).
    fn on_2xx_retransmission(&self);
}

/// The shared core of one endpoint. Cheap to share (`Arc`); every method
/// takes `&self`.
pub(crate) struct UaCore {
    layer: Arc<TransactionLayer>,
    settings: UaSettings,
    caps: Capabilities,
    resolver: Resolver,
    dialogs: Mutex<HashMap<DialogId, Arc<dyn DialogUsage>>>,
    pending: Mutex<HashMap<ServerKey, PendingInvite>>,
    active_calls: AtomicUsize,
}

impl std::fmt::Debug for UaCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UaCore").finish_non_exhaustive()
    }
}

impl UaCore {
    pub(crate) fn new(
        layer: Arc<TransactionLayer>,
        settings: UaSettings,
        caps: Capabilities,
        resolver: Resolver,
    ) -> UaCore {
        UaCore {
            layer,
            settings,
            caps,
            resolver,
            dialogs: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            active_calls: AtomicUsize::new(0),
        }
    }

    /// The transaction layer.
    pub(crate) fn layer(&self) -> &Arc<TransactionLayer> {
        &self.layer
    }

    /// What we implement (Allow, Supported).
    pub(crate) fn caps(&self) -> &Capabilities {
        &self.caps
    }

    /// The DNS resolver for host names (RFC 3263).
    pub(crate) fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Our product token (User-Agent, Server, Warning).
    pub(crate) fn user_agent(&self) -> &str {
        &self.settings.user_agent
    }

    /// How long a server that has not answered at all is waited for
    /// before the next address is tried.
    pub(crate) fn failover_timeout(&self) -> Option<Duration> {
        self.settings.failover_timeout
    }

    /// The configured external address, if any.
    pub(crate) fn external_address(&self) -> Option<&HostPort> {
        self.settings.external_address.as_ref()
    }

    /// Our sent-by / Contact host:port towards `dest` over `transport`.
    pub(crate) fn local_hostport(&self, dest: SocketAddr, transport: Transport) -> String {
        if let Some(ext) = &self.settings.external_address {
            return ext.to_string();
        }
        let local = self
            .layer
            .transports()
            .local_for(dest, transport)
            .unwrap_or_else(|| SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 5060));
        let ip = if local.ip().is_unspecified() {
            route_local_ip(dest).unwrap_or(local.ip())
        } else {
            local.ip()
        };
        match ip {
            IpAddr::V4(a) => format!("{a}:{}", local.port()),
            IpAddr::V6(a) => format!("[{a}]:{}", local.port()),
        }
    }

    /// Our Contact header value towards `dest`.
    pub(crate) fn contact(&self, user: &str, dest: SocketAddr, transport: Transport) -> String {
        let hp = self.local_hostport(dest, transport);
        let tp = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        if user.is_empty() {
            format!("<sip:{hp}{tp}>")
        } else {
            format!("<sip:{user}@{hp}{tp}>")
        }
    }

    /// A response to `req` (RFC 3261 8.2.6): its Vias (the top one
    /// finished for `source`, RFC 3581), From, To (with `to_tag` when it
    /// has none and this is not a 100), Call-ID, CSeq and our Server.
    pub(crate) fn response(
        &self,
        req: &Request<'_>,
        source: SocketAddr,
        code: u16,
        to_tag: Option<&str>,
    ) -> MessageBuilder {
        let to_tag = to_tag.filter(|_| code > 100);
        let mut b = MessageBuilder::response_to(&req.headers, source, code, None, to_tag);
        b.header(HeaderName::Server, &self.settings.user_agent);
        b
    }

    /// A response built from a kept [`ResponseHead`], with our Server.
    pub(crate) fn response_from_head(&self, head: &ResponseHead, code: u16) -> MessageBuilder {
        let mut b = head.response(code, None);
        b.header(HeaderName::Server, &self.settings.user_agent);
        b
    }

    // --- the dialog table ---

    /// Registers a dialog usage under its dialog's identifier.
    pub(crate) fn insert_dialog(&self, id: DialogId, usage: Arc<dyn DialogUsage>) {
        self.dialogs.locked().insert(id, usage);
    }

    /// Forgets a dialog.
    pub(crate) fn remove_dialog(&self, id: &DialogId) {
        self.dialogs.locked().remove(id);
    }

    /// Dialogs currently in the table.
    pub(crate) fn dialog_count(&self) -> usize {
        self.dialogs.locked().len()
    }

    /// The usage of the dialog `id`.
    pub(crate) fn dialog(&self, id: &DialogId) -> Option<Arc<dyn DialogUsage>> {
        self.dialogs.locked().get(id).cloned()
    }

    /// The dialog a request with a To tag belongs to: Call-ID and our tag
    /// (the To tag).
    pub(crate) fn dialog_of_request(&self, req: &Request<'_>) -> Option<Arc<dyn DialogUsage>> {
        self.dialog(&request_dialog_id(req)?)
    }

    /// The dialog a response to one of our requests belongs to: Call-ID
    /// and our tag (the From tag).
    pub(crate) fn dialog_of_response(&self, resp: &Response<'_>) -> Option<Arc<dyn DialogUsage>> {
        let call_id = resp.headers.call_id()?;
        let from = resp.headers.from().ok()?;
        self.dialog(&DialogId {
            call_id: call_id.to_string(),
            local_tag: from.tag()?.to_string(),
        })
    }

    /// Our tag in the dialog with this Call-ID and remote tag: a scan of
    /// the table, for the rare CANCEL that comes after our 2xx and before
    /// its ACK.
    pub(crate) fn local_tag_for(&self, call_id: &str, remote_tag: &str) -> Option<String> {
        self.dialogs
            .locked()
            .iter()
            .filter(|(id, _)| id.call_id == call_id)
            .find(|(_, usage)| usage.remote_tag() == remote_tag)
            .map(|(id, _)| id.local_tag.clone())
    }

    // --- INVITEs waiting for their final response ---

    /// Indexes an INVITE we have not answered yet, for CANCEL.
    pub(crate) fn add_pending(&self, key: ServerKey, invite: PendingInvite) {
        self.pending.locked().insert(key, invite);
    }

    /// Takes the unanswered INVITE of transaction `key` out of the index.
    pub(crate) fn take_pending(&self, key: &ServerKey) -> Option<PendingInvite> {
        self.pending.locked().remove(key)
    }

    /// Takes the unanswered INVITE whose early dialog is `id` out of the
    /// index (a BYE on an early dialog, RFC 3261 15.1.2).
    pub(crate) fn take_pending_in_dialog(&self, id: &DialogId) -> Option<PendingInvite> {
        let mut pending = self.pending.locked();
        let key = pending
            .iter()
            .find(|(_, p)| p.call_id == id.call_id && p.local_tag == id.local_tag)
            .map(|(k, _)| k.clone())?;
        pending.remove(&key)
    }

    // --- the call counter ---

    /// Calls in progress (offered, ringing, answered, or being placed).
    pub(crate) fn active_calls(&self) -> usize {
        self.active_calls.load(Ordering::Relaxed)
    }

    /// A call began.
    pub(crate) fn call_started(&self) {
        self.active_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended.
    pub(crate) fn call_ended(&self) {
        self.active_calls.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The dialog identifier of a request inside a dialog of ours: Call-ID
/// and the To tag.
pub(crate) fn request_dialog_id(req: &Request<'_>) -> Option<DialogId> {
    Some(DialogId {
        call_id: req.headers.call_id()?.to_string(),
        local_tag: req.headers.to().ok()?.tag()?.to_string(),
    })
}

/// The final answer to an INVITE we received, sent once by whoever comes
/// first (the application accepting or refusing, CANCEL, an early BYE),
/// built from the request's header fields kept at arrival.
#[derive(Debug)]
pub(crate) struct InviteAnswer {
    head: ResponseHead,
    tx: ServerTransaction,
    finished: AtomicBool,
    cancelled: watch::Sender<bool>,
}

impl InviteAnswer {
    /// The answer state of an INVITE whose responses start with `head`
    /// (our To tag in it), and a receiver that turns true on CANCEL.
    pub(crate) fn new(
        head: ResponseHead,
        tx: ServerTransaction,
    ) -> (Arc<Self>, watch::Receiver<bool>) {
        let (cancelled, rx) = watch::channel(false);
        let answer = InviteAnswer {
            head,
            tx,
            finished: AtomicBool::new(false),
            cancelled,
        };
        (Arc::new(answer), rx)
    }

    /// A response to the INVITE with `code`.
    pub(crate) fn response(&self, core: &UaCore, code: u16) -> MessageBuilder {
        core.response_from_head(&self.head, code)
    }

    /// The INVITE's server transaction.
    pub(crate) fn transaction(&self) -> &ServerTransaction {
        &self.tx
    }

    /// True once a final response was sent.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Sends a provisional response unless the final one was sent.
    pub(crate) fn provisional(&self, code: u16, bytes: Vec<u8>) {
        if !self.is_finished() {
            self.tx.respond(code, bytes);
        }
    }

    /// Sends the final response unless one was sent; true if this call
    /// sent it.
    pub(crate) fn finish(&self, code: u16, bytes: Vec<u8>) -> bool {
        if self.finished.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.tx.respond(code, bytes);
        true
    }
}

/// An INVITE waiting for its final response, indexed for CANCEL.
#[derive(Debug)]
pub(crate) struct PendingInvite {
    local_tag: String,
    call_id: String,
    answer: Arc<InviteAnswer>,
}

impl PendingInvite {
    /// The INVITE with Call-ID `call_id` to which we answer with our tag
    /// `local_tag`, through `answer`.
    pub(crate) fn new(local_tag: String, call_id: String, answer: Arc<InviteAnswer>) -> Self {
        PendingInvite {
            local_tag,
            call_id,
            answer,
        }
    }

    /// Our To tag in the responses to this INVITE.
    pub(crate) fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// The caller cancelled: 487 to the INVITE (RFC 3261 9.2).
    pub(crate) fn cancel(&self, core: &UaCore) {
        let b = self.answer.response(core, 487);
        if self.answer.finish(487, b.finish()) {
            core.call_ended();
            let _ = self.answer.cancelled.send(true);
            info!(call_id = %self.call_id, "call cancelled by the caller");
        }
    }
}

/// The local IP the kernel would use to reach `dest` (no packet is sent).
pub(crate) fn route_local_ip(dest: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if dest.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(dest).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}
