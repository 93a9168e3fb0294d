"""SRTP and SRTCP decryption (RFC 3711) with the DTLS-SRTP profiles of RFC 5764 §4.1.2 and RFC 7714 §14.2, on top
of libsrtp through pylibsrtp.

Strategy: a capture is evidence, so every packet whose tag is valid is decrypted, whatever libsrtp's replay
protection thinks of it.  One long-lived libsrtp session per key (direction) takes the packets in capture order, one
C call per packet; it estimates each SSRC's rollover counter (ROC) from the highest sequence number it has
authenticated, so in-order feeding crosses sequence wraps.  Packets that session rejects as replays (the same packet
captured twice, a retransmission with the same sequence number, a packet reordered further back than the replay
window) are decrypted again in a fresh session: for SRTCP the index is in the packet; for SRTP the ROC is the one
the long-lived session would have estimated, and the fresh session is brought to it with a few packets of our own
protected under the same key.  A packet that fails authentication is flagged and changes no state (libsrtp updates
a stream only after a packet authenticates).

Limits: libsrtp takes the ROC of an SSRC's first authenticated packet as 0.  A capture that starts after the
sender's first sequence wrap therefore fails authentication for that SSRC unless its ROC is given
(`Decryptor(..., roc={ssrc: n})`).  pylibsrtp works in a 1500-byte buffer: longer packets are flagged `too_long`.
This module never reads files, never imports pandas, and never puts key bytes into a repr or an error message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Mapping, Sequence

import numpy as np
import pylibsrtp

from ..io.errors import DecodeError


class Profile(IntEnum):
    """DTLS-SRTP protection profiles (use_srtp ids): RFC 5764 §4.1.2 and RFC 7714 §14.2."""

    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001  # RFC 5764 §4.1.2
    SRTP_AES128_CM_HMAC_SHA1_32 = 0x0002  # RFC 5764 §4.1.2 (SRTCP keeps the 80-bit tag)
    SRTP_AEAD_AES_128_GCM = 0x0007  # RFC 7714 §14.2
    SRTP_AEAD_AES_256_GCM = 0x0008  # RFC 7714 §14.2

    @property
    def key_len(self) -> int:
        """Master key length in bytes."""
        return _PARAMS[self][0]

    @property
    def salt_len(self) -> int:
        """Master salt length in bytes (112 bits for AES-CM, RFC 3711 §8.2; 96 bits for GCM, RFC 7714 §12)."""
        return _PARAMS[self][1]

    @property
    def rtp_tag_len(self) -> int:
        """Authentication tag length of an SRTP packet in bytes."""
        return _PARAMS[self][2]

    @property
    def rtcp_tag_len(self) -> int:
        """Authentication tag length of an SRTCP packet in bytes (after the 4-byte E flag and SRTCP index)."""
        return _PARAMS[self][3]

    @property
    def sdes_name(self) -> str:
        """The SDES crypto-suite name of RFC 4568 §6.2 / RFC 7714 §14.1 (a=crypto)."""
        return _PARAMS[self][4]

    @property
    def libsrtp(self) -> int:
        """The pylibsrtp `Policy.SRTP_PROFILE_*` constant."""
        return _PARAMS[self][5]

    @classmethod
    def from_name(cls, name: str) -> "Profile":
        """The profile of a DTLS name ("SRTP_AEAD_AES_256_GCM"), an SDES suite name ("AEAD_AES_256_GCM",
        "AES_CM_128_HMAC_SHA1_80"), libsrtp's spelling ("SRTP_AES128_CM_SHA1_80") or a use_srtp id; DecodeError
        otherwise."""
        key = name.strip().upper()
        if key in _NAMES:
            return _NAMES[key]
        raise DecodeError(f"SRTP profile {name!r} is not supported")


_P = pylibsrtp.Policy
# profile -> (key_len, salt_len, rtp_tag_len, rtcp_tag_len, SDES suite, pylibsrtp constant)
_PARAMS: dict[Profile, tuple[int, int, int, int, str, int]] = {
    Profile.SRTP_AES128_CM_HMAC_SHA1_80: (16, 14, 10, 10, "AES_CM_128_HMAC_SHA1_80", _P.SRTP_PROFILE_AES128_CM_SHA1_80),
    Profile.SRTP_AES128_CM_HMAC_SHA1_32: (16, 14, 4, 10, "AES_CM_128_HMAC_SHA1_32", _P.SRTP_PROFILE_AES128_CM_SHA1_32),
    Profile.SRTP_AEAD_AES_128_GCM: (16, 12, 16, 16, "AEAD_AES_128_GCM", _P.SRTP_PROFILE_AEAD_AES_128_GCM),
    Profile.SRTP_AEAD_AES_256_GCM: (32, 12, 16, 16, "AEAD_AES_256_GCM", _P.SRTP_PROFILE_AEAD_AES_256_GCM),
}
_NAMES: dict[str, Profile] = {}
for _p in Profile:
    _NAMES[_p.name] = _p
    _NAMES[_PARAMS[_p][4]] = _p
    _NAMES[_p.name.replace("_HMAC_", "_")] = _p  # libsrtp / aiortc spelling: SRTP_AES128_CM_SHA1_80
    _NAMES[f"0X{_p.value:04X}"] = _p
    _NAMES[str(_p.value)] = _p


class Status(IntEnum):
    """What happened to one packet.  OK, DUPLICATE and LATE packets authenticated and have a plaintext."""

    OK = 0  # authenticated and decrypted in capture order
    DUPLICATE = 1  # its index was already authenticated (packet captured twice, resent with the same seq/index)
    LATE = 2  # older than libsrtp's replay window (reordered far back); authenticated in a fresh session
    AUTH_FAILED = 3  # the tag does not verify (wrong key, tampered, garbage, or a ROC libsrtp could not guess)
    TOO_SHORT = 4  # shorter than a header plus the profile's tag
    BAD_HEADER = 5  # RTP/RTCP version is not 2, or the CSRC list/extension runs past the packet
    TOO_LONG = 6  # longer than pylibsrtp's 1500-byte buffer
    ERROR = 7  # any other libsrtp failure


STATUS_NAMES: tuple[str, ...] = tuple(s.name.lower() for s in Status)
AUTHENTIC = (Status.OK, Status.DUPLICATE, Status.LATE)  # the statuses of a packet whose tag verified

# libsrtp's error strings (pylibsrtp.ERRORS) -> status
_LIBSRTP_STATUS = {
    "authentication failure": Status.AUTH_FAILED,
    "cipher failure": Status.AUTH_FAILED,  # AEAD tag mismatch surfaces as a cipher failure in some builds
    "replay check failed (bad index)": Status.DUPLICATE,
    "replay check failed (index too old)": Status.LATE,
    "unsupported parameter": Status.BAD_HEADER,  # srtp_validate_rtp_header: CSRCs/extension past the end
    "error parsing data": Status.BAD_HEADER,
}
_MAX_LEN = 1500  # pylibsrtp.Session unprotects in a 1500-byte buffer
_WINDOW = 1024  # SRTP replay window: wide enough for ordinary reordering, cheap to shift (libsrtp allows < 0x8000)
_PRIME_STEP = 30000  # < 32768: libsrtp follows a jump of this size without guessing a new ROC


@dataclass(frozen=True, slots=True)
class DecryptResult:
    """Per input packet, in input order: `plaintext` (the RTP/RTCP packet without tag, SRTCP index or MKI; None when
    not authenticated), `status` (uint8 `Status` codes, names in `STATUS_NAMES`) and `auth_ok` (bool: the tag
    verified, status ok, duplicate or late)."""

    plaintext: list
    status: np.ndarray
    auth_ok: np.ndarray

    def __repr__(self) -> str:
        counts = np.bincount(self.status, minlength=len(Status))
        parts = ", ".join(f"{STATUS_NAMES[i]} {c}" for i, c in enumerate(counts) if c)
        return f"<DecryptResult: {len(self.status)} packets{': ' + parts if parts else ''}>"

    def status_names(self) -> list[str]:
        """The status of each packet as its lower-case name ("ok", "auth_failed", ...)."""
        return [STATUS_NAMES[s] for s in self.status.tolist()]


@dataclass(slots=True)
class _Roc:
    """Bookkeeping for one SSRC: extended sequence number (ROC << 16 | seq) and seq of its last authenticated
    packet, as libsrtp's long-lived session saw it."""

    ext: int
    seq: int


@dataclass(eq=False, repr=False)
class Decryptor:
    """Decrypts SRTP and SRTCP protected with one master key and salt (one direction of a DTLS-SRTP association,
    or one SDES a=crypto key).  Any number of SSRCs may share it.  Feed packets in capture order; successive calls
    continue where the previous one stopped (chunked reading works).

    `roc` gives the rollover counter of SSRCs whose capture starts after their sender's first sequence wrap
    (libsrtp would take 0).  The repr shows the profile only.
    """

    key: bytes
    salt: bytes
    profile: Profile
    roc: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.profile = Profile(self.profile)
        if not isinstance(self.key, (bytes, bytearray)) or len(self.key) != self.profile.key_len:
            raise DecodeError(f"SRTP master key has {_len(self.key)} bytes, {self.profile.name} needs "
                              f"{self.profile.key_len}")
        if not isinstance(self.salt, (bytes, bytearray)) or len(self.salt) != self.profile.salt_len:
            raise DecodeError(f"SRTP master salt has {_len(self.salt)} bytes, {self.profile.name} needs "
                              f"{self.profile.salt_len}")
        self._master = bytes(self.key) + bytes(self.salt)
        self._rx = self._session(pylibsrtp.Policy.SSRC_ANY_INBOUND, _WINDOW)
        self._rx_rtcp = self._session(pylibsrtp.Policy.SSRC_ANY_INBOUND, _WINDOW)
        self._rocs: dict[int, _Roc] = {}
        self._pending_roc = {int(s): int(r) for s, r in dict(self.roc).items() if int(r) > 0}

    def __repr__(self) -> str:
        return f"<Decryptor {self.profile.name}>"

    __str__ = __repr__

    # --- SRTP --------------------------------------------------------------------------------------------------

    def rtp(self, payloads: Sequence[bytes]) -> DecryptResult:
        """Decrypt SRTP packets (whole UDP payloads: RTP header, encrypted payload, tag), in capture order."""
        payloads = _as_bytes(payloads)
        n = len(payloads)
        status = np.full(n, Status.OK, np.uint8)
        plain: list = [None] * n
        if n == 0:
            return _result(plain, status)
        lens = np.fromiter(map(len, payloads), np.int64, n)
        head = np.frombuffer(b"".join([p[:12].ljust(12, b"\0") for p in payloads]), np.uint8).reshape(n, 12)
        ssrc = head[:, 8:12].copy().view(">u4").ravel().astype(np.int64)
        seq = (head[:, 2].astype(np.int64) << 8) | head[:, 3]
        cc = (head[:, 0] & 0x0F).astype(np.int64)
        status[lens < 12 + 4 * cc + self.profile.rtp_tag_len] = Status.TOO_SHORT
        status[(lens >= 12) & (head[:, 0] >> 6 != 2)] = Status.BAD_HEADER
        status[lens > _MAX_LEN] = Status.TOO_LONG
        if self._pending_roc:
            self._start_rocs(ssrc, seq, status)
        todo = np.flatnonzero(status == Status.OK).tolist()
        unprotect = self._rx.unprotect
        for i in todo:  # the hot loop: one libsrtp call per packet, nothing else
            try:
                plain[i] = unprotect(payloads[i])
            except pylibsrtp.Error as exc:
                status[i] = _LIBSRTP_STATUS.get(str(exc), Status.ERROR)
            except (TypeError, ValueError):
                status[i] = Status.ERROR
        self._replays(payloads, plain, status, ssrc, seq)
        return _result(plain, status)

    def _replays(self, payloads, plain, status, ssrc, seq) -> None:
        """Track each SSRC's ROC as libsrtp did, and decrypt the packets it refused as replays in fresh sessions."""
        ok = status == Status.OK
        replay = (status == Status.DUPLICATE) | (status == Status.LATE)
        idx = np.flatnonzero(ok | replay)
        if not len(idx):
            return
        for s in np.unique(ssrc[idx]).tolist():
            rows = idx[ssrc[idx] == s]
            r_ok = rows[ok[rows]]
            carry = self._rocs.get(s)
            if len(r_ok):
                sq = seq[r_ok]
                step = _wrap16(np.diff(sq))
                first = sq[0] if carry is None else carry.ext + int(_wrap16(np.int64(sq[0] - carry.seq)))
                ext = first + np.concatenate(([0], np.cumsum(step)))
            else:
                ext = np.zeros(0, np.int64)
            for i in rows[replay[rows]].tolist():
                k = int(np.searchsorted(r_ok, i)) - 1  # the last packet authenticated before this one
                if k >= 0:
                    ref_ext, ref_seq = int(ext[k]), int(seq[r_ok[k]])
                elif carry is not None:
                    ref_ext, ref_seq = carry.ext, carry.seq
                else:
                    ref_ext, ref_seq = int(seq[i]), int(seq[i])
                index = ref_ext + int(_wrap16(np.int64(seq[i] - ref_seq)))
                plain[i] = self._unprotect_at(payloads[i], s, max(index, 0))
                if plain[i] is None:
                    status[i] = Status.AUTH_FAILED
            if len(r_ok):
                self._rocs[s] = _Roc(int(ext[-1]), int(seq[r_ok[-1]]))

    def _unprotect_at(self, packet: bytes, ssrc: int, index: int) -> bytes | None:
        """Unprotect one SRTP packet in a fresh session whose ROC for `ssrc` has been brought to index >> 16."""
        rx = self._session(pylibsrtp.Policy.SSRC_ANY_INBOUND, _WINDOW)
        if index >= 1 << 16:
            self._prime(rx, ssrc, index - 1)
        try:
            return rx.unprotect(packet)
        except (pylibsrtp.Error, TypeError, ValueError):
            return None

    def _prime(self, rx: pylibsrtp.Session, ssrc: int, index: int) -> None:
        """Walk `rx`'s stream for `ssrc` up to the extended sequence number `index` with empty packets of our own,
        protected under the same key, in steps libsrtp follows without losing the ROC."""
        tx = self._session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND, _WINDOW)
        for ext in sorted(set(range(0, index, _PRIME_STEP)) | {index}):
            try:
                rx.unprotect(tx.protect(struct.pack(">BBHII", 0x80, 0, ext & 0xFFFF, 0, ssrc)))
            except pylibsrtp.Error:  # the stream already exists (ROC given too late): leave libsrtp's estimate
                return

    def _start_rocs(self, ssrc: np.ndarray, seq: np.ndarray, status: np.ndarray) -> None:
        """Bring the long-lived session to the given ROC just before the first packet of each SSRC in `roc`."""
        for s, r in list(self._pending_roc.items()):
            hit = np.flatnonzero((ssrc == s) & (status == Status.OK))
            if len(hit):
                first = (r << 16) | int(seq[hit[0]])
                self._prime(self._rx, s, first - 1)
                self._rocs[s] = _Roc(first - 1, (first - 1) & 0xFFFF)
                del self._pending_roc[s]

    # --- SRTCP -------------------------------------------------------------------------------------------------

    def rtcp(self, payloads: Sequence[bytes]) -> DecryptResult:
        """Decrypt SRTCP compound packets (whole UDP payloads: RTCP, encrypted part, E+index, tag), capture order."""
        payloads = _as_bytes(payloads)
        n = len(payloads)
        status = np.full(n, Status.OK, np.uint8)
        plain: list = [None] * n
        if n == 0:
            return _result(plain, status)
        lens = np.fromiter(map(len, payloads), np.int64, n)
        first = np.frombuffer(b"".join([p[:1].ljust(1, b"\0") for p in payloads]), np.uint8)
        status[lens < 8 + 4 + self.profile.rtcp_tag_len] = Status.TOO_SHORT
        status[(lens >= 1) & (first >> 6 != 2)] = Status.BAD_HEADER
        status[lens > _MAX_LEN] = Status.TOO_LONG
        unprotect = self._rx_rtcp.unprotect_rtcp
        for i in np.flatnonzero(status == Status.OK).tolist():
            try:
                plain[i] = unprotect(payloads[i])
            except pylibsrtp.Error as exc:
                status[i] = _LIBSRTP_STATUS.get(str(exc), Status.ERROR)
            except (TypeError, ValueError):
                status[i] = Status.ERROR
        for i in np.flatnonzero((status == Status.DUPLICATE) | (status == Status.LATE)).tolist():
            try:  # the SRTCP index is in the packet: a fresh session needs no history
                plain[i] = self._session(pylibsrtp.Policy.SSRC_ANY_INBOUND, _WINDOW).unprotect_rtcp(payloads[i])
            except (pylibsrtp.Error, TypeError, ValueError):
                status[i] = Status.AUTH_FAILED
        return _result(plain, status)

    def _session(self, ssrc_type: int, window: int) -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(key=self._master, ssrc_type=ssrc_type, srtp_profile=self.profile.libsrtp)
        policy.window_size = window
        policy.allow_repeat_tx = True  # our own priming packets may repeat an index; the receiver never sees that
        return pylibsrtp.Session(policy)


def _result(plain: list, status: np.ndarray) -> DecryptResult:
    return DecryptResult(plain, status, np.isin(status, np.array(AUTHENTIC, np.uint8)))


def _as_bytes(payloads: Sequence) -> Sequence[bytes]:
    """The payloads as bytes objects (bytearray and memoryview are copied; a list of bytes is used as it is)."""
    if all(type(p) is bytes for p in payloads):
        return payloads
    return [bytes(p) for p in payloads]


def _wrap16(d):
    """A difference of 16-bit sequence numbers folded into [-32768, 32767]."""
    return ((d + 0x8000) & 0xFFFF) - 0x8000


def _len(x) -> str:
    try:
        return str(len(x))
    except TypeError:
        return "no"
