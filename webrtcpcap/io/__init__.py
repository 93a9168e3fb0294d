"""Files in and out, and what every floor shares: error types, vectorised field reads, the pcap/pcapng reader and
writer, glibc's heap (opt-in), the endpoints' own JSON (getStats, Janus), tshark's view of a file.
"""
