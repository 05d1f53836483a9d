"""Features used by the tests: one that works, one that crashes, one that hangs, one that starts late."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from coachiq.core.service import Health, Status
from coachiq.features.base import FeatureContext, NoSettings

STARTED: list[str] = []


class EchoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word: str = "hello"


class EchoFeature:
    """Serves GET /echo with its configured word."""

    name: ClassVar[str] = "echo"
    settings_model: ClassVar[type[BaseModel]] = EchoSettings

    async def start(self, ctx: FeatureContext) -> None:
        assert isinstance(ctx.settings, EchoSettings)
        word = ctx.settings.word
        router = APIRouter()

        @router.get("/echo")
        async def echo() -> dict[str, str]:
            return {"word": word}

        ctx.add_router(router)
        STARTED.append(self.name)

    async def stop(self) -> None:
        pass

    def health(self) -> Health:
        return Health(Status.HEALTHY, "echoing")


class CrashingFeature:
    name: ClassVar[str] = "crashing"
    settings_model: ClassVar[type[BaseModel]] = NoSettings

    async def start(self, ctx: FeatureContext) -> None:
        router = APIRouter()

        @router.get("/crashing")
        async def route() -> dict[str, str]:
            return {}

        ctx.add_router(router)
        raise RuntimeError("deliberate crash")

    async def stop(self) -> None:
        pass

    def health(self) -> Health:
        return Health(Status.HEALTHY)


class HangingFeature:
    name: ClassVar[str] = "hanging"
    settings_model: ClassVar[type[BaseModel]] = NoSettings

    async def start(self, ctx: FeatureContext) -> None:
        await asyncio.sleep(3600)

    async def stop(self) -> None:
        pass

    def health(self) -> Health:
        return Health(Status.HEALTHY)


class AfterCrashFeature(EchoFeature):
    name: ClassVar[str] = "after_crash"


class LateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str


class LateDeviceFeature:
    """Fails to start until its device (a file) exists, like an adapter plugged in after boot."""

    name: ClassVar[str] = "late"
    settings_model: ClassVar[type[BaseModel]] = LateSettings
    stops = 0  # stop() calls, failed starts included

    async def start(self, ctx: FeatureContext) -> None:
        assert isinstance(ctx.settings, LateSettings)
        if not Path(ctx.settings.device).exists():
            raise RuntimeError(f"no device at {ctx.settings.device}")
        router = APIRouter()

        @router.get("/late")
        async def route() -> dict[str, str]:
            return {"device": "found"}

        ctx.add_router(router)

    async def stop(self) -> None:
        LateDeviceFeature.stops += 1

    def health(self) -> Health:
        return Health(Status.HEALTHY, "device found")


class AfterLateFeature(EchoFeature):
    name: ClassVar[str] = "after_late"


IMPLEMENTATIONS = {
    "echo": "tests.features.sample_features:EchoFeature",
    "crashing": "tests.features.sample_features:CrashingFeature",
    "hanging": "tests.features.sample_features:HangingFeature",
    "after_crash": "tests.features.sample_features:AfterCrashFeature",
    "late": "tests.features.sample_features:LateDeviceFeature",
    "after_late": "tests.features.sample_features:AfterLateFeature",
}
