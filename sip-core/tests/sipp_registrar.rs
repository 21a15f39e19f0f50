//! Registration against SIPp acting as the provider's registrar: it
//! challenges with 401, checks our digest with `verifyauth`, grants a
//! shorter expiry than we asked for, and checks the refresh and the
//! unregister. Also a registrar that refuses us, surfaced as a failure.

mod common;

use std::time::Duration;

use common::{
    addr, free_port, one_call, require, scenario, sipp_report, sipp_response, start_sipp,
    start_sipp_server,
};
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::registration::{Account, RegistrationState};

/// Challenge, verify, grant `granted` seconds; then the refresh (which
/// reuses the nonce with the next nonce count, or is challenged again) and
/// finally the unregister with Expires: 0.
fn registrar_scenario(granted: u32, password: &str) -> String {
    let challenge = format!(
        r#"
  <recv request="REGISTER" crlf="true"/>{}"#,
        sipp_response(
            401,
            "Unauthorized",
            "WWW-Authenticate: Digest realm=\"trunk.example\", nonce=\"[pid]n[clock_tick]\", qop=\"auth\", algorithm=MD5\n",
            None,
        )
    );
    let verify = |label: &str, expires: &str, extra: &str| {
        format!(
            r#"
  <recv request="REGISTER">
    <action>{extra}
      <verifyauth assign_to="ok_{label}" username="alice" password="{password}"/>
      <ereg regexp="Expires: *([0-9]+)|expires=([0-9]+)" search_in="msg" check_it="true" assign_to="e_{label},e1_{label},e2_{label}"/>
    </action>
  </recv>
  <nop hide="true" test="ok_{label}" next="good_{label}"/>{forbidden}
  <label id="good_{label}"/>{ok}"#,
            forbidden = sipp_response(403, "Forbidden", "", Some("end")),
            ok = sipp_response(
                200,
                "OK",
                &format!("Contact: [$contact];expires={expires}\n"),
                None
            ),
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar">
{challenge}
{first}
{refresh}
{unregister}
  <label id="end"/>
  <Reference variables="e_a,e1_a,e2_a,e_b,e1_b,e2_b,e_c,e1_c,e2_c,whole"/>
</scenario>
"#,
        first = verify(
            "a",
            &granted.to_string(),
            r#"
      <ereg regexp="Contact: *&lt;([^&gt;]*)&gt;" search_in="msg" check_it="true" assign_to="whole,contact"/>"#
        ),
        refresh = verify("b", &granted.to_string(), ""),
        unregister = verify("c", "0", ""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_digest_honours_granted_expiry_refreshes_and_unregisters() {
    require("sipp");
    let registrar_port = free_port();
    let xml = registrar_scenario(4, "secret");
    let sf = scenario("registrar.xml", &xml);
    let sipp = start_sipp_server(&sf, registrar_port, 1, "30s").await;

    let (ep, _incoming) = Endpoint::bind(EndpointConfig::listen(addr(free_port())))
        .await
        .expect("bind");
    let mut account =
        Account::new(&format!("127.0.0.1:{registrar_port}"), "alice", "secret").expect("account");
    account.expires = Duration::from_secs(3600);
    let mut reg = ep.register(account);
    match reg.settled().await {
        RegistrationState::Registered { expires, .. } => {
            assert_eq!(
                expires,
                Duration::from_secs(4),
                "the registrar granted 4 s, not the 3600 asked"
            )
        }
        other => panic!("not registered: {other:?}"),
    }
    // The refresh happens before the 4 s run out; the registration stays up.
    let refreshed = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            let s = reg.changed().await;
            if !matches!(
                s,
                RegistrationState::Registered { .. } | RegistrationState::Registering
            ) {
                return s;
            }
            if let RegistrationState::Registered { .. } = s {
                return s;
            }
        }
    })
    .await
    .expect("refreshed in time");
    assert!(
        matches!(refreshed, RegistrationState::Registered { .. }),
        "{refreshed:?}"
    );
    let last = reg.unregister().await;
    assert_eq!(last, RegistrationState::Unregistered);
    let out = sipp.await.expect("sipp task");
    assert!(out.status.success(), "{}", sipp_report(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_surfaced_as_a_failure_with_the_status() {
    require("sipp");
    let registrar_port = free_port();
    let xml = registrar_scenario(60, "the-right-one");
    let sf = scenario("registrar-403.xml", &xml);
    let sipp = start_sipp(one_call(&sf, registrar_port, "20s")).await;
    let (ep, _incoming) = Endpoint::bind(EndpointConfig::listen(addr(free_port())))
        .await
        .expect("bind");
    let mut reg = ep.register(
        Account::new(&format!("127.0.0.1:{registrar_port}"), "alice", "wrong").expect("account"),
    );
    match reg.settled().await {
        RegistrationState::Failed { code, .. } => assert_eq!(code, Some(403)),
        other => panic!("expected a failure, got {other:?}"),
    }
    drop(reg);
    let _ = sipp.await;
}
