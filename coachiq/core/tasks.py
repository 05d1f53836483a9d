"""Helpers for the background tasks services own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableSequence
from typing import Any

log = logging.getLogger(__name__)

CANCEL_AGAIN_S = 1.0
"""How long a cancelled task may take to end before it is cancelled again."""


async def cancel_all(tasks: MutableSequence[asyncio.Task[Any]]) -> None:
    """Cancel every task, wait until each has ended, and empty the list.

    A task that is still running a second later has lost its cancellation (some library code catches
    it) and is cancelled again, so a stop always ends. A task that had failed is logged, not raised:
    a stop goes on with the rest.
    """
    pending: set[asyncio.Task[Any]] = set(tasks)
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_S)
        for task in pending:
            log.warning("task %s did not end when cancelled; cancelling it again", task.get_name())
            task.cancel()
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("task %s had failed: %s", task.get_name(), error, exc_info=error)
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
