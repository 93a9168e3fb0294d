"""Whole-file mutations of captures, deterministic from a seed: `generate(seed, seeds)` -> (bytes, what was done).

Most files are small slices of a seed (a few records: small files check fast, and a mutation in a small file is
seen by every table); some are whole seeds.  Mutations act on the structure (records and blocks: length lies,
deleted/duplicated/reordered records, timestamp and interface lies, option lies), on the packets inside the
records (bit flips and stomped fields in the first bytes, where the headers are; snaplen cuts), and on the raw file
(bit flips, truncation at any offset and at record boundaries, inserted/deleted bytes); then some are gzipped and
the gzip stream damaged.
"""

from __future__ import annotations

import functools
import gzip
import random
import struct

from webrtcpcap.io.pcap_writer import block as _block, option as _option

from .capfile import EPB, IDB, OPB, PACKET_BLOCKS, SHB, SPB, Pcap, Pcapng, block_type, packet_count, slice_of

WHOLE_FILE_SHARE = 0.01  # whole seeds are 100-6,000 frames: slow to check, so rare
SLICE_SIZES = (1, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128)

U32_LIES = (0, 1, 2, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 0x7F, 0x80, 0xFF, 0x100, 0x5DC, 0xFFFF, 0x10000, 262_143,
            262_144, 262_145, 0xFFFFFF, 0x1000000, 0x1000001, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
TS_SECONDS = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 4_102_444_800, 86_400)  # 1970, 2038, 2106, 2100...
LINKTYPES = (0, 1, 9, 12, 14, 101, 104, 105, 108, 113, 127, 147, 192, 201, 220, 228, 229, 239, 252, 276, 0x7FFF,
             0xFFFE, 0xFFFF)
TSRESOL = (0, 1, 3, 6, 9, 10, 12, 15, 18, 19, 20, 63, 0x7F, 0x80, 0x81, 0x8A, 0xA0, 0xBE, 0xBF, 0xC0, 0xFE, 0xFF)
TSOFFSET = (-1, -(2 ** 31), 2 ** 31, -(2 ** 62), 2 ** 62, 2 ** 63 - 1, -(2 ** 63), 9_223_372_036, -9_223_372_037,
            4_102_444_800, -1_700_000_000, 10 ** 12)
BYTE_LIES = (0x00, 0x01, 0x02, 0x0F, 0x10, 0x3F, 0x40, 0x45, 0x4F, 0x60, 0x7F, 0x80, 0x81, 0xC0, 0xFE, 0xFF)


# --- small helpers ----------------------------------------------------------------------------------------------

def _set(buf: bytes, off: int, fmt: str, value: int) -> bytes:
    size = struct.calcsize(fmt)
    if off < 0 or off + size > len(buf):
        return buf
    b = bytearray(buf)
    struct.pack_into(fmt, b, off, value & ((1 << (8 * size)) - 1) if fmt[-1] in "IHBQ" else value)
    return bytes(b)


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _flip_bits(rng: random.Random, data: bytes, lo: int, hi: int, n: int) -> bytes:
    if hi <= lo:
        return data
    b = bytearray(data)
    for _ in range(n):
        i = rng.randrange(lo, hi)
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def _header_biased_offset(rng: random.Random, length: int) -> int:
    """An offset into a packet, most often in its first 96 bytes (link, IP, UDP and protocol headers)."""
    if length <= 0:
        return 0
    if rng.random() < 0.8:
        return rng.randrange(min(length, 96))
    return rng.randrange(length)


# pcapng packet blocks: where the captured length and data are
def _pkt_layout(block: bytes, e: str) -> tuple[int, int, int] | None:
    """(offset of the captured-length field or -1 for SPB, offset of data, captured length) of a packet block."""
    t = block_type(block, e)
    if t in (EPB, OPB) and len(block) >= 32:
        caplen = struct.unpack_from(e + "I", block, 20)[0]
        return 20, 28, min(caplen, len(block) - 32)
    if t == SPB and len(block) >= 16:
        return -1, 12, len(block) - 16
    return None


def _rebuild_packet_block(block: bytes, e: str, data: bytes, orig_len: int | None = None) -> bytes:
    t = block_type(block, e)
    lay = _pkt_layout(block, e)
    if lay is None:
        return block
    _, start, caplen = lay
    if t == SPB:
        orig = struct.unpack_from(e + "I", block, 8)[0] if orig_len is None else orig_len
        body = struct.pack(e + "I", orig) + _pad4(data)
    else:
        orig = struct.unpack_from(e + "I", block, 24)[0] if orig_len is None else orig_len
        opts = block[start + ((caplen + 3) & ~3) : -4]
        body = block[8:20] + struct.pack(e + "II", len(data), orig) + _pad4(data) + opts
    total = 12 + len(body)
    return struct.pack(e + "II", t, total) + body + struct.pack(e + "I", total)


def _idb(e: str, linktype: int, snaplen: int, options: list[tuple[int, bytes]]) -> bytes:
    opts = b"".join(_option(c, v, e) for c, v in options)
    if options:
        opts += _option(0, b"", e)
    return _block(IDB, struct.pack(e + "HHI", linktype & 0xFFFF, 0, snaplen & 0xFFFFFFFF) + opts, e)


def _idb_fields(block: bytes, e: str) -> tuple[int, int, list[tuple[int, bytes]]]:
    linktype, _r, snaplen = struct.unpack_from(e + "HHI", block, 8)
    options, pos, stop = [], 16, len(block) - 4
    while pos + 4 <= stop:
        code, olen = struct.unpack_from(e + "HH", block, pos)
        if code == 0:
            break
        options.append((code, block[pos + 4 : pos + 4 + olen]))
        pos += 4 + ((olen + 3) & ~3)
    return linktype, snaplen, options


def _indices(cap: Pcapng, types) -> list[int]:
    return [i for i, (b, e) in enumerate(zip(cap.blocks, cap.endians)) if block_type(b, e) in types]


def _one_record(mutation):
    """A classic-pcap mutator from a mutation of one record (`mutation(rng, record, endian) -> record`): the record is
    chosen at random; a file without records is left as it is."""
    @functools.wraps(mutation)
    def mutator(rng, cap: Pcap) -> Pcap:
        if cap.records:
            i = rng.randrange(len(cap.records))
            cap.records[i] = mutation(rng, cap.records[i], cap.endian)
        return cap
    return mutator


def _one_block(*types):
    """A pcapng mutator from a mutation of one block of `types` (`mutation(rng, block, endian) -> block`), chosen at
    random; a file without such a block is left as it is."""
    def wrap(mutation):
        @functools.wraps(mutation)
        def mutator(rng, cap: Pcapng) -> Pcapng:
            idx = _indices(cap, types)
            if idx:
                i = rng.choice(idx)
                cap.blocks[i] = mutation(rng, cap.blocks[i], cap.endians[i])
            return cap
        return mutator
    return wrap


def _one_packet(rng, cap) -> tuple[list, int, int, int] | None:
    """A packet chosen at random, in either format: (the list holding it, its index, where its data starts, its
    captured length), or None when there is none."""
    if isinstance(cap, Pcap):
        if not cap.records:
            return None
        i = rng.randrange(len(cap.records))
        return cap.records, i, 16, len(cap.records[i]) - 16
    idx = _indices(cap, PACKET_BLOCKS)
    if not idx:
        return None
    i = rng.choice(idx)
    lay = _pkt_layout(cap.blocks[i], cap.endians[i])
    return None if lay is None else (cap.blocks, i, lay[1], lay[2])


# --- classic pcap mutations -------------------------------------------------------------------------------------

@_one_record
def pcap_incl_len_lie(rng, r: bytes, e: str) -> bytes:
    lie = rng.choice(U32_LIES + (len(r) - 16 + 1, len(r) - 16 - 1, len(r) - 16 + 16, len(r)))
    return _set(r, 8, e + "I", lie)


@_one_record
def pcap_orig_len_lie(rng, r: bytes, e: str) -> bytes:
    return _set(r, 12, e + "I", rng.choice(U32_LIES + (len(r) - 17, len(r) - 16 + 1)))


@_one_record
def pcap_snaplen_cut(rng, r: bytes, e: str) -> bytes:
    """A record captured short (caplen < len), as a small snaplen does: consistent, not a lie."""
    incl = len(r) - 16
    keep = rng.choice((0, 1, 13, 14, 20, 33, 34, 41, 42, 46, 54, 60, 62, 70, rng.randrange(incl + 1)))
    keep = min(keep, incl)
    orig = struct.unpack_from(e + "I", r, 12)[0]
    return r[:8] + struct.pack(e + "II", keep, max(orig, incl)) + r[16 : 16 + keep]


@_one_record
def pcap_timestamp_lie(rng, r: bytes, e: str) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        r = _set(r, 0, e + "I", rng.choice(TS_SECONDS))
    elif choice == 1:  # sub-second field out of range
        r = _set(r, 4, e + "I", rng.choice((999_999, 1_000_000, 999_999_999, 1_000_000_000, 0xFFFFFFFF)))
    elif choice == 2:  # backwards in time
        sec = struct.unpack_from(e + "I", r, 0)[0]
        r = _set(r, 0, e + "I", sec - rng.choice((1, 60, 3600, 86_400 * 365, sec)))
    else:
        r = _set(r, 0, e + "I", rng.getrandbits(32))
    return r


def pcap_header_lie(rng, cap: Pcap) -> Pcap:
    e = cap.endian
    choice = rng.randrange(5)
    if choice == 0:
        cap.header = _set(cap.header, 20, e + "I", rng.choice(LINKTYPES) | (rng.choice((0, 0, 0x0FFF0000)) if rng.random() < 0.2 else 0))
    elif choice == 1:
        cap.header = _set(cap.header, 16, e + "I", rng.choice(U32_LIES))  # snaplen
    elif choice == 2:  # microseconds <-> nanoseconds
        magic = struct.unpack_from(e + "I", cap.header)[0]
        cap.header = _set(cap.header, 0, e + "I", 0xA1B23C4D if magic == 0xA1B2C3D4 else 0xA1B2C3D4)
    elif choice == 3:  # version and zone fields
        cap.header = _set(cap.header, 4, e + "H", rng.getrandbits(16))
        cap.header = _set(cap.header, 8, e + "i", rng.choice((0, -1, 2 ** 31 - 1, -(2 ** 31))))
    else:  # the other byte order for the file header only
        cap.header = bytes(reversed(cap.header[:4])) + cap.header[4:]
    return cap


def _run_of_records(rng, cap, lengths):
    """(records or blocks, where a run starts, its length drawn from `lengths`), or None for an empty file."""
    items = cap.records if isinstance(cap, Pcap) else cap.blocks
    if not items:
        return None
    return items, rng.randrange(len(items)), rng.choice(lengths)


def records_delete(rng, cap):
    run = _run_of_records(rng, cap, (1, 1, 2, 5))
    if run is None:
        return cap
    items, i, n = run
    del items[i : i + n]
    if isinstance(cap, Pcapng):
        del cap.endians[i : i + n]
    return cap


def records_duplicate(rng, cap):
    run = _run_of_records(rng, cap, (1, 1, 2, 3))
    if run is None:
        return cap
    items, i, n = run
    times = rng.choice((1, 1, 2, 10))
    items[i:i] = items[i : i + n] * times
    if isinstance(cap, Pcapng):
        cap.endians[i:i] = cap.endians[i : i + n] * times
    return cap


def records_reorder(rng, cap):
    items = cap.records if isinstance(cap, Pcap) else cap.blocks
    if len(items) < 2:
        return cap
    order = list(range(len(items)))
    choice = rng.randrange(3)
    if choice == 0:
        i, j = rng.randrange(len(items)), rng.randrange(len(items))
        order[i], order[j] = order[j], order[i]
    elif choice == 1:
        i = rng.randrange(len(items))
        j = min(len(items), i + rng.randrange(2, 8))
        order[i:j] = reversed(order[i:j])
    else:
        rng.shuffle(order)
    if isinstance(cap, Pcap):
        cap.records = [items[k] for k in order]
    else:
        cap.blocks, cap.endians = [items[k] for k in order], [cap.endians[k] for k in order]
    return cap


def packet_bytes(rng, cap):
    """Bit flips or stomped bytes inside a packet's data, mostly in its headers (the decoders' input)."""
    packet = _one_packet(rng, cap)
    if packet is None:
        return cap
    items, i, start, caplen = packet
    b = bytearray(items[i])
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        off = start + _header_biased_offset(rng, caplen)
        if start <= off < start + caplen:
            if rng.random() < 0.6:
                b[off] ^= 1 << rng.randrange(8)
            else:
                b[off] = rng.choice(BYTE_LIES)
    items[i] = bytes(b)
    return cap


def packet_field_lie(rng, cap):
    """A 16-bit field of the first 80 bytes of a packet (IP total length, UDP length, RTP/STUN/DTLS lengths...)
    set to a lie, keeping the record intact."""
    packet = _one_packet(rng, cap)
    if packet is None or packet[3] < 2:
        return cap
    items, i, start, n = packet
    off = start + rng.randrange(min(n - 1, 80))
    # lies about the lengths a header holds: the IP total length (n - 14 behind Ethernet), the UDP length (n - 34)
    items[i] = _set(items[i], off, ">H", rng.choice((0, 1, 7, 8, 20, 0x7FFF, 0xFFFF, n - 14, n + 1, n - 42 + 8)))
    return cap


# --- pcapng mutations ------------------------------------------------------------------------------------------

def ng_block_length_lie(rng, cap: Pcapng) -> Pcapng:
    if not cap.blocks:
        return cap
    i = rng.randrange(len(cap.blocks))
    b, e = cap.blocks[i], cap.endians[i]
    lie = rng.choice(U32_LIES + (len(b) + 4, len(b) - 4, len(b) + 1, len(b) * 2))
    where = rng.randrange(3)
    if where in (0, 2):
        b = _set(b, 4, e + "I", lie)
    if where in (1, 2):
        b = _set(b, len(b) - 4, e + "I", lie)
    cap.blocks[i] = b
    return cap


@_one_block(EPB, OPB, SPB)
def ng_caplen_lie(rng, b: bytes, e: str) -> bytes:
    if block_type(b, e) == SPB:
        return _set(b, 8, e + "I", rng.choice(U32_LIES + (len(b) - 15,)))
    field = rng.choice((20, 24))  # captured or original length
    return _set(b, field, e + "I", rng.choice(U32_LIES + (len(b) - 31, len(b) - 32 + 4)))


@_one_block(*PACKET_BLOCKS)
def ng_snaplen_cut(rng, b: bytes, e: str) -> bytes:
    lay = _pkt_layout(b, e)
    if lay is None:
        return b
    _, start, caplen = lay
    data = b[start : start + caplen]
    keep = min(caplen, rng.choice((0, 1, 14, 20, 34, 42, 46, 54, 62, rng.randrange(caplen + 1))))
    orig = caplen if block_type(b, e) == SPB else None
    return _rebuild_packet_block(b, e, data[:keep], orig)


@_one_block(EPB, OPB)
def ng_interface_id_lie(rng, b: bytes, e: str) -> bytes:
    if block_type(b, e) == OPB:
        return _set(b, 8, e + "H", rng.choice((1, 2, 7, 0xFFFF)))
    return _set(b, 8, e + "I", rng.choice((1, 2, 3, 7, 255, 0xFFFF, 0x10000, 0xFFFFFFFF)))


@_one_block(EPB, OPB)
def ng_timestamp_lie(rng, b: bytes, e: str) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        b = _set(b, 12, e + "I", 0)
        b = _set(b, 16, e + "I", 0)
    elif choice == 1:
        b = _set(b, 12, e + "I", rng.choice((0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x00100000, 0x01000000)))
    elif choice == 2:  # backwards
        hi = struct.unpack_from(e + "I", b, 12)[0]
        b = _set(b, 12, e + "I", hi - rng.choice((1, 16, 1 << 10, hi)))
    else:
        b = _set(b, 12, e + "I", rng.getrandbits(32))
        b = _set(b, 16, e + "I", rng.getrandbits(32))
    return b


def ng_interface_lie(rng, cap: Pcapng) -> Pcapng:
    """An interface block with a lying link type, snaplen, if_tsresol or if_tsoffset, or a broken option list."""
    idx = _indices(cap, (IDB,))
    if not idx:
        return cap
    i = rng.choice(idx)
    e = cap.endians[i]
    linktype, snaplen, options = _idb_fields(cap.blocks[i], e)
    choice = rng.randrange(6)
    if choice == 0:
        linktype = rng.choice(LINKTYPES)
    elif choice == 1:
        snaplen = rng.choice(U32_LIES)
    elif choice == 2:
        options = [o for o in options if o[0] != 9] + [(9, bytes([rng.choice(TSRESOL)]))]
    elif choice == 3:
        options = [o for o in options if o[0] != 14] + [(14, struct.pack(e + "q", rng.choice(TSOFFSET)))]
    elif choice == 4:  # tsresol and tsoffset together, or repeated
        options = options + [(9, bytes([rng.choice(TSRESOL)])), (14, struct.pack(e + "q", rng.choice(TSOFFSET))),
                             (9, bytes([rng.choice(TSRESOL)]))]
    else:  # short or empty option values
        options = options + [(rng.choice((2, 9, 14, 8, 11, 12)), bytes(rng.randrange(9)))]
    block = _idb(e, linktype, snaplen, options)
    if rng.random() < 0.3 and len(block) > 24:  # an option length that lies
        pos = 16 + 4 * rng.randrange(max((len(block) - 24) // 4, 1))
        block = _set(block, pos + 2, e + "H", rng.choice((0xFFFF, 0x100, 9, 3, len(block))))
    cap.blocks[i] = block
    return cap


def ng_interface_order(rng, cap: Pcapng) -> Pcapng:
    """A packet before any interface, an interface dropped, or interfaces added (ids shift)."""
    idb = _indices(cap, (IDB,))
    pkt = _indices(cap, PACKET_BLOCKS)
    choice = rng.randrange(3)
    if choice == 0 and idb and pkt:  # move an interface block after the packets
        i = rng.choice(idb)
        b, e = cap.blocks.pop(i), cap.endians.pop(i)
        cap.blocks.append(b)
        cap.endians.append(e)
    elif choice == 1 and idb:
        i = rng.choice(idb)
        del cap.blocks[i], cap.endians[i]
    elif idb:
        i = rng.choice(idb)
        e = cap.endians[i]
        new = _idb(e, rng.choice(LINKTYPES), rng.choice((0, 65535, 1)), [])
        cap.blocks.insert(i, new)
        cap.endians.insert(i, e)
    return cap


def ng_section(rng, cap: Pcapng) -> Pcapng:
    """Another section header mid-file (interfaces start over), possibly of the other byte order."""
    shb = _indices(cap, (SHB,))
    if not shb or len(cap.blocks) < 2:
        return cap
    b, e = cap.blocks[shb[0]], cap.endians[shb[0]]
    at = rng.randrange(1, len(cap.blocks))
    if rng.random() < 0.3:  # the byte-order magic of the other order, the rest unchanged
        b = b[:8] + b[8:12][::-1] + b[12:]
    if rng.random() < 0.2:  # a section length that lies
        b = _set(b, 16, e + "q", rng.choice((0, 16, -2, 2 ** 62)))
    cap.blocks.insert(at, b)
    cap.endians.insert(at, e)
    return cap


def ng_odd_blocks(rng, cap: Pcapng) -> Pcapng:
    """Blocks of unknown or rarely used types, a simple packet block, an obsolete packet block."""
    if not cap.blocks:
        return cap
    at = rng.randrange(len(cap.blocks) + 1)
    e = cap.endians[max(at - 1, 0)]
    choice = rng.randrange(4)
    if choice == 0:
        t = rng.choice((4, 5, 7, 8, 0x0BAD, 0x40000BAD, 0x80000001, 0xFFFFFFFF))
        block = _block(t, bytes(rng.choice((0, 4, 8, 16))), e)
    else:
        pkt = _indices(cap, PACKET_BLOCKS)
        if not pkt:
            return cap
        src = rng.choice(pkt)
        lay = _pkt_layout(cap.blocks[src], cap.endians[src])
        if lay is None:
            return cap
        data = cap.blocks[src][lay[1] : lay[1] + lay[2]]
        if choice == 1:  # simple packet block
            block = _block(SPB, struct.pack(e + "I", len(data)) + data, e)
        else:  # obsolete packet block
            block = _block(OPB, struct.pack(e + "HHIIII", 0, 0, 0, 0, len(data), len(data)) + data, e)
    cap.blocks.insert(at, block)
    cap.endians.insert(at, e)
    return cap


@_one_block(EPB)
def ng_packet_options(rng, b: bytes, e: str) -> bytes:
    """Options on an enhanced packet block, with a length that may lie."""
    code = rng.choice((1, 2, 3, 4, 5, 0x8000, 0xFFFF))
    value = bytes(rng.randrange(12))
    olen = rng.choice((len(value), len(value), 0xFFFF, len(value) + 8))
    opt = struct.pack(e + "HH", code, olen) + _pad4(value) + (b"\0\0\0\0" if rng.random() < 0.7 else b"")
    total = len(b) + len(opt)
    return struct.pack(e + "II", EPB, total) + b[8:-4] + opt + struct.pack(e + "I", total)


# --- raw bytes and gzip -----------------------------------------------------------------------------------------

def raw_mutate(rng: random.Random, data: bytes, boundaries: list[int]) -> tuple[bytes, str]:
    choice = rng.randrange(6)
    if not data:
        return data, "raw:none"
    if choice == 0:
        n = rng.choice((1, 1, 2, 4, 16, 64))
        return _flip_bits(rng, data, 0, len(data), n), f"raw:flip{n}"
    if choice == 1:  # truncation at a record boundary, or just before/after it
        if boundaries:
            at = rng.choice(boundaries) + rng.choice((0, 0, -1, 1, 4, 8, 12, 15, 16, -4))
            return data[: max(0, min(at, len(data)))], "raw:cut-boundary"
        return data, "raw:none"
    if choice == 2:
        return data[: rng.randrange(len(data) + 1)], "raw:cut"
    if choice == 3:
        at = rng.randrange(len(data) + 1)
        return data[:at] + bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 3, 4, 16)))) + data[at:], "raw:insert"
    if choice == 4:
        at = rng.randrange(len(data))
        return data[:at] + data[at + rng.choice((1, 2, 4, 16)) :], "raw:delete"
    b = bytearray(data)
    for _ in range(rng.choice((1, 2, 4))):
        at = rng.randrange(len(b))
        b[at] = rng.choice(BYTE_LIES)
    return bytes(b), "raw:stomp"


def gzip_damage(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """The file gzipped, then maybe damaged (cut, flipped, CRC or size trailer, header flags, more members)."""
    z = gzip.compress(data, compresslevel=rng.choice((1, 6, 9)), mtime=0)
    choice = rng.randrange(8)
    if choice == 0:
        return z, "gzip"
    if choice == 1:
        return z[: rng.randrange(10, len(z) + 1)], "gzip:cut"
    if choice == 2:
        return _flip_bits(rng, z, 10, max(len(z) - 8, 11), rng.choice((1, 1, 3))), "gzip:flip-body"
    if choice == 3:
        return _flip_bits(rng, z, len(z) - 8, len(z) - 4, 1), "gzip:crc"
    if choice == 4:
        return _flip_bits(rng, z, len(z) - 4, len(z), 1), "gzip:isize"
    if choice == 5:
        return z[:3] + bytes([z[3] | rng.choice((0x02, 0x04, 0x08, 0x10, 0xE0))]) + z[4:], "gzip:flags"
    if choice == 6:  # two members; the second maybe damaged
        return z + _flip_bits(rng, z, 10, len(z), rng.choice((0, 1))), "gzip:members"
    return z + bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 8, 64)))), "gzip:trailing-garbage"


PCAP_OPS = (
    (pcap_incl_len_lie, 3), (pcap_orig_len_lie, 2), (pcap_snaplen_cut, 3), (pcap_timestamp_lie, 3),
    (pcap_header_lie, 2), (records_delete, 2), (records_duplicate, 2), (records_reorder, 2), (packet_bytes, 12),
    (packet_field_lie, 5),
)
PCAPNG_OPS = (
    (ng_block_length_lie, 3), (ng_caplen_lie, 2), (ng_snaplen_cut, 3), (ng_interface_id_lie, 2),
    (ng_timestamp_lie, 3), (ng_interface_lie, 4), (ng_interface_order, 2), (ng_section, 1), (ng_odd_blocks, 2),
    (ng_packet_options, 1), (records_delete, 2), (records_duplicate, 2), (records_reorder, 2), (packet_bytes, 12),
    (packet_field_lie, 5),
)


def _boundaries(cap) -> list[int]:
    out, pos = [], 0
    if isinstance(cap, Pcap):
        pos = len(cap.header)
        out.append(pos)
        for r in cap.records:
            pos += len(r)
            out.append(pos)
    else:
        for b in cap.blocks:
            pos += len(b)
            out.append(pos)
    return out


def generate(seed: int, seeds: list) -> tuple[bytes, str]:
    """The mutated file of `seed` (same seed, same seeds list: same bytes) and a description of what was done."""
    rng = random.Random(seed)
    name, base = seeds[rng.randrange(len(seeds))]
    n = packet_count(base)
    k = n if rng.random() < WHOLE_FILE_SHARE else rng.choice(SLICE_SIZES)
    start = rng.randrange(max(n - k, 0) + 1)
    cap = slice_of(base, start, k)
    # slice_of shares the seed's lists only by copying: mutations below change `cap` freely
    cap = Pcap(cap.header, list(cap.records), cap.endian) if isinstance(cap, Pcap) else Pcapng(list(cap.blocks), list(cap.endians))
    ops = PCAP_OPS if isinstance(cap, Pcap) else PCAPNG_OPS
    funcs, weights = zip(*ops)
    done = [f"{name}[{start}:{start + k}]"]
    for _ in range(1 + min(int(rng.expovariate(0.9)), 5)):
        op = rng.choices(funcs, weights)[0]
        cap = op(rng, cap)
        done.append(op.__name__)
    data = cap.to_bytes()
    if rng.random() < 0.25:
        data, what = raw_mutate(rng, data, _boundaries(cap))
        done.append(what)
    if rng.random() < 0.12:
        data, what = gzip_damage(rng, data)
        done.append(what)
    return data, " ".join(done)

