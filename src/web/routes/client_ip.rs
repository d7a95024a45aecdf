//! The client address recorded in audit events and used for sign-in throttling and the
//! registration limits: the one place that decides it.
//!
//! By default it is the TCP peer. `Forwarded` (RFC 7239) and `X-Forwarded-For` are set by
//! whoever sends the request, so they are believed only when the peer is one of
//! `CONSENTRY_TRUSTED_PROXIES`; otherwise an attacker could reset their throttling counter
//! or blame someone else in the audit log (RFC 9700 §4.13).

use std::net::{IpAddr, SocketAddr};

use actix_web::{HttpRequest, web};
use ipnet::IpNet;

use crate::web::state::AppState;

pub fn client_ip(req: &HttpRequest) -> String {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map_or(&[][..], |state| &state.config.trusted_proxies[..]);
    let header = |name: &str| {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    client_address(
        req.peer_addr().map(|a| a.ip()),
        &header("forwarded"),
        &header("x-forwarded-for"),
        trusted,
    )
    .map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
/// address of the forwarding chain (`Forwarded` when sent, else `X-Forwarded-For`) that is
/// not itself a trusted proxy (the left-most when all are). A chain that cannot be read
/// leaves the peer.
fn client_address(
    peer: Option<IpAddr>,
    forwarded: &str,
    x_forwarded_for: &str,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let chain = if forwarded.trim().is_empty() {
        x_forwarded_for.split(',').map(parse_node).collect()
    } else {
        forwarded_for(forwarded)
    };
    let Some(chain) = chain else {
        return Some(peer);
    };
    Some(
        chain
            .iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .or(chain.first())
            .copied()
            .unwrap_or(peer),
    )
}

/// The `for=` addresses of a `Forwarded` header, in order; `None` if one is unreadable.
fn forwarded_for(header: &str) -> Option<Vec<IpAddr>> {
    header
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"'))
            })
        })
        .map(parse_node)
        .collect()
}

/// One address of a chain: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`; `None` for anything else (`unknown`, obfuscated names).
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let peer = Some(ip("198.51.100.7"));
        for trusted in [nets(&[]), nets(&["10.0.0.0/8"])] {
            let got = client_address(peer, "for=192.0.2.1", "192.0.2.2", &trusted);
            assert_eq!(got, peer);
        }
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_counts() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let peer = Some(ip("127.0.0.1"));
        // The client may prepend anything; only what the proxies appended counts.
        let got = client_address(peer, "", "6.6.6.6, 203.0.113.9, 10.1.2.3", &trusted);
        assert_eq!(got, Some(ip("203.0.113.9")));
        let got = client_address(
            peer,
            "for=6.6.6.6, for=\"[2001:db8::17]:4711\";proto=https, for=10.0.0.2",
            "203.0.113.9",
            &trusted,
        );
        assert_eq!(
            got,
            Some(ip("2001:db8::17")),
            "Forwarded wins over X-Forwarded-For"
        );
        assert_eq!(
            client_address(peer, "", "10.0.0.5, 10.0.0.6", &trusted),
            Some(ip("10.0.0.5")),
            "all trusted: the left-most"
        );
    }

    #[test]
    fn an_unreadable_chain_leaves_the_peer() {
        let trusted = nets(&["127.0.0.1/32"]);
        let peer = Some(ip("127.0.0.1"));
        assert_eq!(client_address(peer, "", "", &trusted), peer);
        assert_eq!(client_address(peer, "", "not-an-ip", &trusted), peer);
        assert_eq!(client_address(peer, "for=unknown", "", &trusted), peer);
        assert_eq!(client_address(None, "", "192.0.2.1", &trusted), None);
    }
}
