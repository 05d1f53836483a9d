"""docs/dgns.md is up to date, and the JSON views used by `coachiq spec list/show`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coachiq.rvc.docs import REGENERATE_COMMAND, render_markdown, spec_list, spec_show
from coachiq.rvc.spec import SpecDatabase

DGNS_MD = Path(__file__).resolve().parents[2] / "docs" / "dgns.md"


def test_dgns_md_is_up_to_date(db: SpecDatabase) -> None:
    current = DGNS_MD.read_text() if DGNS_MD.exists() else ""
    assert render_markdown(db) == current, (
        f"docs/dgns.md is out of date with coachiq/rvc/dgns/*.yaml; regenerate it with `{REGENERATE_COMMAND}` "
        "(or `python -m coachiq.rvc.docs > docs/dgns.md`)"
    )


def test_render_markdown_sections(db: SpecDatabase) -> None:
    text = render_markdown(db)
    assert text.startswith("# RV-C DGN reference\n")
    assert "## 0x1FECA DM_RV\n" in text
    assert "| `fmi` | 4 | 0-4 | uint | 1 | 0 |  | 0 = above_normal, 1 = below_normal" in text
    assert "| `requested_dgn` | 0-2 | 24 bits | uint |" in text
    assert text.count("\n## ") == len(db)


def test_module_writes_markdown_to_stdout(db: SpecDatabase) -> None:
    result = subprocess.run([sys.executable, "-m", "coachiq.rvc.docs"], capture_output=True, text=True,
                            check=True, cwd=DGNS_MD.parents[1])
    assert result.stdout == render_markdown(db)


def test_spec_list(db: SpecDatabase) -> None:
    listing = spec_list(db)
    assert len(listing) == len(db)
    request = next(item for item in listing if item["name"] == "REQUEST")
    assert request["dgn"] == 0xEA00 and request["kind"] == "other" and request["family"] == "j1939"
    assert request["fields"][0]["name"] == "requested_dgn" and request["fields"][0]["width"] == 24
    json.dumps(listing)


def test_spec_show(db: SpecDatabase) -> None:
    shown = spec_show(db, 0x1FECA)
    assert shown == spec_show(db, "DM_RV")
    assert shown["name"] == "DM_RV" and shown["dgn_hex"] == "0x1FECA" and shown["length"] == 8
    assert shown["samples"][0]["payload"] == "11 40 00 01 45 83 FF F0"
    assert shown["fields"][7]["values"]["31"] == "not_available"
    json.dumps(shown)
    variable = spec_show(db, "PRODUCT_IDENTIFICATION")
    assert variable["length"] == "variable" and variable["max_length"] == 1785
    with pytest.raises(KeyError, match="unknown DGN 0x1ABCD"):
        spec_show(db, 0x1ABCD)
