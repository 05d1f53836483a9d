"""What the real server sends compressed: JSON answers and the page's files, each compressed once."""

from __future__ import annotations

import gzip
import json

import httpx

from tests.web.page.browser import Coach


def _raw(coach: Coach, path: str, encoding: str) -> httpx.Response:
    # Read without decoding, to see exactly what went over the wire.
    with httpx.Client(timeout=10) as client, client.stream(
            "GET", coach.url + path, headers={"Accept-Encoding": encoding}) as response:
        response.raw_body = b"".join(response.iter_raw())  # type: ignore[attr-defined]
        return response


def test_json_answers_are_gzipped_when_asked_and_plain_otherwise(coach: Coach) -> None:
    plain = _raw(coach, "/api/v2/entities", "identity")
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    packed = _raw(coach, "/api/v2/entities", "gzip")
    assert packed.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in packed.headers["vary"].lower()
    # The simulated coach keeps changing values between the two requests: compare what is listed.
    unpacked = json.loads(gzip.decompress(packed.raw_body))  # type: ignore[attr-defined]
    listed = json.loads(plain.raw_body)  # type: ignore[attr-defined]
    assert [e["id"] for e in unpacked["entities"]] == [e["id"] for e in listed["entities"]]
    assert len(packed.raw_body) < len(plain.raw_body) / 2  # type: ignore[attr-defined]


def test_page_files_are_compressed_once_and_served_without_comments(coach: Coach) -> None:
    packed = _raw(coach, "/power.js", "gzip")
    assert packed.headers["content-encoding"] == "gzip"
    text = gzip.decompress(packed.raw_body).decode()  # type: ignore[attr-defined]
    assert text.startswith("import ")  # not gzip inside gzip, and the file's header comment is gone
    assert "\n  " not in text.split("`")[0]
