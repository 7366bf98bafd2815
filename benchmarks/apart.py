"""Running a benchmark's step in a fresh interpreter of its own, so that its peak RSS is its
own work's (not the imports, stores or baselines of the steps measured before it)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


def _call(fn: Callable[..., Any], args: tuple[Any, ...], conn: Connection) -> None:
    conn.send(fn(*args))
    conn.close()


def apart(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a spawned interpreter, and what it returned (`fn` a module's function,
    its result picklable). A step that fails stops the benchmark with one line, not a hang."""
    parent, child = multiprocessing.Pipe(duplex=False)
    proc = multiprocessing.get_context("spawn").Process(target=_call, args=(fn, args, child))
    proc.start()
    child.close()  # (only the child's copy stays open: its exit ends the wait below)
    try:
        result = parent.recv()
    except EOFError:
        result = None
    proc.join()
    if proc.exitcode:
        raise SystemExit(f"{fn.__name__}{args!r} failed in its own process (exit {proc.exitcode})")
    return result
