//! The service's own addresses. A webhook aimed at the service itself makes every delivery a
//! request that publishes more (issue 24: one record became 3,476 in 8 s), so such a target is
//! refused unless `delivery.allow_self_targets`, even where `delivery.allow_private_targets`
//! lets loopback receivers on other ports through. The check sees literal addresses, `localhost`
//! and the public url's host; a name that only resolves to the service is stopped by the
//! `Cx-Delivery-Hop` header instead (see `crate::api::refuse_delivery_loops`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where the service answers: its listener, and its public url's host and port.
#[derive(Debug, Clone)]
pub struct OwnAddresses {
    listen: SocketAddr,
    public: Option<(url::Host<String>, u16)>,
}

impl OwnAddresses {
    /// The addresses of a service bound to `listen` and reached at `public_url`.
    pub fn new(listen: SocketAddr, public_url: &str) -> Self {
        let public = url::Url::parse(public_url)
            .ok()
            .and_then(|u| Some((normalise(u.host()?), u.port_or_known_default()?)));
        Self { listen, public }
    }

    /// What of this service `url` points at, or `None` if it points elsewhere.
    pub fn find(&self, url: &url::Url) -> Option<String> {
        let host = url.host()?;
        let port = url.port_or_known_default()?;
        if port == self.listen.port() {
            let addresses = match &host {
                url::Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
                url::Host::Ipv6(ip) => vec![ip.to_canonical()],
                url::Host::Domain(name) if super::is_localhost(name) => {
                    vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
                }
                url::Host::Domain(_) => Vec::new(),
            };
            if addresses.into_iter().any(|ip| self.reaches_listener(ip)) {
                return Some(format!("this service's own listener ({})", self.listen));
            }
        }
        let (public_host, public_port) = self.public.as_ref()?;
        (port == *public_port && normalise(host) == *public_host).then(|| {
            format!("this service's public url (server.public_url, {public_host}:{public_port})")
        })
    }

    /// Whether a connection to `ip` on the listener's port reaches the listener.
    fn reaches_listener(&self, ip: IpAddr) -> bool {
        let listen = self.listen.ip().to_canonical();
        // Connecting to 0.0.0.0 or :: reaches this host.
        if ip == listen
            || (ip.is_unspecified() && (listen.is_loopback() || listen.is_unspecified()))
        {
            return true;
        }
        // A wildcard listener answers on every loopback address and every interface address:
        // those are listed when asked, so an address added since start-up counts too.
        listen.is_unspecified()
            && (ip.is_loopback()
                || if_addrs::get_if_addrs()
                    .map(|all| all.iter().any(|i| i.ip().to_canonical() == ip))
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "cannot list this host's interface addresses");
                        false
                    }))
    }
}

/// `host` compared as the network sees it: IPv4-mapped IPv6 as IPv4, names without the final
/// dot (the url crate lower-cases them already).
fn normalise(host: url::Host<&str>) -> url::Host<String> {
    match host {
        url::Host::Domain(name) => url::Host::Domain(name.trim_end_matches('.').to_owned()),
        url::Host::Ipv4(ip) => url::Host::Ipv4(ip),
        url::Host::Ipv6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => url::Host::Ipv4(v4),
            None => url::Host::Ipv6(ip),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(own: &OwnAddresses, url: &str) -> Option<String> {
        own.find(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn a_loopback_listener_is_found_on_its_port_only() {
        let own = OwnAddresses::new("127.0.0.1:8480".parse().unwrap(), "http://127.0.0.1:8480");
        for url in [
            "http://127.0.0.1:8480/data/v1/crjob",
            "http://localhost:8480/x",
            "http://LOCALHOST.:8480/x",
            "http://[::ffff:127.0.0.1]:8480/x",
            "http://0.0.0.0:8480/x",
        ] {
            assert!(find(&own, url).is_some(), "{url}");
        }
        for url in [
            "http://127.0.0.1:9999/hook",
            "http://localhost:8481/hook",
            "http://127.0.0.2:8480/x",
            "https://example.com/x",
        ] {
            assert_eq!(find(&own, url), None, "{url}");
        }
    }

    #[test]
    fn the_public_url_is_found_by_host_and_port() {
        let own = OwnAddresses::new(
            "10.0.0.5:8480".parse().unwrap(),
            "https://Hooks.Example.com/base",
        );
        let found = find(&own, "https://hooks.example.com./data/v1/crjob").unwrap();
        assert!(found.contains("server.public_url"), "{found}");
        assert!(find(&own, "https://hooks.example.com:443/webhooks/v1/changes").is_some());
        assert!(
            find(&own, "http://10.0.0.5:8480/x")
                .unwrap()
                .contains("listener")
        );
        assert_eq!(find(&own, "http://hooks.example.com/x"), None);
        assert_eq!(find(&own, "https://other.example.com/x"), None);
        assert_eq!(find(&own, "http://10.0.0.6:8480/x"), None);
    }

    #[test]
    fn a_wildcard_listener_answers_on_every_interface() {
        let own = OwnAddresses::new("0.0.0.0:8480".parse().unwrap(), "https://hooks.example.com");
        let interfaces = if_addrs::get_if_addrs().unwrap();
        assert!(!interfaces.is_empty());
        for i in interfaces {
            let url = match i.ip() {
                IpAddr::V4(ip) => format!("http://{ip}:8480/data/v1/crjob"),
                IpAddr::V6(ip) => format!("http://[{ip}]:8480/data/v1/crjob"),
            };
            assert!(find(&own, &url).is_some(), "{url}");
        }
        assert!(find(&own, "http://127.0.0.53:8480/x").is_some());
        assert!(find(&own, "http://[::1]:8480/x").is_some());
        // 192.0.2.1 is documentation space: no interface of a test machine has it.
        assert_eq!(find(&own, "http://192.0.2.1:8480/x"), None);
        assert_eq!(find(&own, "http://127.0.0.1:8481/x"), None);
    }
}
