"""The RV-C protocol core service: DGN database, codec and multi-packet transport on top of the CAN service.

It loads the database once, installs its receiver (coachiq/rvc/receive.py: repeat filter, decode,
publish) as the sink of the CAN service's receive pipeline, so only new payloads are decoded and
published on the event bus topic "rvc.frame" as RvcFrames; it reassembles multi-packet messages
(answering CTS through the CAN service) and encodes and sends what others ask for. Loading the
database, and the cache of parsed files that speeds it up, is coachiq/rvc/spec_load.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path

from coachiq.can.address_claim import ClaimState
from coachiq.can.ids import GLOBAL_ADDRESS, dgn_and_source, is_pdu1
from coachiq.can.interface import CanInterfaceService, CanTransmitError
from coachiq.can.replay import replay_log
from coachiq.can.transmit import Gate
from coachiq.core.events import EventBus, Topic
from coachiq.core.service import Health, ServiceStartError, Status
from coachiq.core.tasks import cancel_all
from coachiq.rvc.codec import Codec
from coachiq.rvc.receive import RvcFrame, RvcReceiver, instance_bytes
from coachiq.rvc.spec import SpecDatabase, SpecError
from coachiq.rvc.spec_load import load_cached_database
from coachiq.rvc.transport import Frame, TransportReceiver

log = logging.getLogger(__name__)

__all__ = ["FRAME", "RvcProtocolService"]

FRAME: Topic[RvcFrame] = Topic("rvc.frame")
"""Every decoded frame (our own transmissions included, marked `own`); re-exported by
coachiq/entities/topics.py with the other core topics."""
_EXPIRE_EVERY_S = 0.25  # J1939-21 timers are 0.75-1.25 s: a quarter second keeps them honest


class RvcProtocolService:
    """Decodes what the CAN service receives and encodes what others want to send."""

    name = "rvc"

    def __init__(self, can: CanInterfaceService, events: EventBus, spec_directory: Path | None = None,
                 cache_directory: Path | None = None) -> None:
        """`spec_directory` None: the database shipped in the package.

        `cache_directory`: where the parsed spec files are kept between starts (None: parse every time).
        """
        self.can = can
        self.events = events
        self.spec_directory = spec_directory
        self.cache_directory = cache_directory
        self.db: SpecDatabase | None = None
        self.codec: Codec | None = None
        self.receiver = RvcReceiver()  # the repeat filter's memory answers last_seen() for stale checks
        self.receivers: dict[str, TransportReceiver] = {}
        self.transport_messages = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._sessions_open = asyncio.Event()  # set while a multi-packet transfer may need its timers run
        self.replay_task: asyncio.Task[int] | None = None

    async def start(self) -> None:
        """Load the DGN database and start decoding; ServiceStartError when the database is invalid."""
        try:
            db = await asyncio.to_thread(load_cached_database, self.spec_directory, self.cache_directory)
        except SpecError as exc:
            raise ServiceStartError(f"the DGN database is invalid: {exc}",
                                    "fix the spec file named above (docs/dgn-format.md)") from exc
        except OSError as exc:
            raise ServiceStartError(f"cannot read the DGN database: {exc}", "reinstall coachiq") from exc
        self.db = db
        self.codec = Codec(db)
        self.receivers = {name: TransportReceiver() for name in self.can.links}
        self.can.transport_handler = self._on_transport
        self.receiver.attach(self.codec, instance_bytes(db), self._publish)
        self.receiver.forget()  # a restart decodes every sender's current payload once more
        self.can.pipeline.sink = self.receiver
        self._tasks.append(asyncio.create_task(self._expire_loop(), name="rvc-transport-timers"))
        log.info("RV-C database loaded: %d DGNs", len(db))

    async def stop(self) -> None:
        """Stop decoding and any replay."""
        if self.can.pipeline.sink is self.receiver:
            self.can.pipeline.sink = None
        self.receiver.attach(None, {}, None)
        self.can.transport_handler = None
        tasks: list[asyncio.Task[None] | asyncio.Task[int]] = [*self._tasks]
        if self.replay_task is not None:
            tasks.append(self.replay_task)
        await cancel_all(tasks)
        self._tasks.clear()
        self.replay_task = None

    async def health(self) -> Health:
        """Healthy while the database is loaded; reports decode errors and unknown DGNs."""
        db = self.db
        if db is None or self.codec is None:
            return Health(Status.STOPPED, "DGN database not loaded")
        pipeline = self.receiver
        if self.can.pipeline.sink is not pipeline or pipeline.codec is not self.codec:
            return Health(Status.UNHEALTHY, "the decoder is not attached to the CAN receive path")
        unknown = sum(pipeline.unknown_dgns.values())
        detail = (f"database loaded ({len(db)} DGNs); {pipeline.decoded_frames} frames decoded, "
                  f"{pipeline.decode_errors} decode errors, {unknown} frames of {len(pipeline.unknown_dgns)} "
                  "unknown DGNs")
        return Health(Status.HEALTHY, detail, {
            "dgns": len(db), "decoded_frames": pipeline.decoded_frames, "decode_errors": pipeline.decode_errors,
            "unknown_dgns": {f"0x{dgn:05X}": n for dgn, n in pipeline.unknown_dgns.items()},
            "transport_messages": self.transport_messages,
        })

    # --- receiving ------------------------------------------------------------------------------

    def _publish(self, frame: RvcFrame) -> None:
        self.events.publish(FRAME, frame)

    def _on_transport(self, timestamp: float, arbitration_id: int, data: bytes, interface: str, own: bool) -> None:
        receiver = self.receivers.get(interface)
        if receiver is None or own:
            return
        link = self.can.links.get(interface)
        claimed = link is not None and link.claimer.state is ClaimState.CLAIMED
        # Peer-to-peer transfers are accepted only while we hold an address; broadcast ones always.
        receiver.own_address = link.claimer.address if claimed and link is not None else GLOBAL_ADDRESS
        result = receiver.feed(arbitration_id, data, time.monotonic())
        if receiver.session_count:
            self._sessions_open.set()
        self._send_transport(interface, result.frames)
        message = result.message
        if message is not None:
            self.transport_messages += 1
            # The identifier the message would have had in one frame: the transfer's priority, its DGN.
            dgn = message.dgn
            address = dgn | message.destination if is_pdu1(dgn) else dgn
            can_id = (arbitration_id & (0x7 << 26)) | (address << 8) | message.source_address
            self.receiver.deliver(timestamp, can_id, dgn, message.source_address, message.data, interface,
                                      own)

    def _send_transport(self, interface: str, frames: tuple[Frame, ...]) -> None:
        for frame in frames:
            dgn, _source = dgn_and_source(frame.can_id)
            try:
                self.can.submit(interface, dgn, frame.data, priority=(frame.can_id >> 26) & 0x7,
                                destination=(frame.can_id >> 8) & 0xFF)
            except (CanTransmitError, ValueError, KeyError) as exc:
                log.warning("cannot answer a multi-packet transfer on %s: %s", interface, exc)

    async def _expire_loop(self) -> None:
        while True:
            # Idle (no transfer open) it sleeps until one opens: a timer tick costs a wake-up.
            await self._sessions_open.wait()
            await asyncio.sleep(_EXPIRE_EVERY_S)
            now = time.monotonic()
            open_sessions = False
            for interface, receiver in self.receivers.items():
                if receiver.session_count:
                    self._send_transport(interface, receiver.expire(now))
                    open_sessions = open_sessions or bool(receiver.session_count)
            if not open_sessions:
                self._sessions_open.clear()

    # --- sending --------------------------------------------------------------------------------

    async def send(self, dgn_or_name: int | str, values: Mapping[str, object], instance: int | None = None,
                   destination: int | None = None, interface: str = "house", *, client: str | None = None,
                   urgent: bool = False, gate: Gate | None = None, max_age_s: float | None = None) -> int:
        """Encode `values` for a DGN (number or name) and send it; returns the frame's identifier.

        `instance` fills the DGN's instance field. The frame goes at the document's priority for the DGN.
        `client`, `urgent`, `gate` and `max_age_s` are the transmit queue's (CanInterfaceService.submit).
        Raises KeyError for an unknown DGN, EncodeError for a bad value, CanTransmitError when the frame
        cannot go out (TransmitRefused when its gate refused it at transmit time).
        """
        codec = self.codec
        if codec is None:
            raise CanTransmitError("the RV-C service is not started")
        spec = codec.spec_for(dgn_or_name)
        if instance is not None:
            if spec.instance_field is None:
                raise ValueError(f"{spec.name} has no instance field; leave instance out")
            values = {**values, spec.instance_field: instance}
        payload = codec.encode(spec.dgn, values)
        if len(payload) > 8:
            raise CanTransmitError(f"{spec.name} needs {len(payload)} bytes: multi-packet sending is not "
                                   "supported yet")
        return await self.can.send(interface, spec.dgn, payload, priority=spec.priority, destination=destination,
                                   client=client, urgent=urgent, gate=gate, max_age_s=max_age_s)

    # --- replay ---------------------------------------------------------------------------------

    def start_replay(self, path: Path, speed: float = 1.0, interface: str | None = None) -> asyncio.Task[int]:
        """Feed a candump (or other) log through the receive path in the background (serve --replay)."""
        if self.replay_task is not None and not self.replay_task.done():
            raise RuntimeError("a replay is already running")

        async def run() -> int:
            fed = await replay_log(self.can, path, speed, interface)
            log.info("replay of %s finished: %d frames", path, fed)
            return fed

        self.replay_task = asyncio.create_task(run(), name="rvc-replay")
        return self.replay_task
