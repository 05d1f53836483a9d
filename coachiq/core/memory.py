"""Give memory that start-up used only once back to the operating system (glibc only)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas: worker threads otherwise each keep megabytes resident."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, arenas)


def release_startup_memory() -> None:
    """Collect garbage left by start-up (YAML parsing, imports) and return free heap pages to the OS."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
