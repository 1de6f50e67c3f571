//! The IANA special-purpose address registries, row for row, and the few blocks cxhooks adds.
//!
//! Sources (every row of both, as published in 2025; when they change, change this table and
//! its tests):
//! - <https://www.iana.org/assignments/iana-ipv4-special-registry/> (RFC 6890)
//! - <https://www.iana.org/assignments/iana-ipv6-special-registry/> (RFC 6890)
//!
//! An address takes the verdict of the most specific block that holds it, so `192.0.0.9/32`
//! (globally reachable) wins over `192.0.0.0/24` (not). An address in no block is global.
//!
//! No crate fitted: those that answer "is this address global" (`ip_network`, `ipext`, the
//! `nex-core`/`netdev` family) copy the standard library's unstable `is_global`, which lets
//! NAT64 (`64:ff9b::/96`), 6to4 (`2002::/16`) and IPv4-compatible (`::/96`) addresses through
//! whatever IPv4 address they embed, and lags the registries (`5f00::/16`, `100:0:0:1::/64`).
//! `ipnet` does the block arithmetic.

use ipnet::IpNet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// Where a block's addresses may be reached from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// "Globally Reachable: True".
    Global,
    /// "Globally Reachable: False" (or N/A, or added by cxhooks): refused.
    Local,
    /// The address carries an IPv4 address that decides instead.
    Embeds(Embedding),
}

/// Where an IPv6 address carries an IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// The last 32 bits (`::ffff:a.b.c.d`, `::a.b.c.d`, `64:ff9b::a.b.c.d`).
    Last32,
    /// Bits 16 to 48: 6to4's `2002:AABB:CCDD::/48` (RFC 3056 §2).
    SixToFour,
}

impl Embedding {
    /// The IPv4 address `ip` carries.
    pub fn extract(self, ip: Ipv6Addr) -> Ipv4Addr {
        let o = ip.octets();
        match self {
            Embedding::Last32 => Ipv4Addr::new(o[12], o[13], o[14], o[15]),
            Embedding::SixToFour => Ipv4Addr::new(o[2], o[3], o[4], o[5]),
        }
    }
}

/// One block.
#[derive(Debug)]
pub struct Row {
    /// The block, as the registry writes it.
    pub block: &'static str,
    /// What an address in it is, as a message says it ("a loopback address").
    pub what: &'static str,
    /// Where it is defined.
    pub rfc: &'static str,
    /// The verdict.
    pub reach: Reach,
}

const fn row(block: &'static str, what: &'static str, rfc: &'static str, reach: Reach) -> Row {
    Row {
        block,
        what,
        rfc,
        reach,
    }
}

use Reach::{Embeds, Global, Local};

/// Every row of the IANA IPv4 Special-Purpose Address Registry, then cxhooks' additions.
pub static IPV4: &[Row] = &[
    row("0.0.0.0/8", "a \"this network\" address", "RFC 791", Local),
    row("0.0.0.0/32", "the unspecified address", "RFC 1122", Local),
    row("10.0.0.0/8", "a private-use address", "RFC 1918", Local),
    row(
        "100.64.0.0/10",
        "a shared (carrier-grade NAT) address",
        "RFC 6598",
        Local,
    ),
    row("127.0.0.0/8", "a loopback address", "RFC 1122", Local),
    row("169.254.0.0/16", "a link-local address", "RFC 3927", Local),
    row("172.16.0.0/12", "a private-use address", "RFC 1918", Local),
    row(
        "192.0.0.0/24",
        "an IETF protocol assignment",
        "RFC 6890",
        Local,
    ),
    row(
        "192.0.0.0/29",
        "an IPv4 service continuity address",
        "RFC 7335",
        Local,
    ),
    row("192.0.0.8/32", "the IPv4 dummy address", "RFC 7600", Local),
    row(
        "192.0.0.9/32",
        "the PCP anycast address",
        "RFC 7723",
        Global,
    ),
    row(
        "192.0.0.10/32",
        "the TURN anycast address",
        "RFC 8155",
        Global,
    ),
    row(
        "192.0.0.170/32",
        "a NAT64/DNS64 discovery address",
        "RFC 8880",
        Local,
    ),
    row(
        "192.0.0.171/32",
        "a NAT64/DNS64 discovery address",
        "RFC 8880",
        Local,
    ),
    row(
        "192.0.2.0/24",
        "a documentation address (TEST-NET-1)",
        "RFC 5737",
        Local,
    ),
    row("192.31.196.0/24", "an AS112 address", "RFC 7535", Global),
    row("192.52.193.0/24", "an AMT address", "RFC 7450", Global),
    // Deprecated: the registry gives no verdict; nothing a webhook should reach is there.
    row(
        "192.88.99.0/24",
        "a deprecated 6to4 relay anycast address",
        "RFC 7526",
        Local,
    ),
    row(
        "192.88.99.2/32",
        "the 6a44 relay anycast address",
        "RFC 6751",
        Local,
    ),
    row("192.168.0.0/16", "a private-use address", "RFC 1918", Local),
    row(
        "192.175.48.0/24",
        "an AS112 direct delegation address",
        "RFC 7534",
        Global,
    ),
    row("198.18.0.0/15", "a benchmarking address", "RFC 2544", Local),
    row(
        "198.51.100.0/24",
        "a documentation address (TEST-NET-2)",
        "RFC 5737",
        Local,
    ),
    row(
        "203.0.113.0/24",
        "a documentation address (TEST-NET-3)",
        "RFC 5737",
        Local,
    ),
    row("240.0.0.0/4", "a reserved address", "RFC 1112", Local),
    row(
        "255.255.255.255/32",
        "the limited broadcast address",
        "RFC 919",
        Local,
    ),
    // cxhooks: multicast (its own registry) and the cloud metadata services.
    row("224.0.0.0/4", "a multicast address", "RFC 5771", Local),
    row(
        "169.254.169.254/32",
        "a cloud metadata address",
        "AWS, GCP, Azure",
        Local,
    ),
    row(
        "100.100.100.200/32",
        "a cloud metadata address",
        "Alibaba Cloud",
        Local,
    ),
];

/// Every row of the IANA IPv6 Special-Purpose Address Registry, then cxhooks' additions.
pub static IPV6: &[Row] = &[
    row("::1/128", "the loopback address", "RFC 4291", Local),
    row("::/128", "the unspecified address", "RFC 4291", Local),
    // The registry says not global; a connection to it goes out over IPv4 to what it embeds.
    row(
        "::ffff:0:0/96",
        "an IPv4-mapped address",
        "RFC 4291",
        Embeds(Embedding::Last32),
    ),
    row(
        "64:ff9b::/96",
        "a NAT64 address",
        "RFC 6052",
        Embeds(Embedding::Last32),
    ),
    row(
        "64:ff9b:1::/48",
        "a local-use NAT64 address",
        "RFC 8215",
        Local,
    ),
    row("100::/64", "a discard-only address", "RFC 6666", Local),
    row(
        "100:0:0:1::/64",
        "a dummy IPv6 prefix address",
        "RFC 9780",
        Local,
    ),
    row(
        "2001::/23",
        "an IETF protocol assignment",
        "RFC 2928",
        Local,
    ),
    // Teredo: the registry gives no verdict; it tunnels to a client behind a NAT.
    row("2001::/32", "a Teredo address", "RFC 4380", Local),
    row(
        "2001:1::1/128",
        "the PCP anycast address",
        "RFC 7723",
        Global,
    ),
    row(
        "2001:1::2/128",
        "the TURN anycast address",
        "RFC 8155",
        Global,
    ),
    row(
        "2001:1::3/128",
        "the DNS-SD SRP anycast address",
        "RFC 9665",
        Global,
    ),
    row("2001:2::/48", "a benchmarking address", "RFC 5180", Local),
    row("2001:3::/32", "an AMT address", "RFC 7450", Global),
    row("2001:4:112::/48", "an AS112 address", "RFC 7535", Global),
    // Deprecated (ORCHID): no verdict in the registry.
    row(
        "2001:10::/28",
        "a deprecated ORCHID address",
        "RFC 4843",
        Local,
    ),
    row("2001:20::/28", "an ORCHIDv2 address", "RFC 7343", Global),
    row(
        "2001:30::/28",
        "a drone remote ID address",
        "RFC 9374",
        Global,
    ),
    row(
        "2001:db8::/32",
        "a documentation address",
        "RFC 3849",
        Local,
    ),
    // No verdict in the registry: the IPv4 address it embeds decides.
    row(
        "2002::/16",
        "a 6to4 address",
        "RFC 3056",
        Embeds(Embedding::SixToFour),
    ),
    row(
        "2620:4f:8000::/48",
        "an AS112 direct delegation address",
        "RFC 7534",
        Global,
    ),
    row("3fff::/20", "a documentation address", "RFC 9637", Local),
    row(
        "5f00::/16",
        "a segment routing (SRv6) SID",
        "RFC 9602",
        Local,
    ),
    row("fc00::/7", "a unique-local address", "RFC 4193", Local),
    row("fe80::/10", "a link-local address", "RFC 4291", Local),
    // cxhooks: deprecated forms that still reach local hosts, multicast, cloud metadata.
    row(
        "::/96",
        "an IPv4-compatible address",
        "RFC 4291 §2.5.5.1",
        Embeds(Embedding::Last32),
    ),
    row("fec0::/10", "a site-local address", "RFC 3879", Local),
    row("ff00::/8", "a multicast address", "RFC 4291", Local),
    row(
        "fd00:ec2::254/128",
        "a cloud metadata address",
        "AWS",
        Local,
    ),
];

/// Both tables with their blocks parsed.
static TABLE: LazyLock<Vec<(IpNet, &'static Row)>> = LazyLock::new(|| {
    IPV4.iter()
        .chain(IPV6)
        .map(|r| (r.block.parse().expect("a block of the table"), r))
        .collect()
});

/// The most specific row holding `ip`, if any.
pub fn lookup(ip: std::net::IpAddr) -> Option<&'static Row> {
    TABLE
        .iter()
        .filter(|(net, _)| net.contains(&ip))
        .max_by_key(|(net, _)| net.prefix_len())
        .map(|(_, row)| *row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_is_a_network_and_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (net, row) in TABLE.iter() {
            assert_eq!(*net, net.trunc(), "{} has host bits set", row.block);
            assert!(seen.insert(*net), "{} is listed twice", row.block);
        }
        assert_eq!(TABLE.len(), IPV4.len() + IPV6.len());
    }

    #[test]
    fn the_most_specific_row_wins() {
        let block = |ip: &str| lookup(ip.parse().unwrap()).map(|r| r.block);
        assert_eq!(block("192.0.0.9"), Some("192.0.0.9/32"));
        assert_eq!(block("192.0.0.11"), Some("192.0.0.0/24"));
        assert_eq!(block("192.0.0.7"), Some("192.0.0.0/29"));
        assert_eq!(block("169.254.169.254"), Some("169.254.169.254/32"));
        assert_eq!(block("2001:1::3"), Some("2001:1::3/128"));
        assert_eq!(block("2001:1::4"), Some("2001::/23"));
        assert_eq!(block("2001:0:4136:e378::1"), Some("2001::/32"));
        assert_eq!(block("2001:100::1"), Some("2001::/23"));
        assert_eq!(block("::1"), Some("::1/128"));
        assert_eq!(block("::7f00:1"), Some("::/96"));
        assert_eq!(block("2001:200::1"), None);
        assert_eq!(block("8.8.8.8"), None);
        assert_eq!(block("2606:4700::1111"), None);
    }

    #[test]
    fn embedded_ipv4_addresses_are_found() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(
            Embedding::Last32.extract(v6("64:ff9b::7f00:1")),
            Ipv4Addr::LOCALHOST
        );
        assert_eq!(
            Embedding::SixToFour.extract(v6("2002:7f00:1::")),
            Ipv4Addr::LOCALHOST
        );
        assert_eq!(
            Embedding::SixToFour.extract(v6("2002:c000:201:1::5")),
            Ipv4Addr::new(192, 0, 2, 1)
        );
    }
}
