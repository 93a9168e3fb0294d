"""Frames read again after the decode, by frame number: the UDP payload of each (a relayed one: the datagram TURN
carried), or where it lies in the file's bytes.  Used by payload access, decryption and the decrypted copy."""

from __future__ import annotations

import numpy as np

from ..io import buffer
from ..io.errors import DecodeError
from ..io.reader import ReadState, RecordIndex, make_batch
from ..net import layers as net
from ..protocols import stun

SLICE = 1 << 15  # frames decoded again at a time

def udp_payloads(data: np.ndarray, index: RecordIndex, state: ReadState, frames: np.ndarray,
                 relayed: np.ndarray, fragments_of: dict | None = None) -> list[bytes | None]:
    """The captured UDP payload of each of `frames` (1-based, ascending), read again from the file's bytes; for a
    `relayed` row, the datagram its TURN ChannelData message or Send/Data indication carries.  A datagram
    reassembled from IP fragments needs `fragments_of` ({completing frame: [its other fragments' frames]}, from the
    fragments table).  None where there is none to give: no UDP payload, fragments not given, or a TURN message
    that does not unwrap.  Vectorised per slice except one bytes copy per row."""
    frames = np.asarray(frames, dtype=np.int64)
    relayed = np.asarray(relayed, dtype=bool)
    fragments_of = fragments_of or {}
    out: list[bytes | None] = [None] * len(frames)
    for lo in range(0, len(frames), SLICE):
        wanted = frames[lo:lo + SLICE]
        extra = [g for f in wanted.tolist() for g in fragments_of.get(f, ())]
        rows = np.unique(np.concatenate([wanted, np.asarray(extra, dtype=np.int64)])) - 1
        at = np.searchsorted(rows, wanted - 1)
        batch = make_batch(data, index, 0, 0, state, 1, rows=rows)
        layer = net.decode(batch)  # with the fragments in the batch, its own reassembler joins them
        ok = (layer.transport == net.Transport.UDP) & (layer.payload_off >= 0) & ~layer.fragment
        src = layer.source
        off, cap = layer.payload_off[at], layer.payload_cap[at].astype(np.int64)
        in_file = ok[at] & (off < buffer.EXTRA)
        pos = np.where(in_file, src.absolute(np.where(in_file, off, 0)), -1)
        mem = memoryview(data)
        # the common case, a direct datagram read straight from the file: one slice copy each
        out[lo:lo + len(wanted)] = [bytes(mem[p:p + c]) if p >= 0 else None for p, c in zip(pos.tolist(), cap.tolist())]
        for k in np.flatnonzero(ok[at] & ~in_file).tolist():  # reassembled from IP fragments (few)
            out[lo + k] = src.bytes_at(int(off[k]), int(cap[k]))
        for k in np.flatnonzero(relayed[lo:lo + SLICE] & ok[at]).tolist():
            out[lo + k] = turn_inner(out[lo + k], int(layer.payload_len[at[k]]))
    return out


def udp_spans(data: np.ndarray, index: RecordIndex, state: ReadState, frames: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Where the UDP payload of each of `frames` (1-based) lies in the file's bytes `data`: (offset, size), both
    int64, offset -1 where the frame has no whole UDP payload of its own (not UDP, cut by the snaplen, empty, or an
    IP fragment).  Nothing is copied: what rtp_payload and the bulk payload reader read from."""
    frames = np.asarray(frames, dtype=np.int64)
    pos = np.full(len(frames), -1, dtype=np.int64)
    size = np.zeros(len(frames), dtype=np.int64)
    for lo in range(0, len(frames), SLICE):
        rows, at = np.unique(frames[lo:lo + SLICE] - 1, return_inverse=True)
        layer = net.decode(make_batch(data, index, 0, 0, state, 1, rows=rows))
        cap = layer.payload_cap.astype(np.int64)
        whole = ((layer.transport == net.Transport.UDP) & (layer.payload_off >= 0) & ~layer.fragment
                 & (layer.payload_off < buffer.EXTRA) & (cap == layer.payload_len) & (cap > 0))
        where = np.where(whole, layer.source.absolute(np.where(whole, layer.payload_off, 0)), -1)
        pos[lo:lo + len(at)] = where[at]
        size[lo:lo + len(at)] = np.where(whole, cap, 0)[at]
    return pos, size


def turn_inner(payload: bytes, wire_len: int) -> bytes | None:
    """The datagram a TURN ChannelData message or Send/Data indication carries (as unwrap finds it)."""
    try:
        if payload and 0x40 <= payload[0] <= 0x4F:  # RFC 7983 §7: ChannelData
            return stun.channel_data(payload, wire_len)[1]
        return stun.parse(payload).get(stun.Attr.DATA)
    except DecodeError:
        return None
