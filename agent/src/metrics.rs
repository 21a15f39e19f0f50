//! What the switch and its agents report through the [`metrics`] facade:
//! every name and label in one place, so that a dashboard, the `/metrics`
//! page and the tests agree. Nothing is recorded unless the application installs a
//! recorder (a Prometheus exporter, for instance).

use std::time::Duration;

use crate::record::Outcome;

/// The `outcome` label of a call record's outcome.
pub fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Completed => "completed",
        Outcome::Refused { .. } => "refused",
        Outcome::Busy => "busy",
        Outcome::NoAnswer => "no_answer",
        Outcome::Cancelled => "cancelled",
        Outcome::Failed { .. } => "failed",
        Outcome::AgentFailed { .. } => "agent_failed",
        Outcome::Interrupted => "interrupted",
    }
}

/// Counter: calls ended, by `outcome` ([`outcome_label`]: `completed`,
/// `refused`, `cancelled`, `failed`, `agent_failed`, …).
pub const CALLS: &str = "ai_line_calls_total";
/// Gauge: calls answered and not yet ended.
pub const ACTIVE_CALLS: &str = "ai_line_active_calls";
/// Gauge per `account`: 1 while the trunk account is registered, 0 otherwise.
pub const REGISTERED: &str = "ai_line_registered";
/// Counter: calls refused by a tenant's policy, by `reason` (the stable
/// [`RefusalReason::code`](crate::policy::RefusalReason::code)).
pub const POLICY_REFUSALS: &str = "ai_line_policy_refusals_total";
/// Counter: INVITEs that came from no configured line (not a trusted peer,
/// not for a trunk account).
pub const UNKNOWN_LINE: &str = "ai_line_unknown_line_total";
/// Counter: agents that failed (returned an error or panicked).
pub const AGENT_ERRORS: &str = "ai_line_agent_errors_total";
/// Histogram, seconds: from the end of the caller's speech to the first
/// audio of the reply.
pub const TURN_LATENCY: &str = "ai_line_turn_latency_seconds";
/// Histogram, seconds: how long answered calls lasted.
pub const CALL_DURATION: &str = "ai_line_call_duration_seconds";

/// Label of [`CALLS`]: what came of the call.
pub const LABEL_OUTCOME: &str = "outcome";
/// Label of [`REGISTERED`]: the account's name.
pub const LABEL_ACCOUNT: &str = "account";
/// Label of [`POLICY_REFUSALS`]: the refusal's code.
pub const LABEL_REASON: &str = "reason";

pub(crate) fn call_ended(outcome: &'static str) {
    metrics::counter!(CALLS, LABEL_OUTCOME => outcome).increment(1);
}

pub(crate) fn call_answered() {
    metrics::gauge!(ACTIVE_CALLS).increment(1.0);
}

pub(crate) fn answered_call_ended(duration: Duration) {
    metrics::gauge!(ACTIVE_CALLS).decrement(1.0);
    metrics::histogram!(CALL_DURATION).record(duration.as_secs_f64());
}

pub(crate) fn registration(account: &str, registered: bool) {
    metrics::gauge!(REGISTERED, LABEL_ACCOUNT => account.to_string()).set(if registered {
        1.0
    } else {
        0.0
    });
}

pub(crate) fn policy_refusal(reason: &'static str) {
    metrics::counter!(POLICY_REFUSALS, LABEL_REASON => reason).increment(1);
}

pub(crate) fn unknown_line() {
    metrics::counter!(UNKNOWN_LINE).increment(1);
}

pub(crate) fn agent_error() {
    metrics::counter!(AGENT_ERRORS).increment(1);
}

/// Records one turn's response latency (the silence the caller heard);
/// agents that measure turns call it.
pub fn turn_latency(latency: Duration) {
    metrics::histogram!(TURN_LATENCY).record(latency.as_secs_f64());
}
