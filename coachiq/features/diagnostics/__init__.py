"""The diagnostics feature: trouble codes from every node, with a life cycle, kept across restarts.

- RV-C nodes: every DM_RV (DGN 1FECAh) on the bus; J1939 nodes: a DM1 (DGN FECAh) seen on the RV-C
  bus, or a `Dm1Report` that a J1939 reader publishes on the event bus topic DM1_TOPIC
  ("j1939.dm1") or hands to `DiagnosticsFeature.report_dm1`.
- Each code goes active -> previously active -> cleared (coachiq.features.diagnostics.tracker), is
  written to the database (tables of migration 0003_diagnostics) and survives a restart.
- A code that becomes active raises an alert: P2 on a position-critical or chassis device, P3 on
  the others; it is cleared when the code stops being active.
- Changes go to WebSocket clients as `{"type": "diagnostics", "codes": [...]}` and on the event bus
  as CHANGE_TOPIC; GET /api/v2/diagnostics lists them (see api.py).
- Node identity: the NAME each node claimed its address with (address claim), and its
  PRODUCT_IDENTIFICATION, requested once from every node that reports a code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from coachiq.core.alerts import Priority
from coachiq.core.events import Topic
from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all
from coachiq.entities.topics import FRAME
from coachiq.features.base import FeatureContext
from coachiq.features.diagnostics.codes import (
    CHASSIS_DSAS,
    DM1_DGN,
    DM1_TOPIC,
    DM_RV_DGN,
    POSITION_CRITICAL_DSAS,
    PRODUCT_IDENTIFICATION_DGN,
    Dm1Report,
    Protocol,
    decode_dm_rv,
    decode_name,
    dsa_name,
    fmi_description,
    parse_dm1,
    spn_description,
)
from coachiq.features.diagnostics.store import DiagnosticsStore, NodeIdentity
from coachiq.features.diagnostics.tracker import CodeKey, CodeRecord, CodeStatus, Tracker

if TYPE_CHECKING:
    from coachiq.composition import CoreServices
    from coachiq.rvc.receive import RvcFrame

__all__ = ["CHANGE_TOPIC", "DM1_TOPIC", "DiagnosticsFeature", "DiagnosticsSettings", "Dm1Report"]

log = logging.getLogger(__name__)

CHANGE_TOPIC: Topic[list[dict[str, Any]]] = Topic("diagnostics.change")  # the API views of changed codes
SWEEP_S = 1.0
WRITE_DELAY_S = 0.5  # changes arriving together are written in one transaction


class DiagnosticsSettings(BaseModel):
    """Settings of the diagnostics feature."""

    model_config = ConfigDict(extra="forbid")

    inactive_after_s: float = Field(15.0, gt=1.0, le=3600.0,
                                    description="An RV-C code not seen for this long is no longer active "
                                                "(RV-C nodes repeat an active DM_RV at least every 5 s).")
    request_product_id: bool = Field(True, description="Ask every node that reports a code for its "
                                                       "PRODUCT_IDENTIFICATION.")


class DiagnosticsFeature:
    """Collects trouble codes; see the module docstring."""

    name: ClassVar[str] = "diagnostics"
    settings_model: ClassVar[type[BaseModel]] = DiagnosticsSettings

    def __init__(self) -> None:
        """Nothing runs until start()."""
        self.core: CoreServices | None = None
        self.tracker = Tracker()
        self.store: DiagnosticsStore | None = None
        self.nodes: dict[str, NodeIdentity] = {}
        self._dirty: set[CodeKey] = set()
        self._dirty_nodes: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._asked: set[int] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self.settings = DiagnosticsSettings.model_validate({})
        self.write_errors = 0

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self, ctx: FeatureContext) -> None:
        """Load the stored codes, then follow the bus and the J1939 hand-over topic."""
        from coachiq.features.diagnostics.api import build_router  # the router needs this class

        assert isinstance(ctx.settings, DiagnosticsSettings)
        self.settings = ctx.settings
        self.core = ctx.core
        self.tracker = Tracker(self.settings.inactive_after_s)
        self.store = DiagnosticsStore(ctx.core.database)
        records, self.nodes = await self.store.load()
        self.tracker.load(records)
        for record in self.tracker.active():
            self._alert(record)
        ctx.subscribe(FRAME, self._on_frame)
        ctx.subscribe(DM1_TOPIC, self.report_dm1)
        ctx.add_router(build_router(self))
        self._tasks = [asyncio.create_task(self._sweep_loop(), name="diagnostics-sweep"),
                       asyncio.create_task(self._write_loop(), name="diagnostics-write")]
        log.info("diagnostics: %d codes stored, %d active", len(self.tracker.codes), len(self.tracker.active()))

    async def stop(self) -> None:
        """Stop the loops and write what is still pending."""
        await cancel_all(self._tasks)
        await cancel_all(list(self._background))
        self._tasks = []
        await self._flush()

    def health(self) -> Health:
        """Unhealthy when a loop ended or the last write failed; reports the active codes."""
        if not self._tasks:
            return Health(Status.STOPPED, "not running")
        if any(t.done() for t in self._tasks):
            return Health(Status.UNHEALTHY, "a diagnostics loop stopped")
        if self.write_errors:
            return Health(Status.UNHEALTHY, f"{self.write_errors} failed writes to the database")
        active = len(self.tracker.active())
        return Health(Status.HEALTHY, f"{active} active trouble codes, {len(self.tracker.codes)} known",
                      {"active": active, "known": len(self.tracker.codes), "refused": self.tracker.refused})

    # --- input ----------------------------------------------------------------------------------

    def _on_frame(self, frame: RvcFrame) -> None:
        if frame.own:
            return
        dgn = frame.dgn
        if dgn == DM_RV_DGN:
            report = decode_dm_rv(frame.decoded.payload)
            if report is not None:
                self._changed(self.tracker.observe_dm_rv(frame.source_address, frame.can_id, report,
                                                         frame.timestamp, frame.interface))
                if report.active:
                    self._ask_identity(frame.source_address, frame.interface)
        elif dgn == DM1_DGN:
            lamps, codes = parse_dm1(frame.decoded.payload)
            self.report_dm1(Dm1Report(frame.source_address, codes, frame.timestamp, frame.interface, lamps))
        elif dgn == PRODUCT_IDENTIFICATION_DGN:
            text = frame.decoded.values.get("identification")
            if isinstance(text, str):
                self._remember(frame.source_address, product=text.rstrip("\x00 ").strip())

    def report_dm1(self, report: Dm1Report) -> None:
        """Take a whole DM1 from a J1939 node (the j1939 reader calls this or publishes on DM1_TOPIC)."""
        if not isinstance(report, Dm1Report):
            raise TypeError(f"expected a Dm1Report, got {type(report).__name__}")
        self._changed(self.tracker.observe_dm1(report))

    # --- changes --------------------------------------------------------------------------------

    def _changed(self, records: list[CodeRecord]) -> None:
        if not records:
            return
        for record in records:
            self._dirty.add(record.key)
            if record.status is CodeStatus.ACTIVE:
                self._alert(record)
            elif self.core is not None:
                self.core.alerts.clear(f"diagnostics:{record.key.text()}")
        self._wake.set()
        if self.core is not None:
            views = [self.view(r) for r in records]
            self.core.events.publish(CHANGE_TOPIC, views)
            self.core.realtime.broadcast({"type": "diagnostics", "codes": views})

    def _alert(self, record: CodeRecord) -> None:
        if self.core is None:
            return
        device = self.device(record.key)
        priority = Priority.P2 if device["class"] in ("position_critical", "chassis") else Priority.P3
        spn = spn_description(record.key.spn, record.key.protocol) or f"SPN {record.key.spn}"
        fmi = fmi_description(record.key.fmi, record.key.protocol) or f"FMI {record.key.fmi}"
        self.core.alerts.raise_alert(f"diagnostics:{record.key.text()}", priority, "diagnostics",
                                     f"{device['label']} reports a fault: {spn}: {fmi}")

    def clear_history(self) -> int:
        """Mark every previously active code cleared; returns how many."""
        changed = self.tracker.clear_history(time.time())
        self._changed(changed)
        return len(changed)

    # --- what a code is about -------------------------------------------------------------------

    def device(self, key: CodeKey) -> dict[str, Any]:
        """The node a code comes from: address, DSA product, claimed NAME, product id, entities, class."""
        entities: list[str] = []
        position_critical = False
        if self.core is not None and key.protocol is Protocol.RVC:
            for entity in self.core.entities.entities.values():
                if any(can_id & 0xFF == key.source_address for can_id, _instance in entity.heard_keys):
                    entities.append(entity.id)
                    position_critical = position_critical or entity.position_critical
        identity = self.nodes.get(_node_key(key.source_address), {})
        name = identity.get("name") or self._claimed_name(key.source_address)
        if key.protocol is Protocol.J1939 or key.dsa in CHASSIS_DSAS:
            kind = "chassis"
        elif position_critical or key.dsa in POSITION_CRITICAL_DSAS:
            kind = "position_critical"
        else:
            kind = "other"
        product = dsa_name(key.dsa)
        label = (product or ("J1939 node" if key.protocol is Protocol.J1939 else "Node")) + \
            f" at 0x{key.source_address:02X}"
        return {"source_address": key.source_address, "dsa": key.dsa, "dsa_name": product, "label": label,
                "name": name, "name_fields": decode_name(int(name, 16)) if name else None,
                "product": identity.get("product"), "entities": sorted(entities), "class": kind}

    def view(self, record: CodeRecord) -> dict[str, Any]:
        """The API shape of a code."""
        data = record.snapshot()
        protocol = record.key.protocol
        data["spn_description"] = spn_description(record.key.spn, protocol)
        data["fmi_description"] = fmi_description(record.key.fmi, protocol)
        data["device"] = self.device(record.key)
        return data

    # --- node identity --------------------------------------------------------------------------

    def _claimed_name(self, source_address: int) -> str | None:
        if self.core is None:
            return None
        for link in self.core.can.links.values():
            name = link.claimer.others.get(source_address)
            if name is not None:
                return f"{name:016X}"
        return None

    def _remember(self, source_address: int, product: str | None = None) -> None:
        key = _node_key(source_address)
        identity = self.nodes.setdefault(key, {"source_address": source_address, "name": None, "product": None})
        name = self._claimed_name(source_address)
        if name is not None:
            identity["name"] = name
        if product:
            identity["product"] = product[:400]
        self._dirty_nodes.add(key)
        self._wake.set()

    def _ask_identity(self, source_address: int, interface: str) -> None:
        if source_address in self._asked or self.core is None:
            return
        self._asked.add(source_address)
        self._remember(source_address)
        if not self.settings.request_product_id:
            return
        rvc = self.core.rvc

        async def ask() -> None:
            try:
                await rvc.send("REQUEST", {"requested_dgn": PRODUCT_IDENTIFICATION_DGN}, destination=source_address,
                               interface=interface)
            except Exception as exc:  # a request that cannot go out only leaves the identity unknown
                log.info("could not ask node 0x%02X for its product identification: %s", source_address, exc)

        task = asyncio.get_running_loop().create_task(ask())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- loops ----------------------------------------------------------------------------------

    def _last_heard(self, can_id: int) -> float | None:
        if self.core is None:
            return None
        return self.core.rvc.receiver.last_seen(can_id)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            self._changed(self.tracker.sweep(time.time(), self._last_heard))

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(WRITE_DELAY_S)
            await self._flush()

    async def _flush(self) -> None:
        self._wake.clear()
        store = self.store
        if store is None:
            return
        keys, self._dirty = self._dirty, set()
        node_keys, self._dirty_nodes = self._dirty_nodes, set()
        forgotten, self.tracker.forgotten = self.tracker.forgotten, []
        records = [self.tracker.codes[k] for k in keys if k in self.tracker.codes]
        now = time.time()
        nodes = {k: (self.nodes[k], now) for k in node_keys if k in self.nodes}
        try:
            await store.save(records, forgotten, nodes)
            self.write_errors = 0
        except Exception as exc:  # the database may be what is down: keep the changes for the next try
            self.write_errors += 1
            log.warning("diagnostics: could not write %d codes: %s", len(records), exc)
            self._dirty |= keys
            self._dirty_nodes |= node_keys
            self.tracker.forgotten.extend(forgotten)


def _node_key(source_address: int) -> str:
    return f"0x{source_address:02X}"
