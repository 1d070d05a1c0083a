"""User passwords of an authentication pool: bcrypt (``$2a$``/``$2b$``/``$2y$``) or argon2id.

Verifying costs tens of milliseconds by design, so it runs in a worker thread.
An unknown user is checked against a dummy hash, so timing does not reveal
which user names exist.
"""

import asyncio

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_ARGON2 = PasswordHasher()
_DUMMY = bcrypt.hashpw(b"gatekey-dummy", bcrypt.gensalt(rounds=10))


def verify_hash(hashed: str | None, password: str) -> bool:
    """Whether ``password`` matches ``hashed``; False for an unknown user or hash format."""
    secret = password.encode()
    if hashed is None:
        bcrypt.checkpw(secret, _DUMMY)
        return False
    if hashed.startswith("$argon2id$"):
        try:
            return _ARGON2.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False
    if hashed.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            return bcrypt.checkpw(secret, hashed.encode())
        except ValueError:
            return False
    return False


async def verify_password(hashed: str | None, password: str) -> bool:
    """:func:`verify_hash` off the event loop."""
    return await asyncio.to_thread(verify_hash, hashed, password)
