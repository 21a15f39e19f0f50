//! What a status page reads from a running switch: each trunk account's
//! registration state and the calls in progress with their context.
//!
//! [`Switch::status`](super::Switch::status) hands out a [`SwitchStatus`]:
//! cheap to clone, it shares the switch's list of live calls and watches
//! the registrations, so a web server can hold one while the switch itself
//! is kept (and consumed by [`Switch::shutdown`](super::Switch::shutdown))
//! elsewhere.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use serde::Serialize;
use sip_core::registration::RegistrationState;
use tokio::sync::watch;

use crate::record::{CallDirection, Party};

/// A call in progress, as a status page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveCall {
    /// The SIP Call-ID, also the id of the call's record.
    pub call_id: String,
    /// The line it came in on or went out by (trunk account or trusted
    /// peer).
    pub line: String,
    /// The tenant the line belongs to.
    pub tenant: Option<String>,
    /// Whether it came in or went out.
    pub direction: CallDirection,
    /// Who called: on an originated call, our own caller ID.
    pub caller: Party,
    /// The number dialled (our DID, or the number an originated call
    /// rang), in E.164 where it could be normalised.
    pub did: Option<String>,
    /// The agent serving the call now (it changes on a transfer to
    /// another agent or a fallback).
    pub agent: Option<String>,
    /// When the call started: the INVITE arrived, or an originated call
    /// was answered.
    pub since: Timestamp,
}

/// The calls in progress, by call id; shared by the call tasks (which add
/// and remove their own) and every [`SwitchStatus`].
#[derive(Debug, Clone, Default)]
pub(crate) struct ActiveCalls(Arc<Mutex<BTreeMap<String, ActiveCall>>>);

impl ActiveCalls {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ActiveCall>> {
        // A panic elsewhere while holding the lock leaves a usable map.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists `call` until the returned entry is dropped.
    pub(crate) fn add(&self, call: ActiveCall) -> ActiveCallEntry {
        let call_id = call.call_id.clone();
        self.lock().insert(call_id.clone(), call);
        ActiveCallEntry {
            calls: self.clone(),
            call_id,
        }
    }
}

/// A call's place in the list of calls in progress; dropping it (the call
/// task ending, however it ends) takes the call off the list.
#[derive(Debug)]
pub(crate) struct ActiveCallEntry {
    calls: ActiveCalls,
    call_id: String,
}

impl ActiveCallEntry {
    /// Notes the agent now serving the call.
    pub(crate) fn set_agent(&self, agent: &str) {
        if let Some(call) = self.calls.lock().get_mut(&self.call_id) {
            call.agent = Some(agent.to_string());
        }
    }
}

impl Drop for ActiveCallEntry {
    fn drop(&mut self) {
        self.calls.lock().remove(&self.call_id);
    }
}

/// A trunk account and where its registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStatus {
    /// The account's name in the configuration.
    pub name: String,
    /// Its registration state now.
    pub state: RegistrationState,
}

/// A cheap, cloneable view of a running switch for status pages, from
/// [`Switch::status`](super::Switch::status): it shares the switch's list
/// of live calls and watches the registrations, so a web server can hold
/// one while the switch itself is kept (and consumed by
/// [`Switch::shutdown`](super::Switch::shutdown)) elsewhere. The default
/// has no accounts and no calls (a switch without trunk accounts, before
/// its first call).
#[derive(Debug, Clone, Default)]
pub struct SwitchStatus {
    pub(crate) accounts: Arc<[(String, watch::Receiver<RegistrationState>)]>,
    pub(crate) calls: ActiveCalls,
}

impl SwitchStatus {
    /// Each trunk account with its registration state, in configuration
    /// order. After the switch has shut down, the last state each
    /// registration reached.
    pub fn accounts(&self) -> Vec<AccountStatus> {
        self.accounts
            .iter()
            .map(|(name, state)| AccountStatus {
                name: name.clone(),
                state: state.borrow().clone(),
            })
            .collect()
    }

    /// The calls in progress now (from the opened record to the end of the
    /// call's task), oldest first.
    pub fn active_calls(&self) -> Vec<ActiveCall> {
        let mut calls: Vec<ActiveCall> = self.calls.lock().values().cloned().collect();
        calls.sort_by(|a, b| a.since.cmp(&b.since).then(a.call_id.cmp(&b.call_id)));
        calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, since: &str) -> ActiveCall {
        ActiveCall {
            call_id: id.into(),
            line: "sipp".into(),
            tenant: Some("acme".into()),
            direction: CallDirection::Inbound,
            caller: Party::raw("+390212345678"),
            did: Some("+390299887766".into()),
            agent: Some("echo".into()),
            since: since.parse().unwrap(),
        }
    }

    #[test]
    fn a_call_is_listed_oldest_first_until_its_entry_is_dropped() {
        let calls = ActiveCalls::default();
        let status = SwitchStatus {
            accounts: Arc::from(Vec::new()),
            calls: calls.clone(),
        };
        let late = calls.add(call("b", "2026-12-04T10:00:05Z"));
        let early = calls.add(call("a", "2026-12-04T10:00:00Z"));
        let ids: Vec<String> = status
            .active_calls()
            .into_iter()
            .map(|c| c.call_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        early.set_agent("voicemail");
        assert_eq!(status.active_calls()[0].agent.as_deref(), Some("voicemail"));
        drop(early);
        let ids: Vec<String> = status
            .active_calls()
            .into_iter()
            .map(|c| c.call_id)
            .collect();
        assert_eq!(ids, ["b"]);
        drop(late);
        assert!(status.active_calls().is_empty());
    }

    #[test]
    fn an_account_shows_the_state_its_registration_is_in_now() {
        let (tx, rx) = watch::channel(RegistrationState::Registering);
        let status = SwitchStatus {
            accounts: Arc::from(vec![("trunk".to_string(), rx)]),
            calls: ActiveCalls::default(),
        };
        assert_eq!(status.accounts()[0].state, RegistrationState::Registering);
        let failed = RegistrationState::Failed {
            code: Some(403),
            reason: "Forbidden".into(),
            retry_in: std::time::Duration::from_secs(30),
        };
        tx.send(failed.clone()).unwrap();
        assert_eq!(status.accounts()[0].name, "trunk");
        assert_eq!(status.accounts()[0].state, failed);
    }
}
