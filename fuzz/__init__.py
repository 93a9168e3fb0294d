"""The project's own fuzzing campaign (issue 16): hostile and broken captures must end in a result or a documented
error (webrtcpcap.io.errors), within a memory and CPU budget, with every frame accounted for.

- `capfile`: seed captures parsed into records/blocks, sliced small (small files check fast).
- `mutate`: `generate(seed)` -> a mutated capture, deterministic from the seed (bit flips, length lies, truncation,
  deleted/duplicated/reordered records, timestamp and interface lies, gzip damage).
- `oracle`: an independent count of the frames a reader must see in a file.
- `checks`: `check_file(path, level)`: the tables and analyses, under resource limits; failures with their place.
- `decoders`: a high-volume in-process driver over the decoders (random and mutated real payloads).
- `campaign` (`python -m fuzz`, `make fuzz`): worker subprocesses restarted on a crash, a summary table.
- `corpus/`: every input that ever failed and is fixed, replayed by tests/test_fuzz_corpus.py;
  `pending/`: reproducers of failures not fixed yet (not replayed), with their traceback.
"""
