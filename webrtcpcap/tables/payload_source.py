"""RTP payloads of a capture's rtp rows, for Capture.rtp_payload: where each packet lies in the file (read in place,
a block of rows at a time), the packets that must be made again (relayed by TURN, framed out of TCP, reassembled
from IP fragments), SRTP plaintext (a decrypted stream kept for the next asks), and one frame decoded again on its
own for the rows the bulk rules leave.  The caches here are the payload path's own."""

from __future__ import annotations

import numpy as np

from ..io import reader
from ..io.errors import DecodeError
from ..net import layers as net
from ..net.payloads import Packets, RtpPayloadReader
from ..protocols import rtp as _rtp, srtp
from .decrypted import NOT_TRIED as _NOT_TRIED
from .frame_reads import udp_payloads, udp_spans

PAYLOAD_BLOCK = 8192  # rtp rows whose payload places are found together (_direct_spans)
PAYLOAD_BLOCKS_KEPT = 8  # blocks kept: 16 bytes a row, 1 MiB in all
SPARSE_SHARE = 16  # a bulk read asking under 1/16 of a block's rows finds those rows' places only
_PLAINTEXT_STREAMS = 4  # decrypted streams _stream_plaintexts keeps


class PayloadSource:
    """The payload path of one Capture: `decoded`, `decryption` and `fragments` are the capture's (callables, so
    that nothing is computed before it is asked for); `data`, `index`, `state` its file's bytes and records."""

    def __init__(self, data, index, state, decoded, decryption, fragments):
        self._data, self._index, self._state = data, index, state
        self._decode, self._decryption, self._fragments = decoded, decryption, fragments
        self._plain_cache: dict = {}  # (key label, ssrc) -> {rtp row: plaintext}, see _stream_plaintexts
        self._fragments_of: dict | None = None  # completing frame -> its other fragments
        self._span_blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # see _direct_spans
        self._payload_row_facts: tuple | None = None  # see _payload_rows

    def reader(self, empty_on_error: bool, unreadable: dict) -> RtpPayloadReader:
        """An RtpPayloadReader over the rtp table: `empty_on_error` gives b"" where reading fails and notes the frame
        and why in `unreadable`."""
        rtp = self._decode().rtp
        return RtpPayloadReader(rtp["frame"].to_numpy(), rtp["payload_offset"].to_numpy(),
                                rtp["padding"].to_numpy(dtype=bool), self._locate_packets, self.payload_one,
                                empty_on_error, unreadable, self._payload_fast)

    def _payload_fast(self, frame: int) -> bytes | None:
        """One frame's payload by the common case's rules, in plain Python (a per-frame caller pays no numpy
        set-up), or None: then the general path answers (a row the table flags, relayed, framed or reassembled
        packets, broken padding, a frame that is not a row)."""
        frames, _, clean, special, ciphertext = self._payload_rows()[:5]
        i = int(np.searchsorted(frames, frame))
        if i >= len(frames) or frames[i] != frame or not clean[i]:
            return None
        d = self._decryption()
        if d is not None and d.rtp_status[i] != _NOT_TRIED:
            try:
                data = self._plaintext(frame)
            except ValueError:
                return None
            cipher = False
        elif special[i]:
            return None
        else:
            b = i // PAYLOAD_BLOCK
            spans = self._span_blocks.get(b)
            if spans is None:
                self._direct_spans(np.array([i]))  # finds the places of the row's whole block, and keeps them
                spans = self._span_blocks[b]
            pos, size = int(spans[0][i - b * PAYLOAD_BLOCK]), int(spans[1][i - b * PAYLOAD_BLOCK])
            if pos < 0:
                return None
            data = self._data[pos:pos + size].tobytes()
            cipher = bool(ciphertext[i])
        payload_offset, padding = self._payload_rows()[5:]
        body = data[int(payload_offset[i]):]
        if cipher or not padding[i]:
            return body
        count = body[-1] if body else 0
        return body[:len(body) - count] if 1 <= count <= len(body) else None

    def _locate_packets(self, rows: np.ndarray) -> tuple[list, np.ndarray, dict]:
        """Where the RTP packets of rtp rows `rows` lie, for RtpPayloadReader: ([(Packets, ciphertext mask)], request
        positions for the per-frame reader, {request position: ValueError})."""
        frames, ssrc, clean, special, ciphertext = self._payload_rows()[:5]
        todo = clean[rows].copy()  # rows the table flags: the per-frame reader says why
        slow = [np.flatnonzero(~todo)]
        parts, errors = [], {}
        d = self._decryption()
        if d is not None and (d.rtp_status[rows] != _NOT_TRIED).any():
            status = d.rtp_status[rows]
            tried = todo & (status != _NOT_TRIED)
            authentic = tried & np.isin(status, [srtp.Status.OK, srtp.Status.DUPLICATE, srtp.Status.LATE])
            for k in np.flatnonzero(tried & ~authentic).tolist():
                errors[k] = ValueError(f"frame {int(frames[rows[k]])}: SRTP did not authenticate "
                                       f"({srtp.STATUS_NAMES[status[k]]})")
            at = np.flatnonzero(authentic)
            keys = np.asarray(d.rtp_key, dtype=object)[rows[at]]
            ssrcs = ssrc[rows[at]]
            for group in dict.fromkeys(zip(keys.tolist(), ssrcs.tolist())):  # a loop over decrypted streams
                mine = at[(keys == group[0]) & (ssrcs == group[1])]
                plain = self._stream_plaintexts(group)
                have = np.array([plain.get(int(r)) is not None for r in rows[mine]], dtype=bool)
                for k in mine[~have].tolist():
                    errors[k] = ValueError(f"frame {int(frames[rows[k]])}: SRTP did not authenticate again")
                datas = [plain[int(r)] for r in rows[mine[have]]]
                parts.append((Packets.joined(mine[have], datas), np.zeros(int(have.sum()), dtype=bool)))
            todo &= ~tried
        ciphertext = ciphertext[rows]
        special = todo & special[rows]
        at = np.flatnonzero(special)  # relayed by TURN, framed out of TCP, reassembled from IP fragments: made again
        if len(at):
            made = self.rtp_packets(rows[at])
            have = np.array([m is not None for m in made], dtype=bool)
            slow.append(at[~have])
            parts.append((Packets.joined(at[have], [m for m in made if m is not None]), ciphertext[at[have]]))
        at = np.flatnonzero(todo & ~special)  # direct datagrams: read where they lie in the file
        pos, size = self._direct_spans(rows[at], sparse=True)
        found = pos >= 0
        slow.append(at[~found])
        parts.append((Packets(self._data, at[found], pos[found], size[found]), ciphertext[at[found]]))
        return parts, np.concatenate(slow), errors

    def _payload_rows(self) -> tuple[np.ndarray, ...]:
        """Per rtp row, once: frame, ssrc, clean (the table flags nothing), special (relayed by TURN, framed out of
        TCP or reassembled from IP fragments: its packet is made again, not read in place), ciphertext (SRTP flow),
        payload_offset, padding."""
        if self._payload_row_facts is None:
            decoded = self._decode()
            rtp = decoded.rtp
            completing = np.fromiter(self.completing_fragments(), dtype=np.int64)
            special = (rtp["relayed"].to_numpy(dtype=bool) | np.isin(rtp["frame"].to_numpy(), completing))
            special[np.fromiter(decoded.rtp_framed, dtype=np.int64)] = True
            self._payload_row_facts = (rtp["frame"].to_numpy(), rtp["ssrc"].to_numpy(), rtp["error"].isna().to_numpy(),
                                       special, rtp["dtls_srtp"].to_numpy(dtype=bool),
                                       rtp["payload_offset"].to_numpy(), rtp["padding"].to_numpy(dtype=bool))
        return self._payload_row_facts

    def _direct_spans(self, rows: np.ndarray, sparse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """pipeline.udp_spans of the frames of rtp rows `rows`, computed per block of PAYLOAD_BLOCK rows and kept
        for the last few blocks (a per-frame caller walks a stream, so it asks near where it asked before).  With
        `sparse` (a bulk read), a block of which few rows are asked (keyframes read at frame starts near each PLI
        across the whole call) gives those rows' places alone: a block not kept costs its whole walk again."""
        frames = self._payload_rows()[0]
        pos = np.full(len(rows), -1, dtype=np.int64)
        size = np.zeros(len(rows), dtype=np.int64)
        block = rows // PAYLOAD_BLOCK
        for b in np.unique(block).tolist():  # a loop over blocks of rows
            sel = block == b
            if sparse and b not in self._span_blocks and np.count_nonzero(sel) < PAYLOAD_BLOCK // SPARSE_SHARE:
                pos[sel], size[sel] = udp_spans(self._data, self._index, self._state, frames[rows[sel]])
                continue
            spans = self._span_blocks.pop(b, None)
            if spans is None:
                lo = b * PAYLOAD_BLOCK
                spans = udp_spans(self._data, self._index, self._state, frames[lo:lo + PAYLOAD_BLOCK])
            self._span_blocks[b] = spans  # last used last
            while len(self._span_blocks) > PAYLOAD_BLOCKS_KEPT:
                self._span_blocks.pop(next(iter(self._span_blocks)))
            pos[sel], size[sel] = spans[0][rows[sel] - b * PAYLOAD_BLOCK], spans[1][rows[sel] - b * PAYLOAD_BLOCK]
        return pos, size

    def completing_fragments(self) -> dict:
        """{frame that completed an IP datagram: the frames of its other fragments}, from the fragments table."""
        if self._fragments_of is None:
            joined = self._fragments()[self._fragments()["reassembled_in"].notna()]
            self._fragments_of = joined.groupby(joined["reassembled_in"].astype("int64"))["frame"].agg(list).to_dict()
        return self._fragments_of

    def payload_one(self, frame: int) -> bytes:
        """rtp_payload of one frame, the frame decoded again on its own: for the rows the bulk rules leave (a row the
        rtp table flags, a datagram cut short, a frame that is not a row of the rtp table), so that each gets the
        answer, or the error, that reading it as RTP gives."""

        if not 1 <= frame <= len(self._index):
            raise IndexError(f"frame {frame} is not in this capture (1..{len(self._index)})")
        data = self._plaintext(frame) if self._decryption() is not None else None
        ciphertext = False
        if data is None:
            rtp = self._decode().rtp
            frames = rtp["frame"].to_numpy()
            i = int(np.searchsorted(frames, frame))
            known = i < len(frames) and frames[i] == frame
            ciphertext = known and bool(rtp["dtls_srtp"].iat[i])  # SRTP not decrypted: no padding count to read
            if known and (rtp["relayed"].iat[i] or i in self._decode().rtp_framed):
                data = self.rtp_packets(np.array([i]))[0]  # the datagram TURN carried, or RTP framed out of TCP
        if data is None:
            batch = reader.make_batch(self._data, self._index, frame - 1, frame, self._state, frame)
            layer = net.decode(batch)
            if layer.transport[0] != net.Transport.UDP or layer.payload_cap[0] != layer.payload_len[0] \
                    or layer.payload_len[0] <= 0 or layer.fragment[0]:
                raise ValueError(f"frame {frame} has no complete UDP payload")
            data = layer.source.bytes_at(int(layer.payload_off[0]), int(layer.payload_cap[0]))
        try:
            header = _rtp.parse(data)
        except DecodeError as e:
            raise ValueError(f"frame {frame} is not RTP: {e}") from None
        if ciphertext:
            return data[header.payload_offset:]
        return _rtp.payload(data, header)  # DecodeError (a ValueError) for a padding count RFC 3550 calls invalid

    def _plaintext(self, frame: int) -> bytes | None:
        """The decrypted RTP packet of a frame whose SRTP authenticated; None when no key was tried on it."""

        d = self._decryption()
        frames, ssrc = self._payload_rows()[:2]
        i = int(np.searchsorted(frames, frame))
        if i >= len(frames) or frames[i] != frame or d.rtp_status[i] == _NOT_TRIED:
            return None
        if d.rtp_status[i] not in (srtp.Status.OK, srtp.Status.DUPLICATE, srtp.Status.LATE):
            raise ValueError(f"frame {frame}: SRTP did not authenticate ({srtp.STATUS_NAMES[d.rtp_status[i]]})")
        plain = self._stream_plaintexts((d.rtp_key[i], int(ssrc[i])))
        if plain.get(i) is None:
            raise ValueError(f"frame {frame}: SRTP did not authenticate again")
        return plain[i]

    def _stream_plaintexts(self, group: tuple) -> dict:
        """{rtp row: decrypted RTP packet} of one stream (key label, SSRC).  The stream is decrypted again whole, in
        order, so that the rollover counter is followed; the last few streams asked for are kept (RTX OSN reading
        asks for every packet of a stream)."""
        plain = self._plain_cache.pop(group, None)
        if plain is None:
            d = self._decryption()
            rtp = self._decode().rtp
            keys = np.array(d.rtp_key, dtype=object)
            rows = np.flatnonzero((rtp["ssrc"].to_numpy() == group[1]) & (keys == group[0]))
            packets = self.rtp_packets(rows)
            usable = [r for r, p in zip(rows.tolist(), packets) if p is not None]
            result = d.sources[group[0]].make().rtp([p for p in packets if p is not None])
            plain = dict(zip(usable, result.plaintext))
            while len(self._plain_cache) >= _PLAINTEXT_STREAMS:
                self._plain_cache.pop(next(iter(self._plain_cache)))
        self._plain_cache[group] = plain  # last used last
        return plain

    def rtp_packets(self, rows: np.ndarray) -> list:
        """The packets of rows of the rtp table as captured (UDP payloads; the datagram TURN carried; RTP framed out
        of TCP); None where there is none (see pipeline.udp_payloads)."""
        decoded = self._decode()
        framed = decoded.rtp_framed  # RTP out of TCP streams: kept, as it cannot be re-read per frame
        frames, relayed = decoded.rtp["frame"].to_numpy(), decoded.rtp["relayed"].to_numpy()
        reread = np.array([r for r in np.asarray(rows).tolist() if r not in framed], dtype=np.int64)
        got = dict(zip(reread.tolist(), udp_payloads(self._data, self._index, self._state, frames[reread],
                                                     relayed[reread], self.completing_fragments())))
        return [framed[r] if r in framed else got[r] for r in np.asarray(rows).tolist()]
