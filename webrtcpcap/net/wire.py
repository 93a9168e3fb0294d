"""What other floors compute over IP packets without decoding a capture: Internet checksums (RFC 1071, RFC 1624,
the pseudo-headers of RFC 768 / RFC 9293 / RFC 8200) for the copies that rewrite packets (decrypted, anonymised,
endpoint dumps), and the text forms of transport addresses (endpoint: "ip:port"; the 5-tuple an ICMP error
quotes)."""

from __future__ import annotations

import ipaddress
import struct

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58


def endpoint(address, port) -> str:
    """A transport address as every table and text of the package writes it: "ip:port", "[ipv6]:port" (the
    brackets of RFC 3986 §3.2.2, as the port would otherwise read as one more group of the address)."""
    address = str(address)
    return f"[{address}]:{int(port)}" if ":" in address else f"{address}:{int(port)}"


# -- Internet checksums: the one place the copies (decrypted, anonymised, endpoint dumps) compute them ---------------

def ones_complement_sum(data) -> int:
    """The ones' complement sum (not yet complemented) of `data` as 16-bit big-endian words (RFC 1071), an odd
    length padded with a zero byte.  2**16 is 1 modulo 0xFFFF, so the folded sum is the big-endian integer modulo
    0xFFFF (0xFFFF, not 0, for a nonzero one): one big-integer operation instead of a loop over words."""
    data = bytes(data)
    if len(data) % 2:
        data += b"\0"
    value = int.from_bytes(data, "big")
    total = value % 0xFFFF
    return 0xFFFF if total == 0 and value else total


def internet_checksum(*parts) -> int:
    """The Internet checksum (RFC 1071) of the parts joined: the ones' complement of their ones' complement sum.
    (UDP sends a computed 0 as 0xFFFF, RFC 768: the caller's rule, as IPv4 and ICMP do not.)"""
    return ~ones_complement_sum(b"".join(bytes(p) for p in parts)) & 0xFFFF


def checksum_after_change(old_checksum: int, old: bytes, new: bytes) -> int:
    """RFC 1624 eq. 3: the checksum once the bytes `old` (even length, at an even offset) became `new`, without the
    rest of the data (an address rewritten in a datagram that was cut short)."""
    total = (~old_checksum & 0xFFFF) + (~ones_complement_sum(old) & 0xFFFF) + ones_complement_sum(new)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(src: bytes, dst: bytes, protocol: int, length: int) -> bytes:
    """The pseudo-header a UDP/TCP/ICMPv6 checksum covers: IPv4's (RFC 768, RFC 9293 §3.1) for 4-byte addresses,
    IPv6's (RFC 8200 §8.1) for 16-byte ones."""
    if len(src) == 4:
        return bytes(src) + bytes(dst) + struct.pack(">BBH", 0, protocol, length)
    return bytes(src) + bytes(dst) + struct.pack(">I3xB", length, protocol)


def describe_quoted(quoted: bytes) -> str | None:
    """The 5-tuple of the datagram an ICMP error quotes ("udp 10.0.0.1:5000 > 10.0.0.2:6000"), or None."""
    if len(quoted) < 1:
        return None
    version = quoted[0] >> 4
    if version == 4 and len(quoted) >= 20:
        ihl = (quoted[0] & 0x0F) * 4
        proto = quoted[9]
        a, b = str(ipaddress.IPv4Address(quoted[12:16])), str(ipaddress.IPv4Address(quoted[16:20]))
        rest = quoted[ihl:]
    elif version == 6 and len(quoted) >= 40:
        proto = quoted[6]
        a, b = str(ipaddress.IPv6Address(quoted[8:24])), str(ipaddress.IPv6Address(quoted[24:40]))
        rest = quoted[40:]
    else:
        return None
    name = {IPPROTO_UDP: "udp", IPPROTO_TCP: "tcp"}.get(proto, f"ip-proto-{proto}")
    if proto in (IPPROTO_UDP, IPPROTO_TCP) and len(rest) >= 4:
        sp, dp = struct.unpack_from(">HH", rest)
        if version == 6:
            return f"{name} [{a}]:{sp} > [{b}]:{dp}"
        return f"{name} {a}:{sp} > {b}:{dp}"
    return f"{name} {a} > {b}"
