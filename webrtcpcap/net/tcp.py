"""WebRTC over TCP: in-order stream reassembly and message framing (RFC 9293; ICE-TCP RFC 6544 with RFC 4571
framing; TURN over TCP, RFC 8656 §12.5 and §11.5).

Strategy: one `Stream` per direction of a TCP connection, fed its segments in capture order.  Bytes are appended
in sequence order (retransmitted bytes are dropped, early segments wait for the gap before them to fill); whole
messages are cut from the front as soon as they are complete, and each is attributed to the segment that carries
its last byte (as tshark does; when that segment came early, the message reached the application only later,
when the hole before it filled).  The framing is chosen once, from the first bytes of the stream:

- "rfc4571": every message is preceded by a 2-byte length (ICE-TCP; the first message is a STUN Binding request);
- "turn": STUN messages (20-byte header + length) and ChannelData messages (4-byte header + length, padded to a
  multiple of 4 over TCP) back to back (TURN over TCP/TLS-less, and plain STUN over TCP).

A stream whose start is neither stays unframed (`mode` None): it is not WebRTC, or the capture began mid-stream.
A hole that never fills, a snaplen-cut segment or bytes that stop making sense end the framing of that direction
with a reason in `problem`; every byte before that point has been delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STUN_MAGIC_COOKIE = b"\x21\x12\xa4\x42"  # RFC 8489 §5
STUN_HEADER_LEN = 20
CHANNEL_HEADER_LEN = 4  # RFC 8656 §12.4
RFC4571_HEADER_LEN = 2  # RFC 4571 §2
MAX_PENDING_SEGMENTS = 256  # segments held while waiting for a hole to fill (bounded memory)
MAX_BUFFER = 1 << 17  # bytes of an unfinished message; a longer one is a framing error (lengths are 16-bit)
SEQ_MOD = 1 << 32
FRAMINGS = ("rfc4571", "turn")  # Stream.mode, when the stream is framed


def _seq_after(a: int, b: int) -> int:
    """How far sequence number a is ahead of b, modulo 2^32, as a signed distance (RFC 9293 §3.4)."""
    d = (a - b) % SEQ_MOD
    return d - SEQ_MOD if d >= SEQ_MOD // 2 else d


def _is_stun(data: bytes | bytearray, at: int = 0) -> bool:
    return len(data) >= at + 8 and data[at] < 4 and data[at + 4:at + 8] == STUN_MAGIC_COOKIE


def detect_framing(start: bytes | bytearray) -> str | None:
    """The framing of a stream from its first bytes: "turn", "rfc4571", or None (unknown, or too few bytes yet —
    call again with more)."""
    # Both framings start with STUN (an Allocate, or an ICE check); a ChannelData first byte is also "G".."O".
    if _is_stun(start):
        return "turn"
    if _is_stun(start, RFC4571_HEADER_LEN):
        return "rfc4571"
    return None


def message_length(buf: bytes | bytearray, mode: str) -> int | None:
    """Bytes the message at the front of `buf` takes in the stream (with header and padding); None when more bytes
    are needed to know; -1 when the front is not a message of this framing."""
    if mode == "rfc4571":
        if len(buf) < RFC4571_HEADER_LEN:
            return None
        return RFC4571_HEADER_LEN + int.from_bytes(buf[0:2], "big")
    if len(buf) < 4:
        return None
    first = buf[0]
    if first < 4:  # STUN (RFC 7983 §7)
        if len(buf) >= 8 and buf[4:8] != STUN_MAGIC_COOKIE:
            return -1
        length = int.from_bytes(buf[2:4], "big")
        return STUN_HEADER_LEN + length if length % 4 == 0 else -1
    if 0x40 <= first <= 0x4F:  # ChannelData, padded to 4 over TCP (RFC 8656 §12.5)
        length = int.from_bytes(buf[2:4], "big")
        return CHANNEL_HEADER_LEN + ((length + 3) & ~3)
    return -1


@dataclass(frozen=True, slots=True)
class Message:
    """One framed message: the row (frame index) of the segment with its last byte, and its bytes without the RFC 4571
    length prefix (ChannelData keeps its 4-byte header; its TCP padding is dropped)."""

    row: int
    data: bytes


@dataclass
class Stream:
    """One direction of a TCP connection, framed as it is fed (see the module docstring)."""

    next_seq: int | None = None
    mode: str | None = None
    problem: str | None = None
    buffer: bytearray = field(default_factory=bytearray)
    pending: dict = field(default_factory=dict)  # seq -> (row, data, complete) of segments ahead of next_seq
    retransmitted: int = 0  # segments whose bytes had all been delivered already
    undecided: bool = True  # still looking at the stream's first bytes
    segments: int = 0  # segments with data fed, whatever became of them
    delivered: int = 0  # bytes appended in sequence order
    messages: int = 0  # messages cut out
    first_frame: int | None = None  # the first and last frames with data (when feed is given frame numbers)
    last_frame: int | None = None
    problem_frame: int | None = None  # the frame whose segment (or the capture's end, after it) set `problem`

    def feed(self, row: int, seq: int, data: bytes, complete: bool = True, syn: bool = False,
             frame: int | None = None) -> list[Message]:
        """Add one segment (its sequence number, captured payload, whether the payload was captured whole, and the
        number of its frame, for first_frame, last_frame and problem_frame); return the messages it completed."""
        if data:
            self.segments += 1
            if frame is not None:
                self.first_frame = frame if self.first_frame is None else self.first_frame
                self.last_frame = frame
        if self.problem is not None:
            return []
        out = self._feed(row, seq, data, complete, syn)
        if self.problem is not None:
            self.problem_frame = frame
        return out

    def _feed(self, row: int, seq: int, data: bytes, complete: bool, syn: bool) -> list[Message]:
        if syn:
            self.next_seq = (seq + 1) % SEQ_MOD
            seq = self.next_seq
        if not data:
            return []
        if self.next_seq is None:
            self.next_seq = seq
        ahead = _seq_after(seq, self.next_seq)
        if ahead > 0:
            if len(self.pending) >= MAX_PENDING_SEGMENTS:
                self.problem = f"TCP stream has a hole at sequence {self.next_seq} that did not fill"
                return []
            self.pending.setdefault(seq, (row, data, complete))
            return []
        out = self._append(row, data, -ahead, complete)
        while self.pending and self.problem is None:
            for pseq in list(self.pending):
                gap = _seq_after(pseq, self.next_seq)
                if gap <= 0:
                    prow, pdata, pcomplete = self.pending.pop(pseq)
                    out += self._append(prow if prow >= 0 else row, pdata, -gap, pcomplete)
                    break
            else:
                break
        return out

    def _append(self, row: int, data: bytes, skip: int, complete: bool) -> list[Message]:
        if skip >= len(data):
            self.retransmitted += 1
            return []
        if not complete:
            self.problem = "TCP segment was cut by the snapshot length: the stream cannot be followed past it"
            return []
        self.buffer += data[skip:]
        self.delivered += len(data) - skip
        self.next_seq = (self.next_seq + len(data) - skip) % SEQ_MOD
        if self.undecided:
            self.mode = detect_framing(self.buffer)
            if self.mode is None:
                if len(self.buffer) >= 12:  # enough to have seen a STUN header, framed or not
                    self.undecided = False
                    self.problem = "TCP stream does not start with STUN or ChannelData: not framed"
                    self.buffer.clear()
                return []
            self.undecided = False
        return self._cut(row)

    def _cut(self, row: int) -> list[Message]:
        out = []
        while self.buffer:
            size = message_length(self.buffer, self.mode)
            if size is None:
                break
            if size < 0 or size > MAX_BUFFER:
                self.problem = f"TCP stream framing ({self.mode}) lost: unexpected bytes 0x{self.buffer[:4].hex()}"
                self.buffer.clear()
                break
            if len(self.buffer) < size:
                break
            message = bytes(self.buffer[:size])
            del self.buffer[:size]
            if self.mode == "rfc4571":
                message = message[RFC4571_HEADER_LEN:]
            elif 0x40 <= message[0] <= 0x4F:
                message = message[:CHANNEL_HEADER_LEN + int.from_bytes(message[2:4], "big")]
            out.append(Message(row, message))
        self.messages += len(out)
        return out

    def forget_rows(self) -> None:
        """Rows are numbered per chunk: segments still waiting when a chunk ends give their messages to the segment
        that fills the hole, in a later chunk."""
        self.pending = {seq: (-1, data, complete) for seq, (_, data, complete) in self.pending.items()}

    def finish(self) -> None:
        """The capture ended: name what was left unfinished (a hole, a partial message), at the last frame."""
        if self.problem is None:
            self._name_unfinished()
            if self.problem is not None:
                self.problem_frame = self.last_frame

    def _name_unfinished(self) -> None:
        if self.problem is None and self.pending:
            self.problem = f"TCP stream has a hole at sequence {self.next_seq} that did not fill"
        elif self.problem is None and self.buffer and self.mode is not None:
            self.problem = f"TCP stream ends inside a message ({len(self.buffer)} bytes left)"
        elif self.problem is None and self.undecided and self.delivered:
            self.problem = f"TCP stream ends before its framing could be told ({self.delivered} bytes)"
