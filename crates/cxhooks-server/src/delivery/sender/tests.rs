//! The sender's outbound safety, without leaving loopback.
use super::*;
use std::str::FromStr;

#[tokio::test]
async fn names_resolving_to_private_addresses_are_refused() {
    let refused = match PublicOnly
        .resolve(Name::from_str("localhost").unwrap())
        .await
    {
        Ok(_) => panic!("localhost resolved to a public address"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("loopback") && refused.contains("allow_private_targets"),
        "{refused}"
    );
}

/// What the resolver keeps of a name's addresses: the check above, on answers no test
/// could get from DNS without leaving loopback.
#[test]
fn resolved_special_purpose_addresses_are_dropped() {
    let addrs = |list: &[&str]| -> Vec<SocketAddr> {
        list.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
            .collect()
    };
    for ip in [
        "192.0.2.1",
        "198.18.0.1",
        "192.0.0.1",
        "198.51.100.1",
        "203.0.113.1",
        "240.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
    ] {
        let resolved = addrs(&[ip]);
        let refused = keep_public("rebind.example", resolved.clone()).unwrap_err();
        assert!(
            refused.contains(&format!("rebind.example resolves to {}", resolved[0].ip()))
                && refused.contains("not globally reachable"),
            "{refused}"
        );
    }
    // A name with public and private answers keeps only the public ones.
    assert_eq!(
        keep_public("mixed.example", addrs(&["10.0.0.1", "8.8.8.8", "::1"])).unwrap(),
        addrs(&["8.8.8.8"])
    );
}

fn hook_to(url: &str) -> HookInfo {
    HookInfo {
        tenant: cxhooks_store::TenantName::parse("acme").unwrap(),
        id: uuid::Uuid::new_v4().into(),
        application_id: uuid::Uuid::new_v4().into(),
        url: url.into(),
        target: reqwest::Url::parse(url).ok(),
        headers: Some(Vec::new()),
        client_id: "c".into(),
        status: cxhooks_store::WebhookStatus::Enabled,
        max_in_flight: None,
        max_per_second: None,
        ordered: false,
        pull: false,
        auth: None,
        auth_opened: true,
    }
}

fn own(listen: SocketAddr) -> OwnAddresses {
    OwnAddresses::new(listen, &format!("http://{listen}"))
}

#[tokio::test]
async fn the_service_itself_is_refused_at_send_time() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = listener.local_addr().unwrap();
    let config = DeliveryConfig {
        allow_private_targets: true,
        ..DeliveryConfig::default()
    };
    let hook = hook_to(&format!("http://{listen}/data/v1/crjob"));
    let observed = Sender::new(&config, own(listen))
        .unwrap()
        .send(
            &hook,
            b"{}",
            "sig",
            &HeaderValue::from_static("kid"),
            None,
            0,
        )
        .await;
    assert_eq!(observed.status, None);
    let error = observed.error.unwrap();
    assert!(
        error.contains("own listener") && error.contains("allow_self_targets"),
        "{error}"
    );
    // Nothing connected.
    let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
    assert!(accepted.is_err(), "the sender connected to the service");
}

#[tokio::test]
async fn literal_private_addresses_are_refused_at_send_time() {
    let config = DeliveryConfig {
        allow_private_targets: false,
        ..DeliveryConfig::default()
    };
    let listen = "127.0.0.1:8480".parse().unwrap();
    for (url, says) in [
        (
            "http://169.254.169.254/latest/meta-data",
            "cloud metadata address",
        ),
        ("http://192.0.2.1/x", "TEST-NET-1"),
        (
            "http://[64:ff9b::7f00:1]/x",
            "NAT64 address embedding 127.0.0.1",
        ),
        (
            "http://[2002:7f00:1::]/x",
            "6to4 address embedding 127.0.0.1",
        ),
    ] {
        let observed = Sender::new(&config, own(listen))
            .unwrap()
            .send(
                &hook_to(url),
                b"{}",
                "sig",
                &HeaderValue::from_static("kid"),
                None,
                0,
            )
            .await;
        assert_eq!(observed.status, None);
        assert!(!observed.succeeded());
        let error = observed.error.unwrap();
        assert!(error.contains(says), "{error}");
    }
}

#[test]
fn retry_after_reads_seconds_and_dates() {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
    assert_eq!(retry_after(&h, 1_000_000), Some(8_000_000));
    h.insert(
        reqwest::header::RETRY_AFTER,
        "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(retry_after(&h, 0), Some(1_445_412_480_000_000));
    h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
    assert_eq!(retry_after(&h, 0), None);
}

#[test]
fn a_ca_file_that_does_not_read_is_named() {
    let listen = "127.0.0.1:8480".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    for (path, says) in [(missing, "missing.pem: "), (empty, "no PEM certificate")] {
        let config = DeliveryConfig {
            ca_file: Some(path),
            ..DeliveryConfig::default()
        };
        let e = Sender::new(&config, own(listen)).unwrap_err().to_string();
        assert!(e.contains("delivery.ca_file") && e.contains(says), "{e}");
    }
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let oauth = OutboundAuth::OAuth2 {
        token_url: "https://login.example/token".into(),
        client_id: "cx".into(),
        client_secret: "very-secret".into(),
        scope: None,
    };
    let mtls = OutboundAuth::Mtls {
        certificate: "-----BEGIN CERTIFICATE-----".into(),
        private_key: "-----BEGIN PRIVATE KEY-----secret".into(),
    };
    for shown in [
        format!("{oauth:?}"),
        format!("{mtls:?}"),
        oauth.shown().to_string(),
    ] {
        assert!(!shown.contains("secret"), "{shown}");
    }
}
