"""The lab's named recipes: who talks to whom, for how long, what is dropped where, and what the capture is for.

Topology (every scenario): namespaces wplab-a (10.99.0.1, the offerer: aiortc or Chromium), wplab-b (10.99.0.2, the
answerer: aiortc or Janus) and, for TURN, wplab-t (10.99.0.3, coturn), each with eth0 on a bridge in wplab-sw.
Loss rules live on node a's eth0: ``egress`` drops what a sends, ``ingress`` drops what b (or t) sends to a. The
capture is on node b's eth0 unless said otherwise, so it holds what b received after a's losses (gaps) and
everything b sent (its losses happen downstream, at a).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What a drop rule matches, as nft expressions on the UDP payload (@th,64 = first payload byte; RFC 7983 ranges).
MATCHES = {
    "udp": "meta l4proto udp",
    # RTP only: version 2 and payload type (second byte & 0x7f) outside 64-95, which is RTCP (RFC 5761 §4).
    "rtp": "meta l4proto udp @th,64,2 2 @th,73,7 != 64-95",
    # Everything in the RTP/RTCP range: RTP, RTX and RTCP.
    "rtp+rtcp": "meta l4proto udp @th,64,2 2",
    # DTLS handshake, change_cipher_spec and alert records (content types 20-22), not application data (23).
    "dtls-handshake": "meta l4proto udp @th,64,8 20-22",
    # Every datagram in RFC 7983's DTLS range (first byte 20-63): DTLS 1.2 records and DTLS 1.3's unified-header
    # ciphertexts (first byte 001xxxxx), which carry the encrypted handshake, ACKs and application data alike.
    "dtls-any": "meta l4proto udp @th,64,8 20-63",
    # Video only, when Firefox sends: every RTP packet (media, RED, FEC, RTX) whose payload type is not one of the
    # audio types Firefox offers (Opus 109, G722 9, PCMU 0, PCMA 8, telephone-event 101), nor RTCP; the audio, the
    # RTCP and the transport-cc feedback go on. A video-only outage (held-out session freeze3s).
    "firefox-video-rtp": "meta l4proto udp @th,64,2 2 @th,73,7 != { 0, 8, 9, 64-95, 101, 109 }",
}


@dataclass(frozen=True)
class Drop:
    hook: str  # "egress" (a -> peer) or "ingress" (peer -> a), on node a's eth0
    match: str  # key of MATCHES
    percent: int  # 100 = every matching packet
    alternate: bool = False  # drop every `every`-th matching packet (deterministic) instead of at random
    first: int = 0  # > 0: only among the first N matching packets (a handshake, not the whole call)
    every: int = 2  # with alternate: 2 = every other packet (50 %), 3 = every third (33 %)

    def nft(self) -> str:
        if self.alternate:
            sel = f" numgen inc mod {self.every} 0"
        else:
            sel = f" numgen random mod 100 < {self.percent}" if self.percent < 100 else ""
        # nft has no "first N packets" match (quota counts bytes); a token bucket of N packets that refills at
        # N per week does the same over a short call: the first N matching packets pass `limit`, later ones don't.
        window = f" limit rate {self.first}/week burst {self.first} packets" if self.first else ""
        return f"{MATCHES[self.match]}{window}{sel} counter drop"

    def describe(self) -> str:
        way = "a->b (at a's egress)" if self.hook == "egress" else "b->a (at a's ingress)"
        nth = {2: "every other packet", 3: "every third packet"}.get(self.every, f"every {self.every}th packet")
        how = nth if self.alternate else f"{self.percent}%"
        window = f" among the first {self.first}" if self.first else ""
        return f"{how} of {self.match}{window} {way}"


@dataclass(frozen=True)
class Outage:
    start_s: float  # after the offerer reports connected
    length_s: int
    hook: str = "egress"
    match: str = "udp"


@dataclass(frozen=True)
class RateLimit:
    """A bandwidth limit mid-call on the bridge's port toward `toward` (so on everything that node receives),
    installed unlimited before the call, changed down to `rate_kbit` at `start_s` after a reports connected and back
    up `length_s` later (a change keeps the queue: lifting the limit drops nothing).

    Two shapers (netem does not exist in this kernel, nor fq, so no added delay but the queue's own):
    - "tbf": a tbf qdisc changed with `tc qdisc change`; its queue holds `latency_ms` worth of bytes at the rate.
    - "htb": an htb root with one class (the default) over a bfifo of `queue_bytes`, the class's rate changed with
      `tc class change`; a token bucket per class like tbf, but the queue is a separate byte FIFO of fixed size
      (so the queueing delay it allows is queue_bytes / rate) and the shaping is htb's own (a different scheduler,
      dequeue by class tokens and quantum)."""
    toward: str  # "a": limits b -> a (the bridge port p-a), "b": limits a -> b
    start_s: float
    length_s: float
    rate_kbit: int
    burst_kbit: int = 16  # at least one full-size packet (1514 bytes)
    latency_ms: int = 300  # tbf: the queue: rate x latency + burst bytes, then tail drop
    shaper: str = "tbf"  # "tbf" or "htb"
    queue_bytes: int = 0  # htb: the bfifo's limit in bytes

    UNLIMITED = "rate 1gbit burst 1mbit latency 50ms"
    HTB_UNLIMITED = "rate 1gbit ceil 1gbit"

    def tbf(self) -> str:
        return f"rate {self.rate_kbit}kbit burst {self.burst_kbit}kbit latency {self.latency_ms}ms"

    def htb(self) -> str:
        return (f"rate {self.rate_kbit}kbit ceil {self.rate_kbit}kbit burst {self.burst_kbit}kbit "
                f"cburst {self.burst_kbit}kbit")

    def limit_spec(self) -> str:
        return self.tbf() if self.shaper == "tbf" else self.htb()

    def unlimited_spec(self) -> str:
        return self.UNLIMITED if self.shaper == "tbf" else self.HTB_UNLIMITED

    def setup(self, dev: str) -> list[list[str]]:
        """The `tc` argument lists that install the shaper, unlimited, on `dev`."""
        if self.shaper == "tbf":
            return [["qdisc", "add", "dev", dev, "root", "tbf", *self.UNLIMITED.split()]]
        return [["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1"],
                ["class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", *self.HTB_UNLIMITED.split()],
                ["qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", "bfifo", "limit",
                 str(self.queue_bytes)]]

    def change(self, dev: str, spec: str) -> list[str]:
        """The `tc` argument list that sets the shaper to `spec` (limit_spec() or unlimited_spec())."""
        if self.shaper == "tbf":
            return ["qdisc", "change", "dev", dev, "root", "tbf", *spec.split()]
        return ["class", "change", "dev", dev, "parent", "1:", "classid", "1:1", "htb", *spec.split()]

    def describe(self) -> str:
        if self.shaper == "tbf":
            return f"tbf {self.tbf()}"
        return (f"htb class {self.htb()} over a bfifo of {self.queue_bytes} bytes (at most "
                f"{self.queue_bytes * 8 / self.rate_kbit:.0f} ms of queue at the rate)")


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "<offerer>-<answerer>": "aiortc" (aiortc <-> aiortc), "chromium-aiortc", "chromium-janus",
    #            "chromium-chromium", "firefox-firefox", "firefox-chromium", "firefox-aiortc"
    shows: str  # one sentence: what the session shows
    notebooks: tuple[str, ...]  # ICE / DTLS / sequence gaps / NACK / post-mortem
    duration_s: float = 15
    drops: tuple[Drop, ...] = ()
    outage: Outage | None = None
    mtu: int = 1500
    video_kbps: int = 300  # aiortc's VP8 target (its REMB-driven range is [kbps/2, kbps])
    turn: str | None = None  # None, "static", "static-wrong-password", "rest"
    relay: tuple[str, ...] = ()  # nodes forced to iceTransportPolicy=relay
    capture_node: str = "b"
    expect_connected: bool = True
    janus_pcap: bool = False
    rtpdump: bool = False
    data_channel: bool = False  # browser offerer: open a data channel and send a message every 200 ms
    expected_verdict: str = ""  # what an analysis of the capture should conclude, from the session's own record
    rate_limit: RateLimit | None = None
    stats_interval_ms: int = 0  # > 0: the browsers sample getStats this often (<name>.stats-series.json)
    video: tuple[int, int, int] = (320, 240, 15)  # the browsers' fake camera: width, height, frames per second
    video_b: tuple[int, int, int] | None = None  # b's own camera, when it differs from a's
    video_kbps_b: int = 0  # > 0: b's own video cap (else video_kbps, as for a)
    also_capture: tuple[str, ...] = ()  # more nodes captured on their eth0, as <name>.<node>.pcap
    extra: dict = field(default_factory=dict)

    @property
    def offerer(self) -> str:
        return "aiortc" if self.kind == "aiortc" else self.kind.split("-")[0]

    @property
    def answerer(self) -> str:
        return "aiortc" if self.kind == "aiortc" else self.kind.split("-")[1]

    @property
    def nodes(self) -> dict[str, int]:
        nodes = {"a": 1, "b": 2}
        if self.turn:
            nodes["t"] = 3
        return nodes


LOSS5 = 5

SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario(
        "aiortc_clean", "aiortc",
        "A healthy aiortc-to-aiortc call over host candidates: ICE, DTLS-SRTP (AES-256-GCM), VP8+Opus, RTCP "
        "reports and REMB, a data channel, no loss.",
        ("ICE", "DTLS", "sequence gaps", "NACK"), duration_s=12),
    Scenario(
        "aiortc_loss5_rtp", "aiortc",
        "About 5 % of the RTP sent by a (the offerer) is dropped before b: b's capture shows sequence gaps, b's "
        "NACKs and a's RTX retransmissions filling them.",
        ("sequence gaps", "NACK"), duration_s=15, drops=(Drop("egress", "rtp", LOSS5),)),
    Scenario(
        "aiortc_loss_both", "aiortc",
        "About 8 % loss in both directions of everything in the RTP/RTCP range (RTP, RTX and RTCP): gaps in what b "
        "receives, NACKs and retransmissions that are themselves lost, and b's own packets lost after the capture.",
        ("sequence gaps", "NACK", "post-mortem"), duration_s=15,
        drops=(Drop("egress", "rtp+rtcp", 8), Drop("ingress", "rtp+rtcp", 8))),
    Scenario(
        "aiortc_outage3s", "aiortc",
        "A 3 s total outage of everything a sends, 4 s into the call, with the video at 1 Mbit/s: a gap of about "
        "350 video packets, more than aiortc's 128-packet retransmission history, so b's NACK is only partly "
        "served, b's jitter buffer overflows, b sends a PLI and a's keyframe recovers the video.",
        ("sequence gaps", "NACK", "post-mortem"), duration_s=15, outage=Outage(4, 3), video_kbps=1000),
    Scenario(
        "ice_udp_blocked", "aiortc",
        "ICE that fails: all UDP between a and b is dropped at a, so b's Binding requests (sent at about "
        "0, 0.5, 1.5, 3.5, 7.5, 15.5 s) are never answered and a's never arrive; stopped after 20 s, before aiortc "
        "reports failed (it would after about 63 s).",
        ("ICE", "post-mortem"), duration_s=20, expect_connected=False,
        drops=(Drop("egress", "udp", 100), Drop("ingress", "udp", 100))),
    Scenario(
        "turn_relay_static", "aiortc",
        "Both aiortc peers forced to relay through coturn with a static long-term user, seen at a: Allocate (401, "
        "then success) for each of aiortc's three pre-BUNDLE transports, Refresh with lifetime 0 for the two unused "
        "ones, ChannelBind (aioice sends no CreatePermission) and all media in ChannelData.",
        ("ICE",), duration_s=12, turn="static", relay=("a", "b"), capture_node="a"),
    Scenario(
        "turn_wrong_password", "aiortc",
        "a is forced to relay but has the wrong TURN password: every Allocate is answered 401 (aioice retries once), "
        "no relay candidate is gathered and the call never starts; stopped after 12 s.",
        ("ICE", "post-mortem"), duration_s=12, turn="static-wrong-password", relay=("a",), capture_node="a",
        expect_connected=False),
    Scenario(
        "dtls_handshake_loss", "aiortc",
        "Every other datagram carrying DTLS handshake, change_cipher_spec or alert records is dropped in both "
        "directions (deterministic 50 %): every flight is lost once and retransmitted after OpenSSL's 1 s timer, "
        "so the handshake takes seconds; application data (the data channel) is spared.",
        ("DTLS", "post-mortem"), duration_s=15,
        drops=(Drop("egress", "dtls-handshake", 50, alternate=True),
               Drop("ingress", "dtls-handshake", 50, alternate=True))),
    Scenario(
        "aiortc_mtu576", "aiortc",
        "All links at MTU 576: video RTP (up to about 1300 bytes) leaves as IPv4 fragments, and so do aiortc's "
        "first DTLS flights (782- and 659-byte datagrams, although OpenSSL also splits the Certificate message at the "
        "DTLS handshake layer).",
        ("DTLS", "sequence gaps"), duration_s=10, mtu=576),
]}

SCENARIOS.update({s.name: s for s in [
    Scenario(
        "janus_echotest_clean", "chromium-janus",
        "Chromium (offerer) and the Janus echotest plugin, no loss: Janus echoes Chromium's VP8 and Opus back; "
        "Janus' decrypted RTP/RTCP dump (start_pcap) and handle_info are kept beside the encrypted wire capture.",
        ("ICE", "DTLS", "sequence gaps"), duration_s=12, janus_pcap=True),
    Scenario(
        "janus_echotest_loss5", "chromium-janus",
        "Chromium and the Janus echotest with about 5 % of the RTP dropped in each direction: gaps and NACKs on "
        "both legs (Chromium->Janus and Janus->Chromium), RTX retransmissions, Janus' decrypted dump and "
        "handle_info's NACK and retransmission counters.",
        ("sequence gaps", "NACK", "post-mortem"), duration_s=15, janus_pcap=True,
        drops=(Drop("egress", "rtp", LOSS5), Drop("ingress", "rtp", LOSS5))),
    Scenario(
        "janus_mtu576", "chromium-janus",
        "Chromium and the Janus echotest with every link at MTU 576: DTLS flights (certificates) and video RTP "
        "leave as 2-3 IPv4 fragments each.",
        ("DTLS", "post-mortem"), duration_s=10, mtu=576, janus_pcap=True),
    Scenario(
        "turn_relay_rest_chromium", "chromium-aiortc",
        "Chromium forced to relay through coturn with TURN REST-API credentials (expiry:user, HMAC-SHA1 password), "
        "talking to an aiortc answerer on host candidates; seen at Chromium's side: Binding requests to coturn, "
        "Allocate 401/success, CreatePermission, Send/Data indications for the first checks, ChannelBind, "
        "Refresh and then media in ChannelData.",
        ("ICE",), duration_s=12, turn="rest", relay=("a",), capture_node="a"),
    Scenario(
        "chromium_aiortc_loss5", "chromium-aiortc",
        "Chromium (offerer) to an aiortc answerer with about 5 % of Chromium's RTP dropped before aiortc: gaps, "
        "aiortc's NACKs and Chromium's RTX; Chromium's own RTP dump gives the plaintext RTP/RTCP of both sides.",
        ("sequence gaps", "NACK"), duration_s=15, drops=(Drop("egress", "rtp", LOSS5),), rtpdump=True),
]})

# Today's browsers at their default settings (issue 14): DTLS 1.3 between browsers, DTLS 1.2 against aiortc.
# Low resolution (320x240 at 15 fps, video capped at 300 kbit/s) and short calls keep each capture small.
BROWSER_CALL = "fake camera (320x240 at 15 fps, VP8 capped at 300 kbit/s) and microphone on both ends, a data channel"
SCENARIOS.update({s.name: s for s in [
    Scenario(
        "chromium_chromium_clean", "chromium-chromium",
        "Two Chromium processes, one per namespace (a offers, b answers), at default settings: ICE, a DTLS 1.3 "
        "handshake (ClientHello with the X25519MLKEM768 key share, in two records), then SRTP and the data "
        f"channel; {BROWSER_CALL}; no loss.",
        ("ICE", "DTLS", "sequence gaps"), duration_s=8, data_channel=True,
        expected_verdict="DTLS completed, version DTLS 1.3, no error"),
    Scenario(
        "chromium_chromium_dtls_loss", "chromium-chromium",
        "Chromium to Chromium with every other datagram in the DTLS range (first byte 20-63: handshake, DTLS 1.3 "
        "ciphertext records, ACKs) that a (the DTLS server) sends dropped, for the first 40 such datagrams: a's "
        "flights are lost and retransmitted, b retransmits its ClientHello/Finished, ACK records on the wire; "
        "captured at b.",
        ("DTLS", "post-mortem"), duration_s=10, data_channel=True,
        drops=(Drop("egress", "dtls-any", 50, alternate=True, first=40),),
        expected_verdict="DTLS completed after retransmitted flights (count in ground_truth), version DTLS 1.3"),
    Scenario(
        "firefox_firefox_clean", "firefox-firefox",
        "Two Firefox ESR processes, one per namespace, at default settings: DTLS 1.3 and SRTP_AEAD_AES_128_GCM; "
        f"{BROWSER_CALL}; both Firefoxes' NSS key logs (TLS 1.3 secrets) are the decryption ground truth.",
        ("ICE", "DTLS", "sequence gaps"), duration_s=8, data_channel=True,
        expected_verdict="DTLS completed, version DTLS 1.3, no error"),
    Scenario(
        "firefox_firefox_dtls_loss", "firefox-firefox",
        "Firefox ESR to Firefox ESR with every third datagram in the DTLS range (first byte 20-63) that a (the DTLS "
        "server) sends dropped, for the first 40 such datagrams: a's flights lose one of their datagrams and are "
        "retransmitted, b retransmits; with the key log the retransmitted handshake records and the ACK records "
        "(content type 26 inside the encrypted records) can be decrypted; captured at b.",
        ("DTLS", "post-mortem"), duration_s=10, data_channel=True,
        drops=(Drop("egress", "dtls-any", 33, alternate=True, first=40, every=3),),
        expected_verdict="DTLS completed after retransmitted flights, version DTLS 1.3"),
    Scenario(
        "firefox_firefox_dtls_stalled", "firefox-firefox",
        "A DTLS 1.3 handshake that never completes: every other DTLS-range datagram a (Firefox, the DTLS server) "
        "sends is dropped, and since Firefox sends its server flight as two datagrams (the plaintext ServerHello, "
        "then the encrypted rest) in lock-step with the drop, the ServerHello datagram is lost every time and only "
        "the encrypted half arrives; b keeps retransmitting its ClientHello, and both stay 'connecting' until the "
        "end. Keys in the key log.",
        ("DTLS", "post-mortem"), duration_s=10, expect_connected=False,
        drops=(Drop("egress", "dtls-any", 50, alternate=True, first=40),),
        expected_verdict="DTLS stalled: the server's ServerHello datagram never reached the client; no SRTP"),
    Scenario(
        "firefox_chromium_clean", "firefox-chromium",
        "Firefox ESR (offerer, a) calls Chromium (answerer, b): DTLS 1.3 between two different stacks; "
        f"{BROWSER_CALL}; Firefox's key log holds the secrets of the association.",
        ("ICE", "DTLS", "sequence gaps"), duration_s=8, data_channel=True,
        expected_verdict="DTLS completed, version DTLS 1.3, no error; no datagram is lost, but Chromium's ClientHello "
        "is sent several times because Firefox answers only after its own ICE check succeeded"),
    Scenario(
        "firefox_aiortc_clean", "firefox-aiortc",
        "Firefox ESR (offerer, a, DTLS server) calls an aiortc answerer (b, DTLS client, OpenSSL, DTLS 1.2 only): "
        "aiortc's ClientHello has no supported_versions, so Firefox answers DTLS 1.2 and marks the downgrade in its "
        "ServerHello.random (last 8 bytes 'DOWNGRD\\x01', RFC 8446 §4.1.3); Firefox's and aiortc's key logs both hold "
        "the CLIENT_RANDOM line.",
        ("ICE", "DTLS", "sequence gaps"), duration_s=8,
        expected_verdict="DTLS completed, version DTLS 1.2 (the 1.3-capable server's downgrade sentinel in its "
        "ServerHello.random), no error"),
]})

# Issue 20: bandwidth estimation and freezes, Firefox ESR (a, offerer) <-> Chromium (b, answerer), recorded by
# bwe_record.py into captures/bwe/. Chromium is the sender whose estimate is watched (its getStats has
# availableOutgoingBitrate and targetBitrate; Firefox's has neither) and the receiver whose freezes are counted; Firefox
# writes the key log that opens the SRTCP (transport-cc feedback) of the call.
BWE_CALL = ("Firefox ESR (a, offerer, fake camera 320x240 at 15 fps, video capped at 250 kbit/s) and Chromium (b, "
            "answerer, fake camera 640x480 at 15 fps, video capped at 600 kbit/s), microphone on both ends, "
            "transport-cc negotiated, getStats of both sampled every 250 ms")
BWE_COMMON = dict(kind="firefox-chromium", data_channel=False, stats_interval_ms=250, video_kbps=250,
                  video_kbps_b=600, video_b=(640, 480, 15))
BWE_SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario(
        "healthy", shows=f"The control: {BWE_CALL}; no limit and no loss, so a bandwidth-estimation analysis should "
        "mark nothing.", notebooks=("BWE",), duration_s=45, also_capture=("a",),
        expected_verdict="no loss, no freeze, no overuse; Chromium's estimate stays at or above what it sends",
        **BWE_COMMON),
    Scenario(
        "bwe_drop", shows=f"{BWE_CALL}. 12 s after connecting, everything b sends to a is limited to 200 kbit/s "
        "(tbf on the bridge port toward a, 300 ms queue) for 12 s, then the limit is lifted: Chromium's estimate "
        "(availableOutgoingBitrate, targetBitrate) falls below the limit and recovers after it; captured at b "
        "(the sender, before the bottleneck) and at a (the receiver, after it).", notebooks=("BWE",),
        duration_s=45, also_capture=("a",), rate_limit=RateLimit("a", 12, 12, 200),
        expected_verdict="the estimate of b's sending falls within seconds of the limit, with delay growth and losses "
                         "on b -> a; it recovers after the limit is lifted",
        **BWE_COMMON),
    Scenario(
        "freeze", shows=f"{BWE_CALL}. A 2 s outage of everything a sends (nft drop at a's egress, a meta time window), "
        "10 s after connecting: Chromium (b) sees a 2 s gap on Firefox's audio and video, counts a freeze of "
        "Firefox's video and conceals audio; captured at b.", notebooks=("BWE", "post-mortem"), duration_s=30,
        outage=Outage(10, 2),
        expected_verdict="one freeze of about 2 s on a's video SSRC at b, audio concealment over the same window",
        **BWE_COMMON),
]}

# The held-out sessions (issue 20): recorded for judging the analyses that were developed against the three above,
# each varying something those do not: the stacks and the limited direction and shaper (bwe_netem), the outage's
# length, time and what it takes (freeze3s), the resolutions and frame rates (healthy2).
BWE_HELD_OUT: dict[str, Scenario] = {s.name: s for s in [
    Scenario(
        "bwe_netem", "chromium-chromium",
        "Chromium (a, offerer, fake camera 480x270 at 20 fps, video capped at 400 kbit/s) and Chromium (b, "
        "answerer, 320x180 at 15 fps, capped at 200 kbit/s), microphones, transport-cc, getStats of both every "
        "250 ms. 12 s after connecting, everything a sends to b is limited to 120 kbit/s for 12 s by an htb class "
        "over a 3600-byte bfifo (at most 240 ms of queue) on the bridge port toward b, then lifted: a's estimate "
        "falls and recovers. netem (asked for: rate plus 40 ms delay) does not exist in this kernel, so the only "
        "added delay is the queue's. Captured at a (the sender, before the bottleneck) and at b (after it); "
        "Chromium writes no key log, so a's RTP dump (plaintext RTP and RTCP, transport-cc feedback included) is "
        "kept instead.", notebooks=("BWE",), duration_s=40, also_capture=("b",), capture_node="a",
        rate_limit=RateLimit("b", 12, 12, 120, burst_kbit=16, shaper="htb", queue_bytes=3600),
        data_channel=False, stats_interval_ms=250, rtpdump=True,
        video=(480, 270, 20), video_kbps=400, video_b=(320, 180, 15), video_kbps_b=200,
        expected_verdict="the estimate of a's sending falls within seconds of the limit, with delay growth and "
                         "losses on a -> b; it recovers after the limit is lifted; b -> a is untouched"),
    Scenario(
        "freeze3s", shows="Firefox ESR (a, offerer, fake camera 320x240 at 24 fps, video capped at 300 kbit/s) and "
        "Chromium (b, answerer, 640x480 at 15 fps, capped at 600 kbit/s), microphones, transport-cc, getStats every "
        "250 ms. A 3 s outage of a's video only (every RTP packet a sends whose payload type is not an audio one: "
        "VP8 in RED, FEC, RTX; nft drop at a's egress in a meta time window), 17 s after connecting: a's audio and "
        "RTCP go on, Chromium (b) sees a 3 s gap on Firefox's video only and counts a freeze; captured at b.",
        notebooks=("BWE", "post-mortem"), duration_s=40, outage=Outage(17, 3, match="firefox-video-rtp"),
        kind="firefox-chromium", data_channel=False, stats_interval_ms=250, video=(320, 240, 24), video_kbps=300,
        video_b=(640, 480, 15), video_kbps_b=600,
        expected_verdict="one freeze of about 3 s on a's video SSRC at b; no gap and no concealment burst on a's "
                         "audio"),
    Scenario(
        "healthy2", shows="A second control: Firefox ESR (a, offerer, fake camera 480x270 at 24 fps, video capped "
        "at 350 kbit/s) and Chromium (b, answerer, 320x180 at 30 fps, capped at 300 kbit/s), microphones, "
        "transport-cc, getStats of both every 250 ms; no limit and no loss; captured at b and at a.",
        notebooks=("BWE",), duration_s=35, also_capture=("a",), kind="firefox-chromium", data_channel=False,
        stats_interval_ms=250, video=(480, 270, 24), video_kbps=350, video_b=(320, 180, 30), video_kbps_b=300,
        expected_verdict="no loss, no freeze, no overuse; Chromium's estimate stays at or above what it sends"),
]}

SMOKE = Scenario(
    "smoke", "aiortc", "A 4 s aiortc-to-aiortc clean call, recorded by the smoke test.", ("ICE",), duration_s=4)
