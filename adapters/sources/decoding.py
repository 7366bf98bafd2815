"""Content-Encoding undone with the size bounded while decompressing, layer by layer.

httpx inflates each chunk whole, and each layer of `Content-Encoding: gzip, gzip` whole again:
1,831 bytes on the wire became gigabytes before a cap on the decoded chunks could see them.
Here every layer is asked for at most what is left of its budget (zlib's `max_length`): the
decoded body never passes the cap, and no layer before it twice the cap, whatever the nesting.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

# What PoliteClient sends as Accept-Encoding: exactly the encodings undone here.
ACCEPT_ENCODING = "gzip, deflate"


class TooLarge(Exception):
    """The decoded body would be larger than the cap."""


class UndecodableBody(Exception):
    """A Content-Encoding not supported, or compressed data that is corrupt."""


class _Inflate:
    """One zlib layer (gzip or deflate) that never outputs more than its budget."""

    def __init__(self, encoding: str, budget: int) -> None:
        self.encoding = encoding
        self._deflate = encoding == "deflate"
        wbits = zlib.MAX_WBITS if self._deflate else zlib.MAX_WBITS | 16
        self._d = zlib.decompressobj(wbits)
        self._first = True
        self._left = budget

    def feed(self, data: bytes) -> bytes:
        """Inflate `data`; raises TooLarge as soon as the output passes the budget."""
        first, self._first = self._first, False
        try:
            out = self._d.decompress(data, self._left + 1)
        except zlib.error as exc:
            if first and self._deflate:  # raw deflate, without the zlib header (as httpx does)
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data)
            raise UndecodableBody(f"corrupt {self.encoding} data ({exc})") from None
        return self._take(out)

    def finish(self) -> bytes:
        """What is left once all input was fed."""
        try:
            return self._take(self._d.flush())
        except zlib.error as exc:
            raise UndecodableBody(f"corrupt {self.encoding} data ({exc})") from None

    def _take(self, out: bytes) -> bytes:
        # With max_length = left + 1, output past the budget means the body is too large;
        # anything below it means all the input was consumed (no unconsumed_tail to keep).
        if len(out) > self._left:
            raise TooLarge
        self._left -= len(out)
        return out


class BoundedDecoder:
    """Undoes a response's Content-Encoding layers (the last applied first), each bounded by
    `limit` decoded bytes; the decoded body is at most `limit` bytes or TooLarge is raised."""

    def __init__(self, encodings: Sequence[str], limit: int) -> None:
        names = [raw.strip().lower() for raw in reversed(encodings)]
        names = [name for name in names if name not in ("", "identity")]
        self._layers: list[_Inflate] = []
        for index, name in enumerate(names):
            if name not in ("gzip", "x-gzip", "deflate"):
                raise UndecodableBody(f"Content-Encoding {name[:40]!r} is not supported")
            # A layer before the last holds compressed data, which may be a little larger than
            # what it decodes to (incompressible data gains a few bytes a block): twice the cap
            # for those, so a body within the cap is never refused for its wrapping.
            budget = limit if index == len(names) - 1 else 2 * limit + 1024
            self._layers.append(_Inflate("deflate" if name == "deflate" else "gzip", budget))
        self._limit = limit
        self._size = 0

    def feed(self, data: bytes) -> bytes:
        """Decode one chunk as it came off the wire."""
        for layer in self._layers:
            data = layer.feed(data)
        return self._count(data)

    def finish(self) -> bytes:
        """The rest, once the body ended."""
        out = b""
        for index, layer in enumerate(self._layers):
            tail = layer.finish()
            for later in self._layers[index + 1 :]:
                tail = later.feed(tail)
            out += tail
        return self._count(out)

    def _count(self, data: bytes) -> bytes:
        self._size += len(data)
        if self._size > self._limit:
            raise TooLarge
        return data


def content_encodings(header_values: Sequence[str]) -> list[str]:
    """The encodings named by Content-Encoding headers, in the order they were applied."""
    return [part for value in header_values for part in value.split(",") if part.strip()]
