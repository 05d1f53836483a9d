#!/usr/bin/env python3
"""Set up the checkout and run CoachIQ from it, with nothing but Python 3.11+ and git.

    python3 dev.py serve [coachiq serve options]   start the server (simulated coach without CAN hardware)
    python3 dev.py test [pytest options]           run the whole test suite
    python3 dev.py bench [coachiq bench options]   print the benchmark figures
    python3 dev.py coachiq ARGS...                 run any coachiq command

Each command first makes sure that `.venv` exists with the pinned dependencies installed and that
every module is compiled to bytecode. That set-up is skipped when nothing changed, so a second run
starts at once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
STAMP = VENV / ".coachiq-installed"


def _say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def _run(*args: str | os.PathLike[str]) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, check=False)
    if result.returncode != 0:
        _say(f"command failed ({result.returncode}): {' '.join(str(a) for a in args)}")
        sys.exit(result.returncode)


def _wanted(extras: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest} {extras}"


def ensure_environment(with_tests: bool) -> None:
    """Create `.venv`, install CoachIQ and its pinned dependencies, and compile bytecode."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py itself must run, and explain, on older Pythons
        _say(f"CoachIQ needs Python 3.11 or newer; this is {sys.version.split()[0]}")
        sys.exit(2)
    if not PYTHON.exists():
        _say(f"creating the virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    extras = "test" if with_tests else "run"
    installed = STAMP.read_text().split("\n") if STAMP.exists() else []
    if _wanted(extras) not in installed and _wanted("test") not in installed:
        _say("installing CoachIQ and its pinned dependencies")
        target = ".[test]" if with_tests else "."
        _run(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", target)
        STAMP.write_text(_wanted(extras) + "\n")
    # Start-up time depends on compiled bytecode, and some machines set PYTHONDONTWRITEBYTECODE,
    # so compile explicitly (quick when nothing changed).
    _run(PYTHON, "-m", "compileall", "-q", "-j", "0", "coachiq")


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    command, rest = argv[0], argv[1:]
    if command == "serve":
        ensure_environment(with_tests=False)
        os.execv(BIN / "coachiq", [str(BIN / "coachiq"), "serve", *rest])
    elif command == "test":
        ensure_environment(with_tests=True)
        # Most of the suite's time is spent waiting on real servers, browsers and brokers, not computing:
        # two workers overlap those waits (each test file stays on one worker). `-n 0` runs in one process.
        workers = [] if any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in rest) \
            else ["-n", "2", "--dist", "loadfile"]
        os.execv(PYTHON, [str(PYTHON), "-m", "pytest", *workers, *rest])
    elif command == "bench":
        ensure_environment(with_tests=True)  # the benchmarks drive the server with test clients
        os.execv(BIN / "coachiq", [str(BIN / "coachiq"), "bench", *rest])
    elif command == "coachiq":
        ensure_environment(with_tests=False)
        os.execv(BIN / "coachiq", [str(BIN / "coachiq"), *rest])
    else:
        _say(f"unknown command {command!r}; use serve, test, bench or coachiq")
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
