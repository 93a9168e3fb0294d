"""Tables computed once, on first use, by name: the entry objects (Capture, Chunk) serve their tables through one
of these instead of a hand-written cache each, and `built` says which were computed (tests count on it)."""

from __future__ import annotations

from typing import Callable


class Lazy:
    """Named values made by their builders on first use, then kept.  A builder may ask for other names."""

    def __init__(self, builders: dict[str, Callable[[], object]]):
        self._builders = dict(builders)
        self._values: dict[str, object] = {}

    def __call__(self, name: str):
        if name not in self._values:
            self._values[name] = self._builders[name]()
        return self._values[name]

    def built(self, name: str) -> bool:
        """Whether `name` has been computed (or set)."""
        return name in self._values

    def set(self, name: str, value) -> None:
        """Give `name` a value instead of its builder's (a test replacing one table)."""
        self._values[name] = value
