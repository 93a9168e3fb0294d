"""SRTP master keys from where captures get them: NSS key logs and the DTLS-SRTP exporter (TLS 1.2 PRF, RFC 5246 §5;
RFC 5705; RFC 5764 §4.2; for DTLS 1.3 the TLS 1.3 exporter, RFC 8446 §7.5), SDES a=crypto lines (RFC 4568,
RFC 7714 §14.1) and raw master keys as servers log them.

Strategy: sans-IO, text and bytes in, frozen records out; only `load_keylog` reads a file.  Secrets (master
secrets, master keys, salts) never appear in a repr, a str or an error message: records show profiles, lengths and
counts only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Iterator

from . import tls13
from .dtls import RANDOM_LEN
from ..io.errors import DecodeError
from .srtp import Decryptor, Profile

SRTP_EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"  # RFC 5764 §4.2
MASTER_SECRET_LEN = 48  # RFC 5246 §8.1

# NSS key log labels (https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/)
TLS12_LABEL = "CLIENT_RANDOM"
TLS13_LABELS = frozenset({
    "CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EARLY_EXPORTER_SECRET", "EXPORTER_SECRET",
})
OTHER_LABELS = frozenset({"RSA"})  # RSA <8 bytes of the encrypted pre-master secret> <pre-master secret>
NSS_LABELS = frozenset({TLS12_LABEL}) | TLS13_LABELS | OTHER_LABELS


# --- key logs --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tls13Secrets:
    """The TLS 1.3 secrets an NSS key log gives for one handshake (one client random): the handshake traffic
    secrets (epoch 2 of DTLS 1.3), the first application traffic secrets (epoch 3) and the exporter master secret
    (RFC 8446 §7.1).  Any may be None when its line is missing.  The repr names which are present, never a byte."""

    client_handshake_traffic_secret: bytes | None = field(default=None, repr=False)
    server_handshake_traffic_secret: bytes | None = field(default=None, repr=False)
    client_traffic_secret_0: bytes | None = field(default=None, repr=False)
    server_traffic_secret_0: bytes | None = field(default=None, repr=False)
    exporter_secret: bytes | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        present = [label for label, attr in _TLS13_FIELDS.items() if getattr(self, attr) is not None]
        return f"<Tls13Secrets: {', '.join(present) or 'none'}>"

    __str__ = __repr__

    def traffic_secrets(self, sender: str) -> dict[int, bytes]:
        """{DTLS 1.3 epoch: traffic secret} of what the "client" or "server" sends (RFC 9147 §6.1: epoch 2 the
        handshake secret, epoch 3 application secret 0); missing lines are left out."""
        if sender not in ("client", "server"):
            raise DecodeError(f"TLS 1.3 sender {sender!r} is neither 'client' nor 'server'")
        hs = getattr(self, f"{sender}_handshake_traffic_secret")
        app = getattr(self, f"{sender}_traffic_secret_0")
        return {e: s for e, s in ((2, hs), (3, app)) if s is not None}


# NSS label -> Tls13Secrets field (the early-data labels are counted, not kept: WebRTC has no 0-RTT)
_TLS13_FIELDS = {
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET": "client_handshake_traffic_secret",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET": "server_handshake_traffic_secret",
    "CLIENT_TRAFFIC_SECRET_0": "client_traffic_secret_0",
    "SERVER_TRAFFIC_SECRET_0": "server_traffic_secret_0",
    "EXPORTER_SECRET": "exporter_secret",
}
TLS13_SECRET_LENS = (32, 48)  # Hash.length of SHA-256 and SHA-384 suites (RFC 8446 §B.4)


@dataclass(frozen=True, slots=True)
class KeyLog:
    """An NSS key log: TLS 1.2 master secrets by client random (32 bytes -> 48 bytes), and TLS 1.3 secrets by client
    random (`tls13(client_random)`, a Tls13Secrets).  RSA lines are counted, not kept; lines that do not read are
    counted as malformed.  As a mapping it holds the TLS 1.2 master secrets; `sessions` counts both versions.  Its
    repr shows counts only."""

    _secrets: dict = field(repr=False, compare=False)
    tls13_lines: int = 0
    other_lines: int = 0
    malformed_lines: int = 0
    _tls13: dict = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        n12, n13 = len(self._secrets), len(self._tls13)
        return (f"<KeyLog: {n12} TLS 1.2 session{'s' if n12 != 1 else ''}, "
                f"{n13} TLS 1.3 session{'s' if n13 != 1 else ''} ({self.tls13_lines} lines), "
                f"{self.malformed_lines} malformed lines>")

    __str__ = __repr__

    def __len__(self) -> int:
        return len(self._secrets)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._secrets)

    def __contains__(self, client_random: object) -> bool:
        return client_random in self._secrets

    def __getitem__(self, client_random: bytes) -> bytes:
        return self._secrets[client_random]

    def get(self, client_random: bytes, default=None):
        """The TLS 1.2 master secret of the session with this client random, or `default`."""
        return self._secrets.get(client_random, default)

    def client_randoms(self) -> list[bytes]:
        """The client randoms that have a TLS 1.2 master secret, in file order."""
        return list(self._secrets)

    def tls13(self, client_random: bytes) -> Tls13Secrets | None:
        """The TLS 1.3 secrets of the handshake with this client random, or None."""
        secrets = self._tls13.get(bytes(client_random))
        return None if secrets is None else Tls13Secrets(**secrets)

    def tls13_client_randoms(self) -> list[bytes]:
        """The client randoms that have TLS 1.3 secrets, in file order."""
        return list(self._tls13)

    @property
    def sessions(self) -> int:
        """Handshakes the key log can decrypt: TLS 1.2 master secrets plus TLS 1.3 secret sets."""
        return len(self._secrets) + len(self._tls13)


def parse_keylog(text: str) -> KeyLog:
    """Read an NSS key log.  `CLIENT_RANDOM <64 hex> <96 hex>` lines are kept (a later line for the same client
    random replaces an earlier one); so are the TLS 1.3 lines CLIENT_HANDSHAKE_TRAFFIC_SECRET,
    SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0 and EXPORTER_SECRET
    (`<label> <64 hex client random> <64 or 96 hex secret>`, grouped by client random); the early-data labels and
    RSA lines are counted; blank lines and `#` comments are skipped; anything else counts as a malformed line.
    Never raises on content."""
    secrets: dict[bytes, bytes] = {}
    tls13_secrets: dict[bytes, dict[str, bytes]] = {}
    tls13 = other = malformed = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        label = parts[0]
        if label in OTHER_LABELS:
            other += 1
            continue
        if label not in TLS13_LABELS and label != TLS12_LABEL or len(parts) != 3:
            malformed += 1
            continue
        try:
            client_random, secret = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        except ValueError:
            malformed += 1
            continue
        if label in TLS13_LABELS:
            if len(client_random) != RANDOM_LEN or len(secret) not in TLS13_SECRET_LENS:
                malformed += 1
                continue
            tls13 += 1
            if label in _TLS13_FIELDS:
                tls13_secrets.setdefault(client_random, {})[_TLS13_FIELDS[label]] = secret
            continue
        if len(client_random) != RANDOM_LEN or len(secret) != MASTER_SECRET_LEN:
            malformed += 1
            continue
        secrets[client_random] = secret
    return KeyLog(secrets, tls13, other, malformed, tls13_secrets)


def load_keylog(path) -> KeyLog:
    """`parse_keylog` of a file (read as UTF-8, undecodable bytes replaced, so they count as malformed lines)."""
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        return parse_keylog(f.read())


# --- TLS 1.2 PRF and the DTLS-SRTP exporter ---------------------------------------------------------------------


def tls12_prf(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str = "sha256") -> bytes:
    """PRF(secret, label, seed) of TLS 1.2 (RFC 5246 §5): P_<hash>(secret, label + seed), cut to `length` bytes.
    A(0) = label + seed, A(i) = HMAC(secret, A(i-1)); output = HMAC(secret, A(1) + label + seed) + ..."""
    if length < 0:
        raise DecodeError(f"TLS PRF length {length} is negative")
    try:
        hashlib.new(hash_name)
    except (ValueError, TypeError):
        raise DecodeError(f"TLS PRF hash {hash_name!r} is not available") from None
    label_seed = bytes(label) + bytes(seed)
    out = bytearray()
    a = label_seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + label_seed, hash_name).digest()
    return bytes(out[:length])


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """The SRTP master keys and salts of one DTLS-SRTP association (RFC 5764 §4.2).  The client_write key and salt
    protect what the DTLS client sends, the server_write ones what the DTLS server sends.  The repr shows the profile
    and lengths only."""

    profile: Profile
    client_write_key: bytes = field(repr=False)
    server_write_key: bytes = field(repr=False)
    client_write_salt: bytes = field(repr=False)
    server_write_salt: bytes = field(repr=False)

    def __repr__(self) -> str:
        return (f"<SrtpKeys {self.profile.name}: key {len(self.client_write_key)} bytes, "
                f"salt {len(self.client_write_salt)} bytes, per direction>")

    __str__ = __repr__

    def decryptor(self, sender: str) -> Decryptor:
        """A Decryptor for the packets sent by the DTLS "client" or "server"."""
        if sender == "client":
            return Decryptor(self.client_write_key, self.client_write_salt, self.profile)
        if sender == "server":
            return Decryptor(self.server_write_key, self.server_write_salt, self.profile)
        raise DecodeError(f"DTLS-SRTP sender {sender!r} is neither 'client' nor 'server'")


def export_srtp_keys(master_secret: bytes, client_random: bytes, server_random: bytes, profile,
                     extended_master_secret: bool | None = None) -> SrtpKeys:
    """The DTLS-SRTP keying material (RFC 5764 §4.2): the RFC 5705 exporter with label "EXTRACTOR-dtls_srtp", no
    context, over client_random + server_random, 2 * (key_len + salt_len) bytes, split into client_write_key,
    server_write_key, client_write_salt, server_write_salt.

    Extended master secret (RFC 7627): when the handshake negotiated it, the master secret is computed from the
    session hash instead of the randoms, but the key log (`CLIENT_RANDOM` line) already holds that extended master
    secret and the exporter still uses the hello randoms as its seed (RFC 7627 §4 changes the master secret only).
    So the derivation is the same either way; `extended_master_secret` is accepted for the record and changes
    nothing.  DecodeError for a master secret that is not 48 bytes or randoms that are not 32."""
    profile = Profile.from_name(profile) if isinstance(profile, str) else Profile(profile)
    if len(master_secret) != MASTER_SECRET_LEN:
        raise DecodeError(f"TLS master secret has {len(master_secret)} bytes, not {MASTER_SECRET_LEN}")
    for name, r in (("client", client_random), ("server", server_random)):
        if len(r) != RANDOM_LEN:
            raise DecodeError(f"TLS {name} random has {len(r)} bytes, not {RANDOM_LEN}")
    k, s = profile.key_len, profile.salt_len
    m = tls12_prf(master_secret, SRTP_EXPORTER_LABEL, bytes(client_random) + bytes(server_random), 2 * (k + s))
    return SrtpKeys(profile, m[:k], m[k:2 * k], m[2 * k:2 * k + s], m[2 * k + s:])


def export_srtp_keys_tls13(exporter_secret: bytes, profile, hash_name: str | None = None,
                           prefix: bytes = tls13.DTLS13_LABEL_PREFIX) -> SrtpKeys:
    """The DTLS-SRTP keying material of a DTLS 1.3 handshake (RFC 5764 §4.2 over RFC 8446 §7.5): TLS-Exporter(
    "EXTRACTOR-dtls_srtp", no context, 2 * (key_len + salt_len)) from the EXPORTER_SECRET of the key log, split as
    for DTLS 1.2 (client key, server key, client salt, server salt).  `hash_name`: the cipher suite's hash
    ("sha256" for TLS_AES_128_GCM_SHA256, "sha384" for TLS_AES_256_GCM_SHA384); None takes it from the secret's
    length (Hash.length).  `prefix`: the HKDF-Expand-Label prefix, "dtls13" by RFC 9147 §5.9 ("tls13 " is what a
    TLS stack would use).  DecodeError for a secret that is neither 32 nor 48 bytes."""
    profile = Profile.from_name(profile) if isinstance(profile, str) else Profile(profile)
    if hash_name is None:
        hash_name = {32: "sha256", 48: "sha384"}.get(len(exporter_secret))
        if hash_name is None:
            raise DecodeError(f"TLS 1.3 exporter secret has {len(exporter_secret)} bytes, neither 32 nor 48")
    else:
        try:
            need = hashlib.new(hash_name).digest_size
        except (ValueError, TypeError):
            raise DecodeError(f"TLS 1.3 hash {hash_name!r} is not available") from None
        if len(exporter_secret) != need:
            raise DecodeError(f"TLS 1.3 exporter secret has {len(exporter_secret)} bytes, {hash_name} needs {need}")
    k, s = profile.key_len, profile.salt_len
    m = tls13.exporter(exporter_secret, SRTP_EXPORTER_LABEL, b"", 2 * (k + s), hash_name, prefix)
    return SrtpKeys(profile, m[:k], m[k:2 * k], m[2 * k:2 * k + s], m[2 * k + s:])


# --- SDES (RFC 4568) and raw master keys -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MasterKey:
    """An SRTP master key and salt with its profile.  The repr shows the profile only."""

    profile: Profile
    key: bytes = field(repr=False)
    salt: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"<MasterKey {self.profile.name}>"

    __str__ = __repr__

    def decryptor(self) -> Decryptor:
        return Decryptor(self.key, self.salt, self.profile)


@dataclass(frozen=True, slots=True)
class SdesKey:
    """One key of an a=crypto line (RFC 4568 §9.1): the m-section it belongs to (`section`, 0-based, its `media`
    type and `mid`), the a=ssrc values of that section, the crypto `tag`, the `profile`, the master key and salt
    (hidden from the repr), `lifetime` (packets, None when absent), `mki` and `mki_len` (None when absent: the
    packets then carry no MKI) and the session parameters after the key, raw."""

    section: int
    media: str
    mid: str | None
    ssrcs: tuple[int, ...]
    tag: int
    profile: Profile
    key: bytes = field(repr=False)
    salt: bytes = field(repr=False)
    lifetime: int | None = None
    mki: int | None = None
    mki_len: int | None = None
    session_params: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (f"<SdesKey section {self.section} ({self.media}, mid {self.mid}) tag {self.tag} "
                f"{self.profile.sdes_name}{'' if self.mki is None else f' mki {self.mki}:{self.mki_len}'}>")

    __str__ = __repr__

    def decryptor(self) -> Decryptor:
        return Decryptor(self.key, self.salt, self.profile)


_CRYPTO = re.compile(r"^a=crypto:(\d+)\s+(\S+)\s+(\S+)(?:\s+(.*))?$")
_SSRC = re.compile(r"^a=ssrc:(\d+)(?:\s|$)")


def sdes_keys(sdp) -> list[SdesKey]:
    """The SDES keys of every a=crypto line of an SDP (text, or an iterable of lines), with the m-section each
    belongs to and that section's a=mid and a=ssrc values.  Several `inline:` key parameters on one line (joined by
    ";", RFC 4568 §9.2) give one SdesKey each.  DecodeError for an a=crypto line that does not read, an unknown
    suite, or a key of the wrong length (the key itself is never echoed)."""
    lines = sdp.splitlines() if isinstance(sdp, str) else list(sdp)
    sections: list[dict] = []
    current = {"media": "session", "mid": None, "ssrcs": [], "crypto": []}
    for raw in lines:
        line = raw.strip()
        if line.startswith("m="):
            sections.append(current)
            current = {"media": line[2:].split(" ", 1)[0], "mid": None, "ssrcs": [], "crypto": []}
        elif line.startswith("a=mid:"):
            current["mid"] = line[6:].strip()
        elif line.startswith("a=ssrc:"):
            m = _SSRC.match(line)
            if m and int(m.group(1)) not in current["ssrcs"] and int(m.group(1)) < 1 << 32:
                current["ssrcs"].append(int(m.group(1)))
        elif line.startswith("a=crypto:"):
            current["crypto"].append(line)
    sections.append(current)
    out: list[SdesKey] = []
    for index, sec in enumerate(sections):  # index 0 is the session level; m-sections count from 0
        for line in sec["crypto"]:
            m = _CRYPTO.match(line)
            if not m:
                raise DecodeError("SDP a=crypto line does not read as <tag> <suite> <key-params>")
            tag, suite, key_params, params = int(m.group(1)), m.group(2), m.group(3), m.group(4)
            if suite.upper() not in {p.sdes_name for p in Profile}:
                raise DecodeError(f"SDP a=crypto suite {suite!r} is not supported")
            profile = Profile.from_name(suite)
            for kp in key_params.split(";"):
                key, salt, lifetime, mki, mki_len = _inline(kp, profile)
                out.append(SdesKey(index - 1, sec["media"], sec["mid"], tuple(sec["ssrcs"]), tag, profile, key, salt,
                                   lifetime, mki, mki_len, tuple(params.split()) if params else ()))
    return out


def _inline(key_param: str, profile: Profile) -> tuple[bytes, bytes, int | None, int | None, int | None]:
    """inline:<base64 key||salt>[|lifetime][|mki:length] (RFC 4568 §6.1)."""
    if not key_param.lower().startswith("inline:"):
        raise DecodeError("SDP a=crypto key method is not inline")
    fields = key_param[7:].split("|")
    key, salt = _split(_b64(fields[0], "SDP a=crypto"), profile, "SDP a=crypto")
    lifetime = mki = mki_len = None
    for f in fields[1:]:
        if ":" in f:
            a, _, b = f.partition(":")
            if not (a.isdigit() and b.isdigit()) or not 1 <= int(b) <= 128:
                raise DecodeError("SDP a=crypto MKI does not read as <value>:<length 1..128>")
            mki, mki_len = int(a), int(b)
        elif f.startswith("2^") and f[2:].isdigit():
            lifetime = 1 << int(f[2:])
        elif f.isdigit():
            lifetime = int(f)
        else:
            raise DecodeError("SDP a=crypto lifetime does not read as a number or 2^n")
    return key, salt, lifetime, mki, mki_len


def parse_master_key(text: str, profile) -> MasterKey:
    """A raw SRTP master key||salt as logs print it: base64 (with or without padding, with or without a leading
    "inline:" and trailing "|..." parameters) or hex (colons, spaces and a "0x" prefix allowed).  The profile says
    the lengths.  DecodeError when it is neither or has the wrong length; the key is never echoed."""
    profile = Profile.from_name(profile) if isinstance(profile, str) else Profile(profile)
    t = text.strip()
    if t.lower().startswith("inline:"):
        t = t[7:].split("|", 1)[0]
    want = profile.key_len + profile.salt_len
    h = re.sub(r"[\s:]", "", t)
    if h.lower().startswith("0x"):
        h = h[2:]
    is_hex = len(h) % 2 == 0 and re.fullmatch(r"[0-9a-fA-F]+", h) is not None
    try:
        b64 = _b64(t, "SRTP master")
    except DecodeError:
        if not is_hex:
            raise
        b64 = None
    # Prefer the reading that gives the profile's length; otherwise report the length of the likelier one.
    raw = bytes.fromhex(h) if is_hex and (len(h) == 2 * want or b64 is None or len(b64) != want) else b64
    key, salt = _split(raw, profile, "SRTP master")
    return MasterKey(profile, key, salt)


def _b64(text: str, what: str) -> bytes:
    t = text.strip()
    try:
        return base64.b64decode(t + "=" * (-len(t) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{what} key is neither base64 nor hex of the right length") from None


def _split(raw: bytes, profile: Profile, what: str) -> tuple[bytes, bytes]:
    k, s = profile.key_len, profile.salt_len
    if len(raw) != k + s:
        raise DecodeError(f"{what} key||salt has {len(raw)} bytes, {profile.sdes_name} needs {k + s} "
                          f"(key {k} + salt {s})")
    return raw[:k], raw[k:]
