"""Node identity on a real server: the NAME a node claimed its address with, and its
PRODUCT_IDENTIFICATION sent as a BAM in answer to the request the feature sends, both shown with its codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import can
import httpx

from coachiq.can.ids import compose_id
from coachiq.can.interface import SIMULATED_CHANNEL
from coachiq.features.manager import load_feature_config
from coachiq.settings import Settings
from tests.conftest import running_server

NODE = 0x30  # an address the simulated coach does not use
NAME = 0x8123_4567_89AB_CDEF
PRODUCT = b"ACME*LEV9*SN42*"


def _frames() -> list[can.Message]:
    def frame(dgn: int, data: bytes, destination: int | None = None) -> can.Message:
        return can.Message(arbitration_id=compose_id(dgn, NODE, destination=destination), data=data,
                           is_extended_id=True)

    frames = [frame(0xEE00, NAME.to_bytes(8, "little"), destination=0xFF),
              # DM_RV: yellow lamp, DSA 82 (leveling), SPN 5 (power supply), FMI 1, count 2.
              frame(0x1FECA, bytes([0x15, 82, 0x00, 0x00, 0xA1, 0x02, 0xFF, 0xFF]))]
    # PRODUCT_IDENTIFICATION (FEEBh) as a BAM: TP.CM then TP.DT packets of 7 bytes (J1939-21).
    packets = (len(PRODUCT) + 6) // 7
    frames.append(frame(0xEC00, bytes([0x20, len(PRODUCT), 0, packets, 0xFF, 0xEB, 0xFE, 0x00]), destination=0xFF))
    for index in range(packets):
        chunk = PRODUCT[index * 7:(index + 1) * 7].ljust(7, b"\xff")
        frames.append(frame(0xEB00, bytes([index + 1]) + chunk, destination=0xFF))
    return frames


async def test_claimed_name_and_product_identification_are_shown_with_the_code(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", flush_interval=0.2, health_interval=0.5, feature_timeout=2)
    features = load_feature_config(environ={"COACHIQ_FEATURE_DIAGNOSTICS": "true"})
    async with running_server(settings, features) as (base_url, _runtime):
        with can.Bus(interface="virtual", channel=SIMULATED_CHANNEL, receive_own_messages=False) as bus:
            for message in _frames():
                bus.send(message)
                await asyncio.sleep(0.06)  # BAM packets are at least 50 ms apart (J1939-21)
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
            async def device() -> dict[str, object] | None:
                listing = (await http.get("/api/v2/diagnostics", params={"source_address": NODE})).json()
                return listing["devices"][0] if listing["devices"] else None

            found: dict[str, object] = {}

            async def ready() -> bool:
                nonlocal found
                found = await device() or {}
                return bool(found.get("product"))

            deadline = asyncio.get_running_loop().time() + 5
            while not await ready():
                assert asyncio.get_running_loop().time() < deadline, found
                await asyncio.sleep(0.05)
        assert found["product"] == PRODUCT.decode().strip()
        assert found["name"] == f"{NAME:016X}" and found["dsa_name"] == "Hydraulic/electric leveling system"
        assert found["class"] == "position_critical"
        assert isinstance(found["name_fields"], dict) and found["name_fields"]["arbitrary_address_capable"] is True
