//! Outbound safety: which addresses a webhook may not point at (SPEC §6). The same check runs
//! on a url's literal host when a webhook is saved and, later, on every resolved address when a
//! delivery is sent.
//!
//! - [`ranges`]: the IANA special-purpose registries as a table; an address that is not
//!   globally reachable, or that embeds an IPv4 address that is not, is refused.
//! - [`own`]: the service's own addresses (its listener, its public url), refused even when
//!   private targets are allowed, so a webhook cannot feed the service its own deliveries.

pub mod own;
pub mod ranges;

pub use own::OwnAddresses;

use ranges::Reach;
use std::net::{IpAddr, Ipv4Addr};

/// Why an address is refused: the registry block it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forbidden {
    /// The address that decided: the IPv4 address an IPv6 one embeds, or the address itself.
    pub address: IpAddr,
    /// The block it falls in (`127.0.0.0/8`).
    pub block: &'static str,
    /// What such an address is (`a loopback address`).
    pub what: &'static str,
    /// Where the block is defined.
    pub rfc: &'static str,
    /// What the IPv6 address that embedded `address` is, if it was embedded.
    pub embedded_in: Option<&'static str>,
}

impl std::fmt::Display for Forbidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(outer) = self.embedded_in {
            write!(f, "{outer} embedding {}, ", self.address)?;
        }
        write!(f, "{} ({}, {})", self.what, self.block, self.rfc)
    }
}

/// Why an address is refused as a delivery target, or `None` if it is globally reachable.
pub fn forbidden_reason(ip: IpAddr) -> Option<Forbidden> {
    let row = ranges::lookup(ip)?;
    let refused = |address, row: &'static ranges::Row, embedded_in| Forbidden {
        address,
        block: row.block,
        what: row.what,
        rfc: row.rfc,
        embedded_in,
    };
    match (row.reach, ip) {
        (Reach::Global, _) => None,
        (Reach::Local, _) => Some(refused(ip, row, None)),
        (Reach::Embeds(how), IpAddr::V6(v6)) => {
            let inner = IpAddr::V4(how.extract(v6));
            let inner_row = ranges::lookup(inner)?;
            (inner_row.reach != Reach::Global).then(|| refused(inner, inner_row, Some(row.what)))
        }
        // IPv4 rows never embed.
        (Reach::Embeds(_), IpAddr::V4(_)) => None,
    }
}

/// Whether `name` is `localhost` or under it (RFC 6761 §6.3: always the loopback host).
pub fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Why a url's literal host is refused, or `None`. Host names other than `localhost` are
/// checked on their resolved addresses at send time.
pub fn forbidden_host(host: &url::Host<&str>) -> Option<String> {
    match host {
        url::Host::Ipv4(ip) => forbidden_reason(IpAddr::V4(*ip)).map(|r| r.to_string()),
        url::Host::Ipv6(ip) => forbidden_reason(IpAddr::V6(*ip)).map(|r| r.to_string()),
        url::Host::Domain(name) => is_localhost(name).then(|| {
            let loopback = forbidden_reason(IpAddr::V4(Ipv4Addr::LOCALHOST));
            format!("{} (localhost)", loopback.expect("127.0.0.1 is refused"))
        }),
    }
}

/// Whether an address may receive deliveries without `delivery.allow_private_targets`.
pub fn is_public(ip: IpAddr) -> bool {
    forbidden_reason(ip).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    fn reason(ip: &str) -> Option<Forbidden> {
        forbidden_reason(ip.parse().unwrap())
    }

    /// Issue 24's list, the registry's documentation and reserved blocks, and the embedded
    /// forms: each refused, and said to be what it is.
    #[test]
    fn special_purpose_addresses_are_refused() {
        for (ip, says) in [
            ("192.0.2.1", "documentation address (TEST-NET-1)"),
            ("198.51.100.7", "TEST-NET-2"),
            ("203.0.113.200", "TEST-NET-3"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("192.0.0.1", "IPv4 service continuity"),
            ("192.0.0.100", "IETF protocol assignment"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "limited broadcast"),
            ("224.0.0.1", "multicast"),
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private-use"),
            ("172.16.0.1", "private-use"),
            ("192.168.1.1", "private-use"),
            ("169.254.169.254", "cloud metadata"),
            ("100.100.100.200", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fd12::1", "unique-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001:2::1", "benchmarking"),
            ("2001::1", "Teredo"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::1", "discard-only"),
            ("5f00::1", "SRv6"),
            (
                "::127.0.0.1",
                "an IPv4-compatible address embedding 127.0.0.1, a loopback",
            ),
            (
                "64:ff9b::7f00:1",
                "a NAT64 address embedding 127.0.0.1, a loopback",
            ),
            (
                "64:ff9b::a00:1",
                "a NAT64 address embedding 10.0.0.1, a private-use",
            ),
            (
                "2002:7f00:1::",
                "a 6to4 address embedding 127.0.0.1, a loopback",
            ),
            (
                "2002:a9fe:a9fe::1",
                "embedding 169.254.169.254, a cloud metadata",
            ),
            (
                "::ffff:127.0.0.1",
                "an IPv4-mapped address embedding 127.0.0.1",
            ),
            ("::ffff:192.0.2.1", "TEST-NET-1"),
        ] {
            let r = reason(ip).unwrap_or_else(|| panic!("{ip} is not refused"));
            assert!(r.to_string().contains(says), "{ip}: {r}");
        }
    }

    #[test]
    fn globally_reachable_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "192.0.0.9",
            "192.0.0.10",
            "192.31.196.1",
            "2606:4700::1111",
            "2001:1::1",
            "2001:3::1",
            "2001:20::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}: {:?}", reason(ip));
        }
    }

    /// Every row of both tables, at the edges it decides: refused with that row named, let
    /// through, or decided by the IPv4 address it embeds.
    #[test]
    fn every_row_gives_its_verdict() {
        for row in ranges::IPV4.iter().chain(ranges::IPV6) {
            let net: IpNet = row.block.parse().unwrap();
            let mut checked = 0;
            for ip in [net.network(), net.broadcast()] {
                if !ranges::lookup(ip).is_some_and(|r| std::ptr::eq(r, row)) {
                    continue; // a more specific row decides this one
                }
                checked += 1;
                let got = forbidden_reason(ip);
                match (row.reach, ip) {
                    (Reach::Global, _) => assert_eq!(got, None, "{ip} in {}", row.block),
                    (Reach::Local, _) => {
                        assert_eq!(got.map(|f| f.block), Some(row.block), "{ip}");
                        assert_eq!(got.and_then(|f| f.embedded_in), None, "{ip}");
                    }
                    (Reach::Embeds(how), IpAddr::V6(v6)) => {
                        let inner = forbidden_reason(IpAddr::V4(how.extract(v6)));
                        assert_eq!(got.map(|f| f.block), inner.map(|f| f.block), "{ip}");
                        assert_eq!(got.and_then(|f| f.embedded_in), inner.map(|_| row.what));
                    }
                    (Reach::Embeds(_), IpAddr::V4(_)) => panic!("{} embeds in IPv4", row.block),
                }
            }
            assert!(checked > 0, "{} decides neither edge", row.block);
        }
    }

    #[test]
    fn localhost_names_are_refused() {
        let refused = forbidden_host(&url::Host::Domain("LocalHost.")).unwrap();
        assert!(refused.contains("loopback"), "{refused}");
        assert!(forbidden_host(&url::Host::Domain("api.localhost")).is_some());
        assert!(forbidden_host(&url::Host::Domain("example.com")).is_none());
        assert!(forbidden_host(&url::Host::Domain("localhost.example.com")).is_none());
    }
}
