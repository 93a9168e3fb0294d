"""Replay saved inputs: `python -m fuzz.replay fuzz/pending/X.bin [more.bin ...]` runs the checks the input failed
(the level, or the decoder, named in the JSON beside it) and prints each failure with its traceback's last lines.
Exit code 1 if any input still fails.  `python -m fuzz.replay --seed N OUT.bin` writes the campaign's file of
seed N (for inputs too big to keep)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback

from . import checks, decoders


def replay(path: str) -> list[str]:
    with open(os.path.splitext(path)[0] + ".json") as f:
        info = json.load(f)
    with open(path, "rb") as f:
        data = f.read()
    if info.get("decoder"):
        try:
            decoders.SCALAR[info["decoder"].split(".")[0]](data)
        except Exception as e:  # noqa: BLE001 - DecodeError is fine, the rest is what we report
            from webrtcpcap.io.errors import DecodeError

            if not isinstance(e, DecodeError):
                return ["".join(traceback.format_exception(type(e), e, e.__traceback__))[-1500:]]
        return []
    tmp = tempfile.mkdtemp()
    try:
        target = os.path.join(tmp, "input.cap")
        with open(target, "wb") as f:
            f.write(data)
        result = checks.check_file(target, data, max(info.get("level", 2), 0))
    finally:
        shutil.rmtree(tmp)
    return [f"{f.signature}\n  step {f.step}: {f.message}\n{f.tail}" for f in result.failures]


def regenerate(seed: int) -> tuple[bytes, str]:
    """The campaign's file of `seed` (the same seed captures give the same bytes)."""
    from . import capfile, mutate

    return mutate.generate(seed, capfile.load_seeds())


def main(argv=None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    if argv[:1] == ["--seed"]:  # python -m fuzz.replay --seed N OUT.bin: write the campaign's file of seed N
        data, desc = regenerate(int(argv[1]))
        with open(argv[2], "wb") as f:
            f.write(data)
        print(f"{argv[2]}: {len(data)} bytes: {desc}")
        return 0
    bad = 0
    for path in argv:
        failures = replay(path)
        print(f"{path}: {'FAILS' if failures else 'passes'}")
        for text in failures:
            print("  " + text.replace("\n", "\n  "))
        bad += bool(failures)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
