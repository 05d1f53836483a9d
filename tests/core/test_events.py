"""The event bus: typed topics, handler failures isolated from the publisher, and mypy checking payloads."""

from __future__ import annotations

import ast
from pathlib import Path

from mypy import api as mypy_api

import coachiq
from coachiq.core.events import EventBus, Topic

NUMBERS: Topic[int] = Topic("test.numbers")


def test_a_payload_reaches_the_handlers_of_its_topic_only() -> None:
    bus = EventBus()
    seen: list[int] = []
    other: list[int] = []
    unsubscribe = bus.subscribe(NUMBERS, seen.append)
    bus.subscribe(Topic[int]("test.other"), other.append)
    bus.publish(NUMBERS, 7)
    unsubscribe()
    bus.publish(NUMBERS, 8)
    assert seen == [7] and other == []
    assert not bus.has_subscribers(NUMBERS)


def test_a_failing_handler_is_counted_and_the_others_still_run() -> None:
    bus = EventBus()
    seen: list[int] = []

    def broken(_value: int) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe(NUMBERS, broken)
    bus.subscribe(NUMBERS, seen.append)
    bus.publish(NUMBERS, 1)
    assert seen == [1] and bus.handler_errors == 1


def test_mypy_refuses_a_payload_or_a_handler_of_the_wrong_type(tmp_path: Path) -> None:
    source = tmp_path / "wrong.py"
    source.write_text(
        "from coachiq.core.events import EventBus, Topic\n"
        "NUMBERS: Topic[int] = Topic('n')\n"
        "def takes_text(value: str) -> None: ...\n"
        "bus = EventBus()\n"
        "bus.publish(NUMBERS, 1)\n"
        "bus.publish(NUMBERS, 'one')\n"
        "bus.subscribe(NUMBERS, takes_text)\n")
    out, _err, status = mypy_api.run([str(source), "--no-incremental", "--follow-imports=silent",
                                      "--cache-dir=/dev/null"])
    assert status == 1, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["6", "7"], out


def test_no_module_names_a_topic_by_a_string_literal() -> None:
    package = Path(coachiq.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("publish", "subscribe", "has_subscribers") and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                    and "." in node.args[0].value and "/" not in node.args[0].value:
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not found, f"topics named by a string (use the Topic objects of coachiq/entities/topics.py): {found}"
