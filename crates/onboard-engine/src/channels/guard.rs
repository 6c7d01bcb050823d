//! The outbound address guard: endpoints are URLs an operator typed, and a URL can name a
//! host inside our own network (SSRF). Before each request the host is resolved and every
//! address is checked; the connection then goes to the addresses checked, because the
//! guard *is* the HTTP client's resolver ([`GuardedResolver`]), so a DNS answer that
//! changes between a check and the connection (rebinding) cannot slip past. IP literals
//! skip resolvers, so [`check_url_host`] checks those before the request.
//!
//! Refused: loopback, private (10/8, 172.16/12, 192.168/16), link-local (169.254/16,
//! fe80::/10), shared address space (CGNAT, 100.64/10), unique-local (fc00::/7),
//! unspecified, "this network" (0/8), reserved (240/4), multicast, broadcast, and the
//! IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) forms of these — unless
//! the configuration allows private targets (tests, a receiver on the same host).
//!
//! Not here: deciding what a refusal means for a delivery (the channels make it permanent).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address may not be a delivery target, or `None` when it may.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, _, _] = ip.octets();
    if ip.is_unspecified() {
        Some("unspecified address")
    } else if a == 0 {
        Some("\"this network\" address (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Some("loopback address")
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        Some("private address")
    } else if a == 169 && b == 254 {
        Some("link-local address")
    } else if a == 100 && (64..=127).contains(&b) {
        Some("shared (CGNAT) address")
    } else if ip.is_broadcast() {
        Some("broadcast address")
    } else if ip.is_multicast() {
        Some("multicast address")
    } else if a >= 240 {
        Some("reserved address")
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_unspecified() {
        Some("unspecified address")
    } else if ip.is_loopback() {
        Some("loopback address")
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        refusal_v4(v4)
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64's well-known prefix reaches the IPv4 address in its last 32 bits.
        let [.., hi, lo] = segments;
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        refusal_v4(Ipv4Addr::new(a, b, c, d))
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some("link-local address")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("unique-local address")
    } else if ip.is_multicast() {
        Some("multicast address")
    } else {
        None
    }
}

/// A refused target, as the resolver reports it (found again in the HTTP client's error
/// chain, so that a refusal is told apart from a network failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused target: {host} resolves to {ip}, a {reason}; outbound deliveries go only to public addresses (allow private targets to change this)")]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub reason: &'static str,
}

/// Checks a URL host that is an IP literal (resolvers are not asked about those). A name
/// passes here; the resolver checks what it resolves to.
pub fn check_url_host(url: &reqwest::Url) -> Result<(), Refused> {
    let host = url.host_str().unwrap_or("");
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let Ok(ip) = host.parse::<IpAddr>() else {
        return Ok(());
    };
    match refusal(ip) {
        Some(reason) => Err(Refused {
            host: ip.to_string(),
            ip,
            reason,
        }),
        None => Ok(()),
    }
}

/// The HTTP client's resolver: resolves with the system's resolver and refuses the whole
/// name when any of its addresses is refused (a name that also points inside is not
/// trusted with the rest).
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                if let Some(reason) = refusal(addr.ip()) {
                    return Err(Box::new(Refused {
                        host: host.clone(),
                        ip: addr.ip(),
                        reason,
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The refusal somewhere in an error's chain of causes, if the guard refused the target.
pub fn find_refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<Refused>() {
            return Some(refused);
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> Option<&'static str> {
        refusal(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")))
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.167.1.1",
            "2606:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:93.184.216.34",
            "64:ff9b::808:808",
        ] {
            assert_eq!(refused(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_inside_address_class_is_refused_with_its_name() {
        for (ip, reason) in [
            ("127.0.0.1", "loopback address"),
            ("127.255.0.9", "loopback address"),
            ("::1", "loopback address"),
            ("10.0.0.1", "private address"),
            ("10.255.255.255", "private address"),
            ("172.16.0.1", "private address"),
            ("172.31.255.254", "private address"),
            ("192.168.1.1", "private address"),
            ("169.254.169.254", "link-local address"),
            ("fe80::1", "link-local address"),
            ("febf::1", "link-local address"),
            ("100.64.0.1", "shared (CGNAT) address"),
            ("100.127.255.254", "shared (CGNAT) address"),
            ("fc00::1", "unique-local address"),
            ("fd12:3456:789a::1", "unique-local address"),
            ("0.0.0.0", "unspecified address"),
            ("::", "unspecified address"),
            ("0.1.2.3", "\"this network\" address (0.0.0.0/8)"),
            ("224.0.0.1", "multicast address"),
            ("239.255.255.250", "multicast address"),
            ("ff02::1", "multicast address"),
            ("255.255.255.255", "broadcast address"),
            ("240.0.0.1", "reserved address"),
        ] {
            assert_eq!(refused(ip), Some(reason), "{ip}");
        }
    }

    #[test]
    fn ipv4_mapped_and_nat64_forms_are_judged_by_their_ipv4_address() {
        assert_eq!(refused("::ffff:127.0.0.1"), Some("loopback address"));
        assert_eq!(refused("::ffff:10.1.2.3"), Some("private address"));
        assert_eq!(
            refused("::ffff:169.254.169.254"),
            Some("link-local address")
        );
        assert_eq!(refused("::ffff:100.64.0.1"), Some("shared (CGNAT) address"));
        assert_eq!(refused("64:ff9b::7f00:1"), Some("loopback address"));
        assert_eq!(refused("64:ff9b::c0a8:101"), Some("private address"));
    }

    #[test]
    fn an_ip_literal_url_is_checked_before_the_request() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let refused = check_url_host(&url("http://169.254.169.254/latest/meta-data"))
            .expect_err("the metadata service is refused");
        assert!(refused.to_string().contains("link-local"), "{refused}");
        assert!(check_url_host(&url("http://[::1]:8080/hook")).is_err());
        assert!(check_url_host(&url("https://93.184.216.34/hook")).is_ok());
        // Shorthand and hexadecimal IPv4 forms are normalised by the URL parser first.
        assert!(check_url_host(&url("http://127.1/hook")).is_err());
        assert!(check_url_host(&url("http://0x7f000001/hook")).is_err());
        assert!(check_url_host(&url("http://[::ffff:10.0.0.1]/hook")).is_err());
        // Names are left to the resolver.
        assert!(check_url_host(&url("https://localhost/hook")).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_inside() {
        let name: Name = "localhost"
            .parse()
            .unwrap_or_else(|_| panic!("a valid name"));
        let error = match GuardedResolver.resolve(name).await {
            Ok(_) => panic!("localhost resolved through the guard"),
            Err(error) => error,
        };
        let refused = find_refusal(error.as_ref()).expect("a refusal");
        assert_eq!(refused.reason, "loopback address");
        assert_eq!(refused.host, "localhost");
    }
}
