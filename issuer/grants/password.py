"""The resource owner password credentials grant (RFC 6749 §4.3).

The principal is the user: roles held by the client do not apply. In ACL mode
the user is checked against the pools of the client's targets, and the
audience narrows to the targets whose pool knows the user.
"""

from gatekey.issuer.domain import Client, Grant, GrantContext
from gatekey.issuer.errors import InvalidGrant, InvalidRequest
from gatekey.issuer.grants.rules import GrantRules
from gatekey.issuer.scopes import parse_scope, resolve_scope
from gatekey.issuer.snapshot import PolicyView, UserPool


async def decide(client: Client, ctx: GrantContext) -> Grant:
    """A token for the user named by ``username`` once ``password`` checks out."""
    username = ctx.params.get("username")
    password = ctx.params.get("password")
    if not username or password is None:
        raise InvalidRequest("username and password are required")
    verified: dict[str, bool] = {}
    kept: list[PolicyView] = []
    pool_used: UserPool | None = None
    for policy in client.targets:
        pool = policy.pool
        if pool is None or username not in pool.users:
            continue
        if pool.name not in verified:
            verified[pool.name] = await ctx.verify_password(pool.users[username], password)
        if verified[pool.name]:
            kept.append(policy)
            pool_used = pool_used or pool
    if pool_used is None:
        if not verified:  # an unknown user costs what a known one does
            await ctx.verify_password(None, password, like=_sample_hash(client.targets))
        raise InvalidGrant("invalid username or password")
    narrowed = client.narrowed(tuple(kept))
    held = ctx.snapshot.user_scopes(client.policy.namespace, pool_used.name, username)
    scope = resolve_scope(
        parse_scope(ctx.params.get("scope")), held, narrowed.policy.settings.scope
    )
    return Grant(
        client=narrowed,
        grant_type=RULES.name,
        subject=username,
        username=username,
        scope=scope,
        audience=narrowed.audience,
    )


RULES = GrantRules(
    name="password",
    decide=decide,
    dash_secret_at=frozenset({"JWT", "OAuth2"}),
    user_param="username",
    wrong_password_counts=True,
)
"""The seed's ``-`` secret at both Policy-mode endpoints; the client's grant list must name
it; the user is audited, and a wrong password counts toward the throttle."""


def _sample_hash(targets: tuple[PolicyView, ...]) -> str | None:
    """A hash of the first pool that has users: the decoy for an unknown user is made
    like it (same algorithm and cost)."""
    for policy in targets:
        if policy.pool is not None:
            for hashed in policy.pool.users.values():
                return hashed
    return None
