"""User passwords of an authentication pool: bcrypt (``$2a$``/``$2b$``/``$2y$``) or argon2id.

Verifying costs tens of milliseconds by design, so it runs in a worker thread.
Every check costs one hash of the pool's algorithm and cost, whatever the outcome:

* an unknown user is checked against a decoy hash made like one of the pool's hashes
  (same algorithm, same cost parameters), so timing does not reveal which user names
  exist;
* bcrypt reads at most 72 bytes: a longer password is refused (never truncated, which
  would let a prefix pass), after hashing its first 72 bytes, so that a long password
  costs what a short one does, for a known user and an unknown one alike.
"""

import asyncio
import functools

import bcrypt
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

BCRYPT_MAX_BYTES = 72
"""What bcrypt reads of a password; bcrypt 5 refuses more instead of truncating."""
_BCRYPT = ("$2a$", "$2b$", "$2y$")
_ARGON2ID = "$argon2id$"
_ARGON2 = PasswordHasher()
_DECOY_PASSWORD = "gatekey-decoy"
_DEFAULT_BCRYPT_COST = 10


def verify_hash(hashed: str | None, password: str, like: str | None = None) -> bool:
    """Whether ``password`` matches ``hashed``; False for an unknown user (``hashed`` None,
    checked against a decoy made like ``like``), an unknown hash format, or a password
    longer than bcrypt reads."""
    if hashed is None:
        _check(decoy(like), password)
        return False
    return _check(hashed, password)


def _check(hashed: str, password: str) -> bool:
    if hashed.startswith(_ARGON2ID):
        try:
            return _ARGON2.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False
    if hashed.startswith(_BCRYPT):
        secret = password.encode()
        try:
            matches = bcrypt.checkpw(secret[:BCRYPT_MAX_BYTES], hashed.encode())
        except ValueError:  # a malformed hash in the pool
            return False
        return matches and len(secret) <= BCRYPT_MAX_BYTES
    return False


@functools.lru_cache(maxsize=32)
def decoy(like: str | None) -> str:
    """A hash of a fixed password, with the algorithm and cost of ``like`` (a hash of the
    pool); bcrypt at the default cost when ``like`` is None or of no known format.
    Made once per cost parameters."""
    if like is not None and like.startswith(_ARGON2ID):
        try:
            parameters = extract_parameters(like)
        except InvalidHashError:
            pass
        else:
            return PasswordHasher.from_parameters(parameters).hash(_DECOY_PASSWORD)
    cost = _DEFAULT_BCRYPT_COST
    if like is not None and like.startswith(_BCRYPT) and like[4:6].isdigit():
        cost = min(max(int(like[4:6]), 4), 31)  # what bcrypt.gensalt accepts
    prefix = b"2a" if like is not None and like.startswith("$2a$") else b"2b"
    return bcrypt.hashpw(_DECOY_PASSWORD.encode(), bcrypt.gensalt(cost, prefix)).decode()


async def verify_password(hashed: str | None, password: str, like: str | None = None) -> bool:
    """:func:`verify_hash` off the event loop."""
    return await asyncio.to_thread(verify_hash, hashed, password, like)
