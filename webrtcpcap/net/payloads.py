"""RTP payloads of many packets at once: where each lies (a span of a byte buffer), its first bytes as one 2-D array.

Strategy: an analysis that reads payloads (keyframe detection, RTX OSNs, padding-only streams) wants a few bytes of
thousands of packets.  Reading them one frame at a time decodes each frame again; here the packets of many rtp rows
are located together (the file's own bytes for direct datagrams, bytes made once for relayed, TCP-framed, reassembled
or decrypted ones), the payload bounds come from the rtp table's payload_offset and, where the P bit is set, the
padding count (RFC 3550 §5.1), and the first `width` bytes of every payload are gathered with one numpy indexing
operation.  Rows the vectorised rules do not cover (a header or padding the table flags, a snaplen-cut datagram, a
frame that is not a row of the rtp table) are read by the per-frame reader, so that every answer and every error is
the one that reader gives.  No pandas here: the Capture hands over the columns it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


READ_SLICE = 1 << 16  # rows located at a time: what is made of their packets (relayed, decrypted) stays bounded


@dataclass(frozen=True, slots=True)
class PayloadHeads:
    """The first `width` bytes of the RTP payloads of some frames (padding removed, SRTP decrypted where it was).

    `head` (uint8, frames × width) is zero past each payload's end; `length` (int64) is the payload's length in
    bytes (0 for a padding-only packet) or -1 where it could not be read; `error` (object) holds, where it could
    not, the ValueError the per-frame reader raises (a DecodeError for a padding count RFC 3550 calls invalid),
    else None."""

    frame: np.ndarray
    head: np.ndarray
    length: np.ndarray
    error: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


def read_heads(payload: Callable[[int], bytes], frames, width: int) -> PayloadHeads:
    """PayloadHeads of `frames` through `payload`: in bulk when it is a Capture's reader (`cap.rtp_payload`,
    `cap.payload_or_empty`, which have `heads`), else with one call per frame (any function frame -> bytes, e.g.
    a dict's __getitem__ in a test)."""
    bulk = getattr(payload, "heads", None)
    if bulk is not None:
        return bulk(frames, width)
    frames = np.asarray(frames, dtype=np.int64)
    head = np.zeros((len(frames), width), dtype=np.uint8)
    length = np.full(len(frames), -1, dtype=np.int64)
    error = np.full(len(frames), None, dtype=object)
    for k, f in enumerate(frames.tolist()):  # a function given by the caller: one call per frame
        try:
            data = bytes(payload(int(f)))
        except ValueError as e:
            error[k] = e
            continue
        length[k] = len(data)
        head[k, :min(width, len(data))] = np.frombuffer(data[:width], dtype=np.uint8)
    return PayloadHeads(frames, head, length, error)


def read_payloads(payload: Callable[[int], bytes], frames) -> list:
    """The whole payload of each of `frames` through `payload`, or the ValueError it raised: in bulk when it is a
    Capture's reader, else one call per frame."""
    bulk = getattr(payload, "payloads", None)
    if bulk is not None:
        return bulk(frames)
    out: list = []
    for f in np.asarray(frames, dtype=np.int64).tolist():  # a function given by the caller: one call per frame
        try:
            out.append(bytes(payload(int(f))))
        except ValueError as e:
            out.append(e)
    return out


@dataclass(frozen=True, slots=True)
class Packets:
    """Where the RTP packets of some requested rows lie: `at` (positions in the request), `start` and `size`
    (int64 offsets and captured lengths in `buffer`, a uint8 array)."""

    buffer: np.ndarray
    at: np.ndarray
    start: np.ndarray
    size: np.ndarray

    @staticmethod
    def joined(at: np.ndarray, datas: list[bytes]) -> "Packets":
        """Packets made as bytes (relayed, framed, reassembled, decrypted), laid end to end in a buffer of their own."""
        size = np.array([len(d) for d in datas], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64) if len(size) else size
        return Packets(np.frombuffer(b"".join(datas), dtype=np.uint8), np.asarray(at, dtype=np.int64), start, size)


def payload_bounds(packets: Packets, payload_offset: np.ndarray, padding: np.ndarray, ciphertext: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, length, ok) of the payloads of `packets`, given each row's payload_offset, P bit and whether its
    payload is ciphertext (SRTP not decrypted: its padding count is inside the ciphertext, nothing is taken off).
    `ok` is False where the rules of rtp.payload would raise (no payload after the header while P is set, a padding
    count of 0 or longer than the payload) or the header does not fit: those rows are for the per-frame reader."""
    body = packets.size - payload_offset
    ok = body >= 0
    pad = padding & ~ciphertext
    last = np.where(pad & ok & (body > 0), packets.start + packets.size - 1, 0)
    count = packets.buffer[last].astype(np.int64) if len(packets.buffer) else np.zeros(len(last), dtype=np.int64)
    count = np.where(pad, count, 0)
    ok &= ~pad | ((body > 0) & (count >= 1) & (count <= body))
    return packets.start + payload_offset, np.where(ok, body - count, 0), ok


def gather_heads(buffer: np.ndarray, start: np.ndarray, length: np.ndarray, width: int) -> np.ndarray:
    """The first `width` bytes at each `start` of `buffer`, zero past each `length` (uint8, rows × width).  Rows are
    copied whole from a strided view of `buffer` whose row i is its bytes i..i+width (one gather, not one per byte);
    a start within `width` bytes of the buffer's end reads from a zero-padded copy of the tail."""
    out = np.zeros((len(start), width), dtype=np.uint8)
    if not width or not len(start):
        return out
    n = len(buffer)
    near_end = start + width > n
    if n >= width:
        rows = np.lib.stride_tricks.as_strided(buffer, (n - width + 1, width), (1, 1), writeable=False)
        out[~near_end] = rows[start[~near_end]]
    if near_end.any():
        tail_at = max(n - width, 0)
        tail = np.zeros(2 * width, dtype=np.uint8)
        tail[: n - tail_at] = buffer[tail_at:]
        idx = start[near_end, None] - tail_at + np.arange(width)
        out[near_end] = tail[np.clip(idx, 0, 2 * width - 1)]
    out[np.arange(width) >= length[:, None]] = 0
    return out


class RtpPayloadReader:
    """A capture's RTP payloads: call it with a frame number for one payload (bytes), or ask `heads(frames, width)`
    for the first bytes of many (PayloadHeads) and `payloads(frames)` for many whole.  Made by the Capture
    (`cap.rtp_payload`, `cap.payload_or_empty`); see Capture.rtp_payload for what a payload is.

    `locate(rows)` (the Capture's) gives, for row positions of the rtp table, the Packets found, the request
    positions that need the per-frame reader, and the errors known without reading (SRTP that did not
    authenticate): (list of (Packets, ciphertext mask over them)), fallback positions, {position: ValueError}.
    `one(frame)` is the per-frame reader; `fast(frame)`, when given, answers one frame's common case (bytes) or
    gives up (None) before the bulk path is set up for one frame.  With `empty_on_error`, a frame that cannot be
    read gives b"" (length 0 in `heads`: "no payload") and is noted in `unreadable` (frame -> why), counted,
    never silently dropped."""

    def __init__(self, frames: np.ndarray, payload_offset: np.ndarray, padding: np.ndarray,
                 locate: Callable, one: Callable[[int], bytes], empty_on_error: bool = False,
                 unreadable: dict | None = None, fast: Callable[[int], bytes | None] | None = None):
        self._frames = frames
        self._payload_offset = payload_offset
        self._padding = padding
        self._locate = locate
        self._one = one
        self._empty_on_error = empty_on_error
        self._unreadable = unreadable if unreadable is not None else {}
        self._fast = fast

    def __repr__(self) -> str:
        kind = "payload_or_empty" if self._empty_on_error else "rtp_payload"
        return f"<webrtcpcap {kind} reader over {len(self._frames)} RTP rows: call it with a frame, or .heads(frames)>"

    def __call__(self, frame: int) -> bytes:
        if self._fast is not None:
            got = self._fast(int(frame))
            if got is not None:
                return got
        got = self.payloads([frame])[0]
        if isinstance(got, ValueError):
            raise got
        return got

    def heads(self, frames, width: int = 16) -> PayloadHeads:
        """The first `width` bytes of the payload of each of `frames` (see PayloadHeads)."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1)
        head = np.zeros((len(frames), width), dtype=np.uint8)
        length = np.full(len(frames), -1, dtype=np.int64)
        error = np.full(len(frames), None, dtype=object)

        def put(at, buffer, start, size):
            head[at] = gather_heads(buffer, start, size, width)
            length[at] = size

        def put_one(k, data):
            length[k] = len(data)
            head[k, :min(width, len(data))] = np.frombuffer(data[:width], dtype=np.uint8)

        self._read(frames, put, put_one, error)
        return PayloadHeads(frames, head, length, self._settle(frames, length, error))

    def payloads(self, frames) -> list:
        """The payload of each of `frames` as bytes, or the ValueError the reader raises for it (b"" with
        `empty_on_error`)."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1)
        out: list = [None] * len(frames)
        error = np.full(len(frames), None, dtype=object)

        def put(at, buffer, start, size):
            for k, s, n in zip(at.tolist(), start.tolist(), size.tolist()):
                out[k] = buffer[s:s + n].tobytes()

        def put_one(k, data):
            out[k] = data

        self._read(frames, put, put_one, error)
        missing = [k for k, o in enumerate(out) if o is None]
        error = self._settle(frames, np.array([-1 if o is None else len(o) for o in out], dtype=np.int64), error)
        for k in missing:
            out[k] = error[k] if error[k] is not None else b""
        return out

    def _read(self, frames: np.ndarray, put, put_one, error: np.ndarray) -> None:
        i = np.searchsorted(self._frames, frames)  # the first row of each frame, as the per-frame reader takes it
        known = (i < len(self._frames)) & (self._frames[np.minimum(i, max(len(self._frames) - 1, 0))] == frames) \
            if len(self._frames) else np.zeros(len(frames), dtype=bool)
        fallback = [np.flatnonzero(~known)]
        rows_known = np.flatnonzero(known)
        for lo in range(0, len(rows_known), READ_SLICE):  # bounded: made packets (relayed, decrypted) are copies
            at = rows_known[lo:lo + READ_SLICE]
            parts, slow, errors = self._locate(i[at])
            fallback.append(at[np.asarray(slow, dtype=np.int64)])
            for k, e in errors.items():
                error[at[k]] = e
            for packets, ciphertext in parts:
                rows = i[at[packets.at]]
                start, size, ok = payload_bounds(packets, self._payload_offset[rows].astype(np.int64),
                                                 self._padding[rows], ciphertext)
                put(at[packets.at[ok]], packets.buffer, start[ok], size[ok])
                fallback.append(at[packets.at[~ok]])
        for k in np.concatenate(fallback).tolist():  # rows the vectorised rules leave: few (malformed, not RTP)
            try:
                put_one(k, self._one(int(frames[k])))
            except ValueError as e:
                error[k] = e

    def _settle(self, frames: np.ndarray, length: np.ndarray, error: np.ndarray) -> np.ndarray:
        """With empty_on_error, unreadable frames become empty payloads, noted in `unreadable`."""
        if not self._empty_on_error:
            return error
        for k in np.flatnonzero(length < 0).tolist():
            self._unreadable[int(frames[k])] = str(error[k])
        length[length < 0] = 0
        return np.full(len(frames), None, dtype=object)

