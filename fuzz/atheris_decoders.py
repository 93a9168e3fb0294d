"""Coverage-guided fuzzing of the scalar decoders with atheris (libFuzzer for Python), when it is installed.

    python -m fuzz.atheris_decoders [libFuzzer flags, e.g. -runs=1000000 -max_total_time=600] [CORPUS_DIR]

The first byte of an input picks the decoder (fuzz.decoders.SCALAR: STUN, TURN ChannelData, DTLS, RTP, RTCP, codec
payload descriptors, SDP), the rest is its input.  Anything but a return or DecodeError is a crash: libFuzzer
saves the input as crash-<sha1> in the working directory.  With `--seed-corpus DIR` (first argument) it writes the
real payloads of the seed captures there, prefixed with their decoder's byte, and exits.
"""

from __future__ import annotations

import os
import sys

import atheris

with atheris.instrument_imports(include=["webrtcpcap"]):
    from webrtcpcap.protocols import codecs, dtls, keys, rtcp, rtp, rtp_extensions, stun  # noqa: F401
    from webrtcpcap import sdp  # noqa: F401
    from webrtcpcap.net import tcp  # noqa: F401
    from webrtcpcap.io.errors import DecodeError

from . import decoders  # noqa: E402

KINDS = list(decoders.SCALAR)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    kind = KINDS[data[0] % len(KINDS)]
    try:
        decoders.SCALAR[kind](data[1:])
        if kind in ("stun", "rtp", "rtcp", "channel"):
            decoders._t_tcp(data[1:])
    except DecodeError:
        pass


def write_seed_corpus(directory: str) -> int:
    os.makedirs(directory, exist_ok=True)
    payloads = decoders.extract_payloads(per_kind=200)
    n = 0
    for i, kind in enumerate(KINDS):
        for j, p in enumerate(payloads.get(kind, [])):
            with open(os.path.join(directory, f"{kind}-{j}"), "wb") as f:
                f.write(bytes([i]) + p)
            n += 1
    return n


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--seed-corpus":
        print(f"{write_seed_corpus(sys.argv[2])} seed inputs in {sys.argv[2]}")
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
