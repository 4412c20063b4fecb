//! `IpAddress` / `NotIpAddress`: IPv4 and IPv6 CIDR blocks (RFC 4632); a
//! bare address is a /32 or /128. A request value that is not an address
//! matches nothing.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress>

use ipnet::IpNet;
use std::net::IpAddr;

pub(super) fn parse(v: &str) -> Option<IpNet> {
    let v = v.trim();
    if let Ok(n) = v.parse::<IpNet>() {
        return Some(n);
    }
    v.parse::<IpAddr>().ok().map(IpNet::from)
}

/// A request value read as an address.
pub(super) fn parse_addr(rv: &str) -> Option<IpAddr> {
    rv.trim().parse().ok()
}

pub(super) fn any(ns: &[Option<IpNet>], addr: Option<IpAddr>) -> bool {
    let Some(addr) = addr else {
        return false;
    };
    // An IPv4-mapped IPv6 address is also its IPv4 address.
    let v4 = match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    ns.iter()
        .flatten()
        .any(|n| n.contains(&addr) || v4.is_some_and(|a| n.contains(&a)))
}
