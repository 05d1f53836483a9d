"""Password hashing with Argon2id (argon2-cffi), with parameters chosen for a Raspberry Pi 4.

Parameters: 3 passes over 32 MiB with 2 lanes. `coachiq bench` reports the cost as
`signin_verify_ms`: on the development machine 33 ms per verify when idle, and 80-210 ms (median
140-170 ms) while other jobs share its two cores. A Pi 4 core is about 4x slower, so an idle Pi takes
roughly 130 ms per sign-in. The 32 MiB are mapped for the verify and returned to the system after it
(32 MiB is above glibc's largest dynamic mmap threshold; a 19 MiB profile was measured to stay
resident), and verifies run one at a time, so a burst of sign-ins costs time, not memory.
The profile sits between RFC 9106's second recommended option (64 MiB, 3 passes) and the smallest
profile of the OWASP password-storage guidance (19 MiB, 2 passes). Hashes carry their parameters, so
hashes made with other parameters still verify and are re-hashed at the next sign-in.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

TIME_COST = 3
MEMORY_COST_KIB = 32 * 1024
PARALLELISM = 2
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256

@functools.cache
def _hasher() -> PasswordHasher:
    # argon2 (and cffi under it) is imported at the first hash or verify, not at start-up: a server
    # without the authentication feature, or before its first sign-in, does not carry it.
    from argon2 import PasswordHasher, Type

    return PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM,
                          hash_len=32, salt_len=16, type=Type.ID)


@functools.cache
def _dummy_hash() -> str:
    # Verified when the name is unknown, so that a wrong name costs as long as a wrong password.
    # Made on first need rather than at import, which would add a hash to every start-up.
    return _hasher().hash("no such user, no such password")



class WeakPassword(ValueError):
    """The password does not meet the minimum rules; the message says which."""


def check_password_rules(password: str) -> None:
    """Raise WeakPassword unless the password has 8 to 256 characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The Argon2id hash string of a password (salted; parameters included)."""
    check_password_rules(password)
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown user) a dummy is verified and False returned."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        ok = _hasher().verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's."""
    return _hasher().check_needs_rehash(password_hash)
