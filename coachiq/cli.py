"""The `coachiq` command line. Each command imports what it needs, so every command starts quickly."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coachiq import __version__
from coachiq.core.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _error(message: str) -> None:
    print(f"coachiq: {message}", file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from coachiq.settings import load_settings

    return load_settings(getattr(args, "config", None), **overrides)


def _without_pydantic_v1() -> None:
    """Keep pydantic's bundled v1 package out of the process.

    Every model here is a pydantic v2 model. FastAPI asks of each route's types whether they are v1
    models, and asking imports `pydantic.v1`: 1.7 MiB of resident memory that nothing uses. With the
    module marked absent, FastAPI's question answers "no" at once. If a dependency ever does need v1,
    its import fails loudly instead of silently costing memory.
    """
    if "pydantic.v1" not in sys.modules:
        sys.modules["pydantic.v1"] = None  # type: ignore[assignment]


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the server."""
    _without_pydantic_v1()
    # The imports and the start allocate a few hundred thousand objects that live as long as the
    # process; the cyclic collector would walk them again and again (a quarter of a second of start-up).
    # serve() freezes them and re-enables the collector once started (server.settle_memory).
    # The argument parser just used is garbage held in reference cycles: collected now (a few
    # milliseconds, little else is alive yet), its memory serves the start-up instead of staying frozen.
    gc.collect()
    gc.disable()
    try:
        return _serve(args)
    finally:
        gc.enable()  # a no-op after a normal run; it matters when serve runs inside a test's process


def _serve(args: argparse.Namespace) -> int:
    from coachiq.features.manager import load_feature_config
    from coachiq.server import configure_logging, serve

    settings = _settings(args, host=args.host, port=args.port,
                         allow_unauthenticated_network=args.allow_unauthenticated_network or None,
                         tls_cert=args.tls_cert, tls_key=args.tls_key)
    features = load_feature_config()
    authentication = next((f for f in features if f.name == "authentication"), None)
    authenticated = authentication is not None and authentication.enabled
    if settings.listens_beyond_loopback and not authenticated and not settings.allow_unauthenticated_network:
        _error(f"refusing to listen on {settings.host} while authentication is not enabled: anyone on that "
               "network could move slides and jacks — listen on 127.0.0.1, or pass "
               "--allow-unauthenticated-network if the network is trusted")
        return EXIT_CONFIG
    if args.replay is not None and not args.replay.is_file():
        _error(f"--replay {args.replay}: no such file; give a candump -L log (or .asc/.blf)")
        return EXIT_CONFIG
    if args.speed < 0:
        _error(f"--speed {args.speed}: use 0 (as fast as possible) or a positive factor")
        return EXIT_CONFIG
    configure_logging(settings)
    return asyncio.run(serve(settings, features, replay=args.replay, replay_speed=args.speed))


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate settings and feature flags; print every problem."""
    from coachiq.entities.mapping import load_coach
    from coachiq.features.manager import load_feature_config
    from coachiq.settings import load_settings

    problems: list[str] = []
    loaded: list[Any] = []
    for load in (lambda: loaded.append(load_settings(args.config)), load_feature_config):
        try:
            load()
        except ConfigError as exc:
            problems.extend(f"{exc.source}: {p}" if exc.source not in p else p for p in exc.problems)
    if loaded:  # the coach mapping (and the user's coach_file) are configuration too
        try:
            load_coach(loaded[0].coach, loaded[0].coach_file)
        except ConfigError as exc:
            problems.extend(f"{exc.source}: {p}" if exc.source not in p else p for p in exc.problems)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_FAILED
    print("configuration OK")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    """Database maintenance: upgrade, current, backup."""
    from coachiq.core.service import ServiceStartError
    from coachiq.db.manager import DatabaseManager, DatabaseRefused, backup_sqlite, inspect_sqlite_file

    settings = _settings(args)
    manager = DatabaseManager(settings.effective_database_url, settings.data_dir)
    if args.db_command == "current":
        if manager.path is None:
            _error("`db current` reads SQLite files; for other databases use alembic directly")
            return EXIT_FAILED
        try:
            found = inspect_sqlite_file(manager.path)
        except DatabaseRefused as exc:
            _error(str(exc))
            return EXIT_FAILED
        state = "up to date" if found == manager.revisions.head else f"head is {manager.revisions.head}"
        print(f"{manager.path}: revision {found or 'none (no schema yet)'} ({state})")
        return EXIT_OK
    if args.db_command == "backup":
        if manager.path is None or not manager.path.exists():
            _error(f"no SQLite database at {manager.path}; nothing to back up")
            return EXIT_FAILED
        target = Path(args.path)
        if target.exists():
            _error(f"{target} exists; choose a new file name")
            return EXIT_FAILED
        backup_sqlite(manager.path, target)
        print(f"backed up {manager.path} to {target}")
        return EXIT_OK

    async def upgrade() -> str | None:
        await manager.start()
        await manager.stop()
        return manager.revision

    try:
        revision = asyncio.run(upgrade())
    except ServiceStartError as exc:
        _error(str(exc))
        return EXIT_FAILED
    backup = f" (previous version backed up to {manager.last_backup})" if manager.last_backup else ""
    print(f"database at revision {revision}{backup}")
    return EXIT_OK


def _load_codec() -> Any:
    from coachiq.rvc.codec import Codec
    from coachiq.rvc.spec_load import load_database

    return Codec(load_database())


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode a CAN log: one JSON line per frame on stdout, bad lines on stderr."""
    from coachiq.rvc.logs import decode_log

    path: Path = args.file
    if not path.is_file():
        _error(f"{path}: no such file")
        return EXIT_FAILED
    try:
        _frames, bad = decode_log(path, _load_codec(), sys.stdout, sys.stderr)
    except BrokenPipeError:  # `coachiq decode x.log | head` is normal use
        return EXIT_OK
    if bad:
        _error(f"{bad} line(s) of {path} could not be read (listed above)")
    return EXIT_OK


def _dgn_candidates(text: str) -> list[int | str]:
    """What a typed DGN may mean, most likely first: 0x-hex, hex, decimal, then a name."""
    cleaned = text.strip()
    candidates: list[int | str] = []
    if cleaned.lower().startswith("0x"):
        with contextlib.suppress(ValueError):
            candidates.append(int(cleaned, 16))
        return candidates
    # RV-C writes DGNs in hex (1FEDA), so hex wins over decimal when both read as a number.
    with contextlib.suppress(ValueError):
        candidates.append(int(cleaned, 16))
    if cleaned.isdigit():
        candidates.append(int(cleaned))
    candidates.append(cleaned.upper())
    return candidates


def cmd_spec(args: argparse.Namespace) -> int:
    """Browse the DGN database: list, show one DGN, print the reference as Markdown, or check it."""
    from coachiq.rvc import docs
    from coachiq.rvc.spec_load import load_database

    db = load_database()
    if args.spec_command == "list":
        entries = docs.spec_list(db)
        if args.json:
            print(json.dumps(entries, indent=2))
            return EXIT_OK
        for entry in entries:
            print(f"{entry['dgn_hex']}  {entry['name']:<36} {entry['kind']:<8} {entry['family']}")
        print(f"{len(entries)} DGNs")
        return EXIT_OK
    if args.spec_command == "show":
        for candidate in _dgn_candidates(args.dgn):
            with contextlib.suppress(KeyError):
                print(json.dumps(docs.spec_show(db, candidate), indent=2))
                return EXIT_OK
        _error(f"unknown DGN {args.dgn}: `coachiq spec list` shows the known ones")
        return EXIT_FAILED
    if args.spec_command == "check":
        from coachiq.rvc.speccheck import check_database, render_report

        report = check_database(db)
        print(json.dumps(report.to_json(), indent=2) if args.json else render_report(report), end="\n" if
              args.json else "")
        return EXIT_OK if report.ok else EXIT_FAILED
    print(docs.render_markdown(db), end="")
    return EXIT_OK


def cmd_unmapped(args: argparse.Namespace) -> int:
    """List RV-C traffic the coach mapping does not describe, with suggested mapping entries."""
    from coachiq.entities.mapping import load_coach

    if args.log is not None:
        from coachiq.can.logs import read_log
        from coachiq.entities.unmapped import unmapped_in_log

        if not args.log.is_file():
            _error(f"--log {args.log}: no such file; give a candump -L log (or .asc/.blf)")
            return EXIT_FAILED
        settings = _settings(args)
        mapping = load_coach(args.coach or settings.coach, settings.coach_file)
        rows = unmapped_in_log(read_log(args.log), mapping, _load_codec())
    else:
        import httpx

        url = args.url or f"http://127.0.0.1:{_settings(args).port}"
        try:
            response = httpx.get(url.rstrip("/") + "/api/v2/entities/unmapped", timeout=10)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            _error(f"cannot ask the server at {url}: {exc}; is `coachiq serve` running? (or use --log FILE)")
            return EXIT_FAILED
        body = response.json()
        rows = body.get("unmapped", []) if isinstance(body, dict) else body
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no unmapped traffic: every source seen is in the coach mapping")
        return EXIT_OK
    print(f"{'DGN':<28} {'inst':>4} {'src':>4} {'count':>7}  suggested id")
    for item in rows:
        name = item["name"] or f"0x{item['dgn']:05X} (unknown)"
        instance = "-" if item["instance"] is None else item["instance"]
        suggested = item["suggested"]["id"] if item["suggested"] else "-"
        print(f"{name:<28} {instance!s:>4} {item['source_address']:>4} {item['count']:>7}  {suggested}")
    entries = [item["suggested"] for item in rows if item["suggested"]]
    if entries:
        import yaml

        print("\n# Suggested entries for your coach_file (docs/coach-mapping.md); rename, set areas, check:")
        print(yaml.safe_dump({"entities": entries}, sort_keys=False), end="")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    """Print the benchmark figures as one JSON object."""
    from coachiq.bench import run_benchmarks

    figures = run_benchmarks(args)
    print(json.dumps(figures, indent=2))
    return EXIT_OK


def cmd_user(args: argparse.Namespace) -> int:
    """Manage users (the authentication feature's accounts)."""
    from coachiq.features.authentication.cli import cmd_user as run

    return run(args, _settings(args))


def cmd_token(args: argparse.Namespace) -> int:
    """Manage API tokens."""
    from coachiq.features.authentication.cli import cmd_token as run

    return run(args, _settings(args))


def _add_access_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                        with_config: Callable[[argparse.ArgumentParser], None]) -> tuple[argparse.ArgumentParser, ...]:
    """Add `user` and `token` (coachiq/features/authentication/cli.py) to the command line.

    Defined here so that building the command line, for `serve` too, does not import the
    authentication feature.
    """
    user = commands.add_parser("user", help="manage the people who may sign in (authentication feature)")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add a user; asks for the password twice")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    add.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    with_config(add)
    with_config(user_commands.add_parser("list", help="list the users and their roles"))
    remove = user_commands.add_parser("remove", help="remove a user and sign them out everywhere")
    remove.add_argument("name")
    with_config(remove)
    passwd = user_commands.add_parser("passwd", help="set a user's password and sign them out everywhere")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    with_config(passwd)

    token = commands.add_parser("token", help="manage API tokens for Home Assistant and scripts")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="create a token; printed once, alone on the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, choices=["read", "control", "admin"])
    with_config(create)
    with_config(token_commands.add_parser("list", help="list the live tokens (never the tokens themselves)"))
    revoke = token_commands.add_parser("revoke", help="revoke a token by id or name")
    revoke.add_argument("which", metavar="ID_OR_NAME")
    with_config(revoke)
    return user, token


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="coachiq", description="CoachIQ: control server for RVs on RV-C.")
    parser.add_argument("--version", action="version", version=f"coachiq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, default=None, help="YAML settings file (or COACHIQ_CONFIG)")

    serve = commands.add_parser("serve", help="start the server (simulated coach when no CAN is configured)")
    with_config(serve)
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    serve.add_argument("--allow-unauthenticated-network", action="store_true",
                       help="allow listening beyond loopback while authentication is off")
    serve.add_argument("--tls-cert", type=Path, default=None, metavar="PEM",
                       help="serve HTTPS with this certificate (chain); needs --tls-key")
    serve.add_argument("--tls-key", type=Path, default=None, metavar="PEM", help="private key of --tls-cert")
    serve.add_argument("--replay", type=Path, default=None, metavar="FILE",
                       help="feed a CAN log through the receive path as if it came from the bus")
    serve.add_argument("--speed", type=float, default=1.0, metavar="N",
                       help="replay speed: 1 real time, 10 ten times faster, 0 as fast as possible")
    serve.set_defaults(func=cmd_serve)

    decode = commands.add_parser("decode", help="decode a CAN log (candump -L, .asc, .blf) to JSON lines")
    decode.add_argument("file", type=Path, help="the log file")
    decode.set_defaults(func=cmd_decode)

    spec = commands.add_parser("spec", help="browse the RV-C DGN database")
    spec_commands = spec.add_subparsers(dest="spec_command", required=True, metavar="ACTION")
    spec_list = spec_commands.add_parser("list", help="list every DGN")
    spec_list.add_argument("--json", action="store_true", help="JSON instead of a table")
    spec_show = spec_commands.add_parser("show", help="show one DGN: hex (1FEDA, 0x1FEDA), decimal or name")
    spec_show.add_argument("dgn")
    spec_commands.add_parser("docs", help="print the DGN reference (docs/dgns.md) as Markdown")
    spec_check = spec_commands.add_parser(
        "check", help="compare the database with the RV-C document's DGNs: what is missing and why, and "
        "DGNs without a source (exit status 1 when something is unexplained)")
    spec_check.add_argument("--json", action="store_true", help="JSON instead of text")
    spec.set_defaults(func=cmd_spec)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    with_config(db_commands.add_parser("upgrade", help="create or upgrade the database to the newest schema"))
    with_config(db_commands.add_parser("current", help="print the database's schema revision"))
    backup = db_commands.add_parser("backup", help="write a consistent copy of the database")
    backup.add_argument("path", help="file to write")
    with_config(backup)
    db.set_defaults(func=cmd_db)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    with_config(config_commands.add_parser("check", help="validate settings and feature flags, print every problem"))
    config.set_defaults(func=cmd_config_check)

    unmapped = commands.add_parser("unmapped", help="list RV-C traffic the coach mapping does not describe")
    with_config(unmapped)
    unmapped.add_argument("--url", default=None,
                          help="a running server to ask (default http://127.0.0.1:<port from the settings>)")
    unmapped.add_argument("--log", type=Path, default=None, metavar="FILE",
                          help="analyse a CAN log offline instead of asking a server")
    unmapped.add_argument("--coach", default=None, help="with --log: the coach mapping to compare with")
    unmapped.add_argument("--json", action="store_true", help="JSON instead of a table")
    unmapped.set_defaults(func=cmd_unmapped)

    user, token = _add_access_parsers(commands, with_config)
    user.set_defaults(func=cmd_user)
    token.set_defaults(func=cmd_token)

    bench = commands.add_parser("bench", help="measure start-up time, memory and throughput")
    bench.add_argument("--unique", type=Path, default=None, help="candump log of unique frames (decoder)")
    bench.add_argument("--coach", type=Path, default=None, help="candump log of a coach at full bus load")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `coachiq` command."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            _error(f"{exc.source}: {problem}")
        _error("fix the problems above, then try again (`coachiq config check` lists them all)")
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_FAILED
    return status


if __name__ == "__main__":
    sys.exit(main())
