"""The transmit queue of one CAN interface: a stop lane ahead of client frames taken in fair turns.

Stop frames (the stops of moving devices) wait in a lane of their own and always leave first;
identical stop frames waiting there share one slot. Client frames wait in a bounded heap ordered by
J1939 priority, then by turn: at equal priority each client's next frame takes the next turn after its
previous one, so a client that queued a hundred frames does not put a hundred frames ahead of another
client's one (round-robin between senders), then first-in first-out.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CanBusyError", "CanTransmitError", "Gate", "TransmitQueue", "TransmitRefused", "TxItem",
           "compose_frame_id", "mark_retrieved", "rate_target", "resolve"]

_MAX_CLIENT_TURNS = 1024  # clients remembered for their turn before those whose turn has passed are dropped


class CanTransmitError(Exception):
    """A frame could not be sent; the message says why and what to do."""


class CanBusyError(CanTransmitError):
    """The frame was not queued: the client's rate limit or the queue is full (answer 429/503)."""

    def __init__(self, message: str, *, rate_limited: bool) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


class TransmitRefused(CanTransmitError):
    """The frame was dropped when it was taken off the queue: its gate refused or it was too old."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Gate = Callable[[], str | None]


@dataclass(order=True, slots=True)
class TxItem:
    """A frame waiting to be sent, ordered by (priority, turn, sequence)."""

    priority: int
    turn: int
    seq: int
    dgn: int = field(compare=False)
    destination: int | None = field(compare=False)
    data: bytes = field(compare=False)
    future: asyncio.Future[int] = field(compare=False)
    gate: Gate | None = field(default=None, compare=False)
    not_after: float | None = field(default=None, compare=False)  # loop time
    urgent: bool = field(default=False, compare=False)


def mark_retrieved(future: asyncio.Future[int]) -> None:
    # Fire-and-forget senders (CTS answers) may never look at the outcome; failures are logged instead.
    if not future.cancelled():
        future.exception()


def resolve(future: asyncio.Future[int], result: int | BaseException) -> None:
    """Settle a sender's future unless it is already settled (a sender that gave up cancels it)."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _copy_outcome(target: asyncio.Future[int]) -> Callable[[asyncio.Future[int]], None]:
    def copy(source: asyncio.Future[int]) -> None:
        if source.cancelled():
            resolve(target, CanTransmitError("the stop frame was cancelled"))
        else:
            error = source.exception()
            resolve(target, error if error is not None else source.result())
    return copy


class TransmitQueue:
    """The stop lane and the bounded, priority-ordered queue of client frames of one interface."""

    def __init__(self, size: int) -> None:
        """`size` bounds the client frames; the stop lane holds one slot per distinct stop frame."""
        self.size = size
        self.turn = 0  # the turn of the last client frame taken
        self.client_turns: dict[str | None, int] = {}
        self.frames: list[TxItem] = []  # a heap by (priority, sequence)
        self.stops: deque[TxItem] = deque()
        self.stop_slots: dict[tuple[int, int | None, bytes], asyncio.Future[int]] = {}
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        """Frames waiting in both lanes."""
        return len(self.frames) + len(self.stops)

    def put(self, item: TxItem, client: str | None = None) -> None:
        """Queue a frame of `client` (None: the server's own) in its turn; asyncio.QueueFull when full."""
        if len(self.frames) >= self.size:
            raise asyncio.QueueFull
        turns = self.client_turns
        item.turn = self.turn if client is None else max(self.turn, turns.get(client, self.turn - 1) + 1)
        if client is not None:
            turns[client] = item.turn
            if len(turns) > _MAX_CLIENT_TURNS:  # a client whose turn has passed loses nothing by being forgotten
                for name in [n for n, t in turns.items() if t <= self.turn]:
                    del turns[name]
        heapq.heappush(self.frames, item)
        self.changed.set()

    def put_back(self, item: TxItem) -> None:
        """Return a frame taken off the queue to its place (a stop frame came first)."""
        heapq.heappush(self.frames, item)

    def put_stop(self, item: TxItem) -> asyncio.Future[int]:
        """Queue a stop frame in the stop lane; an identical one already waiting is shared."""
        key = (item.dgn, item.destination, item.data)
        waiting = self.stop_slots.get(key)
        if waiting is not None and not waiting.done():
            waiting.add_done_callback(_copy_outcome(item.future))
            return item.future
        self.stop_slots[key] = item.future
        self.stops.append(item)
        self.changed.set()
        return item.future

    def take(self) -> TxItem | None:
        """The next frame: the stop lane first, then the most urgent client frame."""
        if self.stops:
            item = self.stops.popleft()
            key = (item.dgn, item.destination, item.data)
            if self.stop_slots.get(key) is item.future:
                del self.stop_slots[key]
            return item
        if self.frames:
            item = heapq.heappop(self.frames)
            self.turn = max(self.turn, item.turn)
            return item
        return None

    async def get(self) -> TxItem:
        """Wait for the next frame."""
        while True:
            item = self.take()
            if item is not None:
                return item
            self.changed.clear()
            await self.changed.wait()

    async def stop_or_timeout(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking at once when a stop frame arrives."""
        if self.stops:
            return
        self.changed.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.stops:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    await self.changed.wait()
            except TimeoutError:
                return
            self.changed.clear()

    def drain(self) -> list[TxItem]:
        """Take every waiting frame out."""
        items = [*self.stops, *self.frames]
        self.stops.clear()
        self.frames.clear()
        self.stop_slots.clear()
        return items


def rate_target(item: TxItem) -> int:
    """What the rate limit counts frames against: the destination node of a destination-specific frame,
    else the DGN and its first byte, the instance in RV-C (one device output)."""
    from coachiq.can.ids import is_pdu1

    if is_pdu1(item.dgn):
        return 0xFF if item.destination is None else item.destination
    return 0x100 | (item.dgn << 9) | (item.data[0] << 1 if item.data else 1)


def compose_frame_id(dgn: int, source: int, priority: int, destination: int | None) -> int:
    """The 29-bit identifier of a frame we send (the destination only for destination-specific DGNs)."""
    from coachiq.can.ids import compose_id, is_pdu1

    return compose_id(dgn, source, priority, destination if is_pdu1(dgn) else None)
