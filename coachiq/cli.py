"""The `coachiq` command line. Each command imports what it needs, so every command starts quickly."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
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


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the server."""
    from coachiq.features.manager import load_feature_config
    from coachiq.server import configure_logging, serve

    settings = _settings(args, host=args.host, port=args.port,
                         allow_unauthenticated_network=args.allow_unauthenticated_network or None)
    features = load_feature_config()
    authentication = next((f for f in features if f.name == "authentication"), None)
    authenticated = authentication is not None and authentication.enabled
    if settings.listens_beyond_loopback and not authenticated and not settings.allow_unauthenticated_network:
        _error(f"refusing to listen on {settings.host} while authentication is not enabled: anyone on that "
               "network could move slides and jacks — listen on 127.0.0.1, or pass "
               "--allow-unauthenticated-network if the network is trusted")
        return EXIT_CONFIG
    configure_logging(settings)
    return asyncio.run(serve(settings, features))


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate settings and feature flags; print every problem."""
    from coachiq.features.manager import load_feature_config
    from coachiq.settings import load_settings

    problems: list[str] = []
    for load in (lambda: load_settings(args.config), load_feature_config):
        try:
            load()
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


def cmd_bench(args: argparse.Namespace) -> int:
    """Print the benchmark figures as one JSON object."""
    from coachiq.bench import run_benchmarks

    figures = run_benchmarks(args)
    print(json.dumps(figures, indent=2))
    return EXIT_OK


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
    serve.set_defaults(func=cmd_serve)

    db = commands.add_parser("db", help="database maintenance")
    with_config(db)
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="create or upgrade the database to the newest schema")
    db_commands.add_parser("current", help="print the database's schema revision")
    backup = db_commands.add_parser("backup", help="write a consistent copy of the database")
    backup.add_argument("path", help="file to write")
    db.set_defaults(func=cmd_db)

    config = commands.add_parser("config", help="configuration tools")
    with_config(config)
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_commands.add_parser("check", help="validate settings and feature flags, print every problem")
    config.set_defaults(func=cmd_config_check)

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
