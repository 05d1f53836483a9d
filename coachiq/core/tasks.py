"""Helpers for the background tasks services own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableSequence


async def cancel_all(tasks: MutableSequence[asyncio.Task[None]]) -> None:
    """Cancel every task, wait until each has ended, and empty the list."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()


def next_tick(period: float, phase: float = 0.0) -> float:
    """The loop time of the next multiple of `period` seconds, shifted by `phase` seconds.

    Periodic work scheduled on these ticks (the health checks, stale detection, the safety supervisor,
    the HTTP server's clock) wakes the process together instead of each on its own phase. On the Pi every
    wake-up from idle costs far more than the few microseconds of work most ticks do. Heavier, rarer
    work (a database flush, a health round) takes a `phase` of its own, so that it does not add to the
    same instant's pause and hold up a frame or a request that arrives then.
    """
    now = asyncio.get_running_loop().time()
    return ((now - phase) // period + 1) * period + phase


async def sleep_aligned(period: float, phase: float = 0.0) -> None:
    """Sleep until the next tick of `period` seconds (shifted by `phase`) on the loop's clock."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()
    handle = loop.call_at(next_tick(period, phase), _wake, woken)
    try:
        await woken
    finally:
        handle.cancel()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
