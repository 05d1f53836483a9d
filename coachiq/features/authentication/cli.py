"""`coachiq user ...` and `coachiq token ...`: manage access from the command line of the coach's computer.

They work on the database directly (creating or upgrading it when needed), whether or not the server
runs; a running server picks the changes up within its refresh interval (10 s by default). Each
change is written to the audit log with the actor `cli:<login name>`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.engine import Connection

from coachiq.core.service import ServiceStartError
from coachiq.db.manager import DatabaseManager
from coachiq.features.authentication import store
from coachiq.features.authentication.passwords import WeakPassword, check_password_rules, hash_password
from coachiq.persistence.store import PersistenceService
from coachiq.settings import Settings

T = TypeVar("T")
EXIT_OK, EXIT_FAILED = 0, 1


def _actor() -> str:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = str(os.getuid())
    return f"cli:{login}"


def _run(settings: Settings, work: Callable[[Connection], T],
         audit: Callable[[T], tuple[str, str, str, str]] | None = None) -> T:
    """Run `work` in one transaction, then write its audit entry (action, target, result, reason) if a change."""

    async def go() -> T:
        manager = DatabaseManager(settings.effective_database_url, settings.data_dir)
        await manager.start()
        try:
            result = await manager.run(work)
            if audit is not None:
                action, target, outcome, reason = audit(result)
                await PersistenceService(manager).audit(_actor(), action, target, outcome, reason)
            return result
        finally:
            await manager.stop()

    return asyncio.run(go())


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise store.AccessError("the two passwords differ; nothing was changed")
    check_password_rules(password)
    return password


def _error(message: str) -> int:
    print(f"coachiq: {message}", file=sys.stderr, flush=True)
    return EXIT_FAILED


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    """user add|list|remove|passwd."""
    now = datetime.now(UTC)
    try:
        if args.user_command == "add":
            role = store.parse_role(args.role)
            store.check_name(args.name, "user name")
            password_hash = hash_password(_read_password(args))
            _run(settings, lambda c: store.add_user(c, args.name, role, password_hash, now),
                 lambda _id: ("user.add", f"user:{args.name}", "done", f"role {role.label}"))
            print(f"user {args.name} added with the role {role.label}")
        elif args.user_command == "list":
            for user in _run(settings, store.list_users):
                print(f"{user.name:<24} {user.role.label:<9} created {user.created_at:%Y-%m-%d %H:%M} UTC")
        elif args.user_command == "remove":
            _run(settings, lambda c: store.remove_user(c, args.name),
                 lambda _r: ("user.remove", f"user:{args.name}", "done", "sessions revoked"))
            print(f"user {args.name} removed; their sessions are revoked")
        else:
            password_hash = hash_password(_read_password(args))
            revoked = _run(settings, lambda c: store.set_password(c, args.name, password_hash, now),
                           lambda n: ("user.passwd", f"user:{args.name}", "done", f"{n} sessions revoked"))
            print(f"password of {args.name} changed; {revoked} session(s) signed out")
    except (store.AccessError, WeakPassword) as exc:
        return _error(str(exc))
    except ServiceStartError as exc:
        return _error(str(exc))
    return EXIT_OK


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    """token create|list|revoke. `create` prints the token once, alone on the last line."""
    now = datetime.now(UTC)
    try:
        if args.token_command == "create":
            store.check_name(args.name, "token name")
            store.parse_scope(args.scope)
            token = store.new_token()
            token_id = _run(settings, lambda c: store.create_token(c, args.name, args.scope, store.digest(token), now),
                            lambda i: ("token.create", f"token:{args.name}", "done", f"id {i}, scope {args.scope}"))
            print(f"token {token_id} ({args.name}, scope {args.scope}) created. It is shown only now; "
                  "send it as `Authorization: Bearer <token>`:")
            print(token, flush=True)
        elif args.token_command == "list":
            for t in _run(settings, store.list_tokens):
                used = f"last used {t.last_used_at:%Y-%m-%d %H:%M} UTC" if t.last_used_at else "never used"
                print(f"{t.id:>4}  {t.name:<24} {t.scope:<8} created {t.created_at:%Y-%m-%d %H:%M} UTC, {used}")
        else:
            revoked = _run(settings, lambda c: store.revoke_token(c, args.which),
                           lambda t: ("token.revoke", f"token:{t.name}", "done", f"id {t.id}"))
            print(f"token {revoked.id} ({revoked.name}) revoked")
    except store.AccessError as exc:
        return _error(str(exc))
    except ServiceStartError as exc:
        return _error(str(exc))
    return EXIT_OK
