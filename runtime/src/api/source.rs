//! Where a request comes from, for the limits per source address: on Lambda API Gateway's
//! `sourceIp` (a [`SourceIp`] the entry point sets), locally the peer's address (or, from a
//! trusted proxy, the client it forwards for) — worked out only by the routes that count it.

use std::convert::Infallible;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// The request's source address, as an extension of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceIp(pub IpAddr);

/// The local server's view of a connection: its peer, and the proxies whose forwarding is
/// believed.
#[derive(Debug)]
pub struct Peer {
    pub address: IpAddr,
    pub trusted: std::sync::Arc<[IpAddr]>,
}

/// The source address, if the server that received the request said (an in-process caller
/// does not).
pub struct Source(pub Option<IpAddr>);

impl Source {
    /// The subject its limits count under.
    pub fn subject(&self) -> String {
        self.0.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(SourceIp(source)) = parts.extensions.get::<SourceIp>() {
            return Ok(Self(Some(*source)));
        }
        let peer = parts.extensions.get::<super::ConnectionContext>().map(|context| &context.peer);
        Ok(Self(peer.map(|peer| client_address(peer.address, &parts.headers, &peer.trusted))))
    }
}

/// The client's address for a request that reached us from `peer`: `peer` itself, unless it is a
/// trusted proxy — then the nearest address in `X-Forwarded-For` that is not a trusted proxy
/// (each proxy appends the address it received from, so only the right-hand part, written by
/// proxies we trust, can be believed; whatever the client wrote is further left).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut nearest = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) if trusted.contains(&address) => nearest = address,
            Ok(address) => return address,
            // A hop we cannot read was written by someone we do not trust.
            Err(_) => return nearest,
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let (proxy, inner): (IpAddr, IpAddr) = ("127.0.0.9".parse().unwrap(), "10.0.0.1".parse().unwrap());
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let peer: IpAddr = "198.51.100.2".parse().unwrap();
        // Not from a proxy: the header is whatever the client wrote.
        assert_eq!(client_address(peer, &headers(&["203.0.113.7"]), &[proxy]), peer);
        assert_eq!(client_address(proxy, &headers(&["203.0.113.7"]), &[proxy]), client);
        // The client's own entries are left of the ones proxies appended.
        assert_eq!(client_address(proxy, &headers(&["1.2.3.4, 203.0.113.7"]), &[proxy]), client);
        assert_eq!(client_address(proxy, &headers(&["1.2.3.4", "203.0.113.7, 10.0.0.1"]), &[proxy, inner]), client);
        assert_eq!(client_address(proxy, &headers(&[]), &[proxy]), proxy);
        assert_eq!(client_address(proxy, &headers(&["garbage, 10.0.0.1"]), &[proxy, inner]), inner);
    }
}
