"""Load the DGN database: read the YAML files of coachiq/rvc/dgns/, validate them, index them.

The server keeps the parsed files in its data folder (cache/dgn-database-*.marshal), so a normal start
skips the YAML parsing; the documents are validated on every start all the same. Samples and DGN notes
are not kept in the server's memory (the docs command and the tests read them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import marshal
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from coachiq.rvc import spec_yaml
from coachiq.rvc.spec import DgnSpec, FieldSpec, SpecDatabase
from coachiq.rvc.spec_validate import check_database, validate_document
from coachiq.rvc.spec_yaml import parse_spec_document

log = logging.getLogger(__name__)

__all__ = ["database_from_documents", "default_spec_directory", "load_cached_database", "load_database"]

_CACHE_PREFIX = "dgn-database-"


def default_spec_directory() -> Path:
    """The folder of DGN database files shipped inside the package."""
    return Path(__file__).resolve().parent / "dgns"


def load_database(directory: Path | None = None, *, keep_samples_and_notes: bool = True) -> SpecDatabase:
    """Load and validate every *.yaml file in `directory` (default: the package's DGN folder).

    keep_samples_and_notes=False: samples, notes and the other text that only documents a DGN are
    validated but not kept: DgnSpec.samples is empty, DgnSpec.description "", DgnSpec.notes, source,
    broadcast, frames and ack and FieldSpec.notes None. A server that only decodes and encodes reads
    none of them; `coachiq spec`, the docs and the checks load the full database.
    """
    folder = directory if directory is not None else default_spec_directory()
    return database_from_documents(((path.name, parse_spec_document(path.read_bytes(), path.name))
                                    for path in sorted(folder.glob("*.yaml"))),
                                   keep_samples_and_notes=keep_samples_and_notes)


def database_from_documents(documents: Iterable[tuple[str, Any]], *,
                            keep_samples_and_notes: bool = True) -> SpecDatabase:
    """Validate already parsed files: (file name, what parse_spec_document returned) pairs.

    The same checks and options as load_database(); lets a caller that keeps parsed documents skip
    the YAML parsing. Each document is dropped once validated, so an iterator that parses one file at
    a time keeps only one file's document in memory.
    """
    dgns: list[DgnSpec] = []
    shared = None if keep_samples_and_notes else _Shared()
    for file, document in documents:
        parsed = validate_document(file, document)
        if shared is not None:
            # Samples and the documenting text are a good part of the database's memory; only the
            # docs, the checks and the tests read them. Dropped file by file, so that the whole
            # database never stands in memory with them.
            parsed = [shared.without_documentation(spec) for spec in parsed]
        dgns.extend(parsed)
    check_database(dgns)
    return SpecDatabase(dgns)


class _Shared:
    """Equal fields and enumerations of a run-time database as one object each.

    Of some 2300 fields about half repeat another DGN's field exactly (an instance byte, the usual
    on/off and fault enumerations), and only a quarter of the thousand enumerations differ. Both are
    immutable, so sharing them changes nothing a reader sees.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[tuple[int, str], ...], Mapping[int, str]] = {}
        self._fields: dict[tuple[Any, ...], FieldSpec] = {}

    def field(self, field: FieldSpec) -> FieldSpec:
        """The one shared copy of a field equal to `field`, without its notes."""
        values = None
        if field.values is not None:
            values = self._values.setdefault(tuple(field.values.items()), field.values)
        key = (field.name, field.byte, field.bit, field.width, field.type, type(field.scale), field.scale,
               type(field.offset), field.offset, field.unit, None if values is None else id(values),
               field.special, type(field.min), field.min, type(field.max), field.max)
        shared = self._fields.get(key)
        if shared is None:
            shared = dataclasses.replace(field, values=values, notes=None)
            self._fields[key] = shared
        return shared

    def without_documentation(self, spec: DgnSpec) -> DgnSpec:
        """The spec with only what decoding and encoding read (see load_database)."""
        return dataclasses.replace(spec, samples=(), notes=None, description="", source=None, broadcast=None,
                                   frames=None, ack=None, fields=tuple(self.field(f) for f in spec.fields))


# --- the parsed files kept between starts ---------------------------------------------------------


def _cache_key(files: Iterable[tuple[str, bytes]]) -> str:
    # Parsed documents depend on the files' bytes, on the parser (spec_yaml.py) and on the marshal format.
    digest = hashlib.sha256(f"{sys.version_info[:2]} {marshal.version}".encode())
    digest.update(Path(spec_yaml.__file__ or "spec_yaml.py").read_bytes())
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


def load_cached_database(spec_directory: Path | None, cache_directory: Path | None) -> SpecDatabase:
    """Load the DGN database; with a cache folder, reuse the YAML parsed at an earlier start.

    Parsing the YAML is most of the database load (and of the rvc service's start); the cache holds
    the parsed documents, keyed by the files' bytes and the parser. They are still validated on every
    start, so the cache makes the load faster but never accepts what load() would refuse.
    """
    if cache_directory is None:
        return load_database(spec_directory, keep_samples_and_notes=False)
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
        return load_database(spec_directory, keep_samples_and_notes=False)
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

        return database_from_documents(unmarshal(), keep_samples_and_notes=False)
    entries = []
    parsed: list[tuple[str, bytes]] = []

    def parse() -> Iterator[tuple[str, Any]]:
        for path in paths:
            data = path.read_bytes()
            parsed.append((path.name, data))
            document = parse_spec_document(data, path.name)
            entries.append((path.name, marshal.dumps(document)))
            yield path.name, document

    database = database_from_documents(parse(), keep_samples_and_notes=False)  # only a valid one is cached
    if _cache_key(parsed) != key:  # a file changed between the two reads: keep no cache of a mix
        return database
    try:
        _write_cache(cache_directory, cache, entries)
    except (OSError, ValueError) as exc:
        log.warning("cannot write the DGN database cache %s (the next start parses again): %s", cache, exc)
    return database
