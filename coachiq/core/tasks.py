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
