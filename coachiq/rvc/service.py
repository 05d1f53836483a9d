"""The RV-C protocol core service: DGN database, codec and multi-packet transport on top of the CAN service.

It loads the database once, installs its receiver (coachiq/rvc/receive.py: repeat filter, decode,
publish) as the sink of the CAN service's receive pipeline, so only new payloads are decoded; it
reassembles multi-packet messages (answering CTS through the CAN service), and
publishes every decoded frame on the event bus topic "rvc.frame" as an RvcFrame.

The server keeps the parsed spec files in its data folder (cache/dgn-database-*.marshal), so a normal
start skips the YAML parsing; the documents are validated on every start all the same. Samples and
DGN notes are not kept in the server's memory (the docs command and the tests read them).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import marshal
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from coachiq.can.address_claim import ClaimState
from coachiq.can.ids import GLOBAL_ADDRESS, dgn_and_source, is_pdu1
from coachiq.can.interface import CanInterfaceService, CanTransmitError
from coachiq.can.replay import replay_log
from coachiq.can.transmit import Gate
from coachiq.core.events import EventBus
from coachiq.core.service import Health, ServiceStartError, Status
from coachiq.core.tasks import cancel_all
from coachiq.rvc import spec as spec_module
from coachiq.rvc.codec import Codec
from coachiq.rvc.receive import RvcFrame, RvcReceiver, instance_bytes
from coachiq.rvc.spec import SpecDatabase, SpecError, default_spec_directory, parse_spec_document
from coachiq.rvc.transport import Frame, TransportReceiver

log = logging.getLogger(__name__)

__all__ = ["FRAME_TOPIC", "RvcProtocolService", "load_spec_database"]

FRAME_TOPIC = "rvc.frame"
_CACHE_PREFIX = "dgn-database-"
_EXPIRE_EVERY_S = 0.25  # J1939-21 timers are 0.75-1.25 s: a quarter second keeps them honest


def _cache_key(files: Iterable[tuple[str, bytes]]) -> str:
    # Parsed documents depend on the files' bytes, on the parser (spec.py) and on the marshal format.
    digest = hashlib.sha256(f"{sys.version_info[:2]} {marshal.version}".encode())
    digest.update(Path(spec_module.__file__ or "spec.py").read_bytes())
    for name, data in files:
        digest.update(f"\0{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:24]


def _read_cache(path: Path) -> list[tuple[str, bytes]] | None:
    """The cached (file name, marshalled document) pairs, or None when absent or damaged."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    checksum, blob = content[:32], content[32:]
    if hashlib.sha256(blob).digest() != checksum:  # torn by a power cut: parse again
        return None
    entries = marshal.loads(blob)
    if not isinstance(entries, list) or not all(isinstance(e, tuple) and len(e) == 2 for e in entries):
        return None
    return entries


def _write_cache(folder: Path, path: Path, entries: list[tuple[str, bytes]]) -> None:
    blob = marshal.dumps(entries)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{_CACHE_PREFIX}*"):
        old.unlink(missing_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_bytes(hashlib.sha256(blob).digest() + blob)
    os.replace(partial, path)


def load_spec_database(spec_directory: Path | None, cache_directory: Path | None) -> SpecDatabase:
    """Load the DGN database; with a cache folder, reuse the YAML parsed at an earlier start.

    Parsing the YAML is most of the database load (and of the rvc service's start); the cache holds
    the parsed documents, keyed by the files' bytes and the parser. They are still validated on every
    start, so the cache makes the load faster but never accepts what load() would refuse.
    """
    if cache_directory is None:
        return SpecDatabase.load(spec_directory, keep_samples_and_notes=False)
    folder = spec_directory if spec_directory is not None else default_spec_directory()
    paths = sorted(folder.glob("*.yaml"))
    names = [path.name for path in paths]
    try:
        # The files are read one at a time here and again when parsed: holding all of them for the
        # whole load would raise the start-up peak, and so the server's resident memory, for nothing.
        key = _cache_key((path.name, path.read_bytes()) for path in paths)
        cache = cache_directory / f"{_CACHE_PREFIX}{key}.marshal"
    except OSError as exc:  # the parser's source is not readable: work without the cache
        log.warning("not caching the DGN database: %s", exc)
        return SpecDatabase.load(spec_directory, keep_samples_and_notes=False)
    try:
        entries = _read_cache(cache)
    except (OSError, ValueError, EOFError, TypeError) as exc:
        log.warning("ignoring the unreadable DGN database cache %s: %s", cache, exc)
        entries = None
    if entries is not None and [name for name, _ in entries] == names:
        # One document at a time: unmarshalled, validated, dropped with its blob (keeps the peak, and so
        # RSS, low).
        cached = entries
        cached.reverse()

        def unmarshal() -> Iterator[tuple[str, Any]]:
            while cached:
                name, blob = cached.pop()
                yield name, marshal.loads(blob)

        return SpecDatabase.from_documents(unmarshal(), keep_samples_and_notes=False)
    entries = []
    parsed: list[tuple[str, bytes]] = []

    def parse() -> Iterator[tuple[str, Any]]:
        for path in paths:
            data = path.read_bytes()
            parsed.append((path.name, data))
            document = parse_spec_document(data, path.name)
            entries.append((path.name, marshal.dumps(document)))
            yield path.name, document

    database = SpecDatabase.from_documents(parse(), keep_samples_and_notes=False)  # only a valid one is cached
    if _cache_key(parsed) != key:  # a file changed between the two reads: keep no cache of a mix
        return database
    try:
        _write_cache(cache_directory, cache, entries)
    except (OSError, ValueError) as exc:
        log.warning("cannot write the DGN database cache %s (the next start parses again): %s", cache, exc)
    return database


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
            db = await asyncio.to_thread(load_spec_database, self.spec_directory, self.cache_directory)
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
        self.events.publish(FRAME_TOPIC, frame)

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
