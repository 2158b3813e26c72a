//! Attribute helpers shared by the objects: nested lists and `nf_inet_addr`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{DecodeError, Emitable, Nla, NlaBuffer, NlasIterator, Parseable};

use super::constants::{AF_INET, AF_INET6};

/// Parses every attribute of a nested list; unknown kinds become the
/// object's `Other` variant rather than errors.
pub fn parse_nested<A>(payload: &[u8]) -> Result<Vec<A>, DecodeError>
where
    A: for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| A::parse(&nla)))
        .collect()
}

/// The value length of a nested list.
pub fn nested_len<A: Nla>(attrs: &[A]) -> usize {
    attrs.buffer_len()
}

/// Writes a nested list into `buffer` (exactly `nested_len` bytes).
pub fn emit_nested<A: Nla>(attrs: &[A], buffer: &mut [u8]) {
    attrs.emit(buffer)
}

/// Writes a NUL-terminated string, as `nla_put_string` does.
pub fn emit_string(s: &str, buffer: &mut [u8]) {
    buffer[..s.len()].copy_from_slice(s.as_bytes());
    buffer[s.len()] = 0;
}

/// Reads a NUL-terminated string, refusing text that is not UTF-8.
pub fn parse_string(payload: &[u8]) -> Result<String, DecodeError> {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8(payload[..end].to_vec())
        .map_err(|e| DecodeError::from(format!("invalid name: {e}")))
}

/// `union nf_inet_addr`: 16 bytes whatever the family; an IPv4 address sits
/// in the first four. Which one it is comes from a separate family attribute.
pub fn inet_addr_bytes(addr: IpAddr) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    match addr {
        IpAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => bytes = v6.octets(),
    }
    bytes
}

/// The raw bytes of an address attribute, as received (the kernel sends 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InetAddr {
    pub bytes: [u8; 16],
    /// How many bytes the attribute carried (4 or 16), to emit it back as it came.
    pub len: usize,
}

impl InetAddr {
    pub fn new(addr: IpAddr) -> Self {
        InetAddr {
            bytes: inet_addr_bytes(addr),
            len: 16,
        }
    }

    pub fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        match payload.len() {
            4 | 16 => {
                let mut bytes = [0u8; 16];
                bytes[..payload.len()].copy_from_slice(payload);
                Ok(InetAddr {
                    bytes,
                    len: payload.len(),
                })
            }
            len => Err(DecodeError::from(format!(
                "address has {len} bytes, expected 4 or 16"
            ))),
        }
    }

    pub fn emit(&self, buffer: &mut [u8]) {
        buffer.copy_from_slice(&self.bytes[..self.len]);
    }

    /// The address as `family` (`AF_INET`/`AF_INET6`) reads it.
    pub fn to_ip(self, family: u16) -> Result<IpAddr, DecodeError> {
        match family {
            AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(
                self.bytes[0],
                self.bytes[1],
                self.bytes[2],
                self.bytes[3],
            ))),
            AF_INET6 if self.len == 16 => Ok(IpAddr::V6(Ipv6Addr::from(self.bytes))),
            AF_INET6 => Err(DecodeError::from("IPv6 address with only 4 bytes")),
            other => Err(DecodeError::from(format!("unknown address family {other}"))),
        }
    }
}

/// The kernel's number for an address family.
pub fn af_of(addr: IpAddr) -> u16 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// Reads an attribute value of exactly `N` bytes.
pub fn fixed<const N: usize>(payload: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    payload
        .try_into()
        .map_err(|_| DecodeError::from(format!("{what} has {} bytes, expected {N}", payload.len())))
}
