"""The parsed-DGN-database cache: a hit gives the same database; a bad cache is parsed again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coachiq.rvc.spec import SpecDatabase, SpecError
from coachiq.rvc.spec_load import default_spec_directory, load_cached_database, load_database


def _summary(db: SpecDatabase) -> list[tuple[int, str, tuple[str, ...]]]:
    return [(spec.dgn, spec.name, tuple(f.name for f in spec.fields)) for spec in db]


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "spec"
    shutil.copytree(default_spec_directory(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_cache_hit_gives_the_same_database(spec_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_cached_database(spec_copy, cache)
    assert len(list(cache.iterdir())) == 1
    second = load_cached_database(spec_copy, cache)
    assert _summary(first) == _summary(second) == _summary(load_database(spec_copy))


def test_corrupt_cache_is_parsed_again(spec_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_cached_database(spec_copy, cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(b"\x00garbage")
    assert _summary(load_cached_database(spec_copy, cache)) == _summary(load_database(spec_copy))


def test_changed_file_misses_the_cache_and_invalid_yaml_is_still_refused(spec_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_cached_database(spec_copy, cache)
    target = spec_copy / "water.yaml"
    target.write_text(target.read_text() + "\n  - dgn: [not, a, number]\n")
    with pytest.raises(SpecError):
        load_cached_database(spec_copy, cache)
