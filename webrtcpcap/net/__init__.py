"""Frames to network facts: link/IP/UDP/TCP/ICMP layers, fragments, TCP streams, RFC 7983 demultiplexing, payload bytes
of many packets at once.
"""

# net.py was one module before the package had floors: its public names stay here
from .layers import (LinkType, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, AF_INET, AF_INET6, IPPROTO_ICMP,
    IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, IPV6_EXTENSION_HEADERS, IPV6_FRAGMENT, IPV6_NO_NEXT, IPV6_AH, IPV4_DF,
    Transport, TRANSPORT_NAMES, NetError, NET_ERROR_MESSAGES, NetLayer, AddressBook, decode, Reassembler, endpoint,
    ones_complement_sum, internet_checksum, checksum_after_change, pseudo_header, describe_quoted, ip_header_read)

__all__ = ["LinkType", "ETHERTYPE_IPV4", "ETHERTYPE_IPV6", "ETHERTYPE_VLAN", "AF_INET", "AF_INET6", "IPPROTO_ICMP",
           "IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_ICMPV6", "IPV6_EXTENSION_HEADERS", "IPV6_FRAGMENT", "IPV6_NO_NEXT",
           "IPV6_AH", "IPV4_DF", "Transport", "TRANSPORT_NAMES", "NetError", "NET_ERROR_MESSAGES", "NetLayer",
           "AddressBook", "decode", "Reassembler", "endpoint", "ones_complement_sum", "internet_checksum",
           "checksum_after_change", "pseudo_header", "describe_quoted", "ip_header_read"]
