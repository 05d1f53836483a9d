"""Users, sessions, API tokens and pairing codes in the database.

Every function here takes an SQLAlchemy connection and runs inside the caller's transaction, so the
server (on the database manager's thread) and the command line share one implementation. Secrets are
never stored: session ids, tokens and pairing codes are SHA-256 digests of random values, passwords
Argon2id hashes (passwords.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from coachiq.core.access import SCOPE_ROLES, Role
from coachiq.db.models import api_tokens, pairing_codes, sessions, users

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
ROLES = {role.label: role for role in Role}
TOKEN_PREFIX = "ciq_"
# The password hash of a user made by pairing: no password verifies against it.
UNUSABLE_PASSWORD = "!paired"


class AccessError(ValueError):
    """A user, token or code operation that cannot be done; the message says why and what to do."""


def digest(secret: str) -> str:
    """The SHA-256 digest (hex) stored in place of a session id, token or pairing code."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_session_id() -> str:
    """A random session id (256 bits)."""
    return secrets.token_urlsafe(32)


def new_token() -> str:
    """A random API token (256 bits), prefixed so that it is recognisable in a secrets scanner."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_pairing_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(1_000_000):06d}"


def check_name(name: str, what: str = "name") -> str:
    """Return `name` if it is 1-64 letters, digits, `_ . @ -` (starting with a letter or digit)."""
    if not NAME_PATTERN.match(name):
        raise AccessError(f"{what} {name!r} is not allowed: use 1-64 letters, digits and _ . @ - "
                          "(starting with a letter or digit)")
    return name


def parse_role(text: str) -> Role:
    """The role named `text` (viewer, operator, admin)."""
    try:
        return ROLES[text]
    except KeyError:
        raise AccessError(f"unknown role {text!r}: use viewer, operator or admin") from None


def parse_scope(text: str) -> Role:
    """The role an API token scope stands for (read, control, admin)."""
    try:
        return SCOPE_ROLES[text]
    except KeyError:
        raise AccessError(f"unknown token scope {text!r}: use read, control or admin") from None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the server keeps it in memory."""

    id: int
    name: str
    role: Role
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live session (not revoked) and its user."""

    id: int
    id_hash: str
    user_id: int
    user_name: str
    role: Role
    expires_at: float  # POSIX seconds
    last_seen_at: float


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token (not revoked)."""

    id: int
    name: str
    scope: str
    token_hash: str
    created_at: datetime
    last_used_at: datetime | None

    @property
    def role(self) -> Role:
        """The role the token's scope stands for."""
        return SCOPE_ROLES[self.scope]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the server needs in memory to authenticate requests."""

    users: dict[str, UserRecord]
    sessions: dict[str, SessionRecord]
    tokens: dict[str, TokenRecord]


def _aware(value: datetime) -> datetime:
    # SQLite gives naive datetimes back; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# -- users ----------------------------------------------------------------------------------------

def add_user(connection: Connection, name: str, role: Role, password_hash: str, now: datetime) -> int:
    """Create a user; AccessError if the name is taken."""
    check_name(name, "user name")
    if connection.execute(select(users.c.id).where(users.c.name == name)).first() is not None:
        raise AccessError(f"a user named {name!r} exists already; choose another name or use `passwd`")
    result = connection.execute(insert(users).values(name=name, role=role.label, password_hash=password_hash,
                                                     created_at=now, password_changed_at=now))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def count_users(connection: Connection) -> int:
    """How many users exist."""
    return int(connection.execute(select(func.count()).select_from(users)).scalar_one())


def list_users(connection: Connection) -> list[UserRecord]:
    """Every user, by name."""
    rows = connection.execute(select(users).order_by(users.c.name)).all()
    return [UserRecord(r.id, r.name, ROLES[r.role], r.password_hash, _aware(r.created_at)) for r in rows]


def _user_id(connection: Connection, name: str) -> int:
    found = connection.execute(select(users.c.id).where(users.c.name == name)).scalar()
    if found is None:
        raise AccessError(f"no user named {name!r}; `coachiq user list` shows the users")
    return int(found)


def remove_user(connection: Connection, name: str) -> None:
    """Delete a user and their sessions; AccessError if unknown or the last admin."""
    user_id = _user_id(connection, name)
    role = connection.execute(select(users.c.role).where(users.c.id == user_id)).scalar_one()
    admins = connection.execute(select(func.count()).select_from(users).where(users.c.role == "admin")).scalar_one()
    if role == "admin" and admins == 1:
        raise AccessError(f"{name!r} is the only admin; add another admin first")
    connection.execute(delete(sessions).where(sessions.c.user_id == user_id))
    connection.execute(delete(users).where(users.c.id == user_id))


def set_password(connection: Connection, name: str, password_hash: str, now: datetime) -> int:
    """Replace a user's password hash and revoke their sessions; returns how many were revoked."""
    user_id = _user_id(connection, name)
    connection.execute(update(users).where(users.c.id == user_id)
                       .values(password_hash=password_hash, password_changed_at=now))
    return revoke_user_sessions(connection, user_id)


def update_password_hash(connection: Connection, user_id: int, password_hash: str) -> None:
    """Store a re-made hash of the same password (new parameters); sessions stay."""
    connection.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


# -- sessions -------------------------------------------------------------------------------------

def create_session(connection: Connection, id_hash: str, user_id: int, now: datetime, lifetime_s: float) -> int:
    """Record a new session of `user_id` that expires after `lifetime_s` seconds."""
    result = connection.execute(insert(sessions).values(id_hash=id_hash, user_id=user_id, created_at=now,
                                                        expires_at=now + timedelta(seconds=lifetime_s),
                                                        last_seen_at=now, revoked=False))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def revoke_session(connection: Connection, session_id: int) -> None:
    """Revoke one session."""
    connection.execute(update(sessions).where(sessions.c.id == session_id).values(revoked=True))


def revoke_user_sessions(connection: Connection, user_id: int) -> int:
    """Revoke every session of a user ("sign out everywhere"); returns how many were live."""
    result = connection.execute(update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked.is_(False))
                                .values(revoked=True))
    return int(result.rowcount)


def touch_sessions(connection: Connection, seen: dict[int, float]) -> None:
    """Write the last-seen times gathered in memory (one statement per session)."""
    for session_id, ts in seen.items():
        connection.execute(update(sessions).where(sessions.c.id == session_id)
                           .values(last_seen_at=datetime.fromtimestamp(ts, UTC)))


def purge_expired(connection: Connection, now: datetime) -> None:
    """Delete sessions expired or revoked more than a day ago, and pairing codes past their time."""
    cutoff = now - timedelta(days=1)
    connection.execute(delete(sessions).where(sessions.c.expires_at < cutoff))
    connection.execute(delete(pairing_codes).where(pairing_codes.c.expires_at < now))


# -- API tokens -----------------------------------------------------------------------------------

def create_token(connection: Connection, name: str, scope: str, token_hash: str, now: datetime) -> int:
    """Record a token by its hash."""
    check_name(name, "token name")
    parse_scope(scope)
    result = connection.execute(insert(api_tokens).values(name=name, scope=scope, token_hash=token_hash,
                                                          created_at=now, revoked=False))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def list_tokens(connection: Connection) -> list[TokenRecord]:
    """Every token that is not revoked, oldest first."""
    rows = connection.execute(select(api_tokens).where(api_tokens.c.revoked.is_(False)).order_by(api_tokens.c.id)).all()
    return [TokenRecord(r.id, r.name, r.scope, r.token_hash, _aware(r.created_at),
                        _aware(r.last_used_at) if r.last_used_at else None) for r in rows]


def revoke_token(connection: Connection, which: str) -> TokenRecord:
    """Revoke the token with id or name `which`; AccessError if none or several match."""
    live = list_tokens(connection)
    matches = [t for t in live if str(t.id) == which] or [t for t in live if t.name == which]
    if not matches:
        raise AccessError(f"no live token with id or name {which!r}; `coachiq token list` shows them")
    if len(matches) > 1:
        raise AccessError(f"{len(matches)} tokens are named {which!r}; revoke by id "
                          f"({', '.join(str(t.id) for t in matches)})")
    connection.execute(update(api_tokens).where(api_tokens.c.id == matches[0].id).values(revoked=True))
    return matches[0]


def touch_tokens(connection: Connection, used: dict[int, float]) -> None:
    """Write the last-used times gathered in memory."""
    for token_id, ts in used.items():
        connection.execute(update(api_tokens).where(api_tokens.c.id == token_id)
                           .values(last_used_at=datetime.fromtimestamp(ts, UTC)))


# -- pairing codes --------------------------------------------------------------------------------

def create_pairing_code(connection: Connection, code_hash: str, role: Role, created_by: str,
                        expires_at: datetime) -> None:
    """Record a one-time pairing code by its hash."""
    connection.execute(insert(pairing_codes).values(code_hash=code_hash, role=role.label, created_by=created_by,
                                                    expires_at=expires_at, used=False))


def consume_pairing_code(connection: Connection, code_hash: str, now: datetime) -> tuple[Role, str] | None:
    """Mark a live code used and return (its role, who made it); None when unknown, used or expired."""
    row = connection.execute(select(pairing_codes.c.id, pairing_codes.c.role, pairing_codes.c.created_by)
                             .where(pairing_codes.c.code_hash == code_hash, pairing_codes.c.used.is_(False),
                                    pairing_codes.c.expires_at > now)).first()
    if row is None:
        return None
    connection.execute(update(pairing_codes).where(pairing_codes.c.id == row.id).values(used=True))
    return ROLES[row.role], str(row.created_by)


# -- what the server keeps in memory --------------------------------------------------------------

def load_snapshot(connection: Connection, now: datetime) -> Snapshot:
    """Users, live sessions (with their user's role) and live tokens."""
    user_list = list_users(connection)
    by_id = {u.id: u for u in user_list}
    rows = connection.execute(select(sessions).where(sessions.c.revoked.is_(False), sessions.c.expires_at > now)).all()
    live_sessions = {}
    for r in rows:
        user = by_id.get(r.user_id)
        if user is not None:
            live_sessions[r.id_hash] = SessionRecord(r.id, r.id_hash, user.id, user.name, user.role,
                                                     _aware(r.expires_at).timestamp(),
                                                     _aware(r.last_seen_at).timestamp())
    return Snapshot({u.name: u for u in user_list}, live_sessions, {t.token_hash: t for t in list_tokens(connection)})
