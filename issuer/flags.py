"""The flags of the issuer-wide Token Management Settings and of the operator's options.

Each flag has its environment variable (``GATEKEY_<FLAG>``, repeatable flags as a
comma-separated list) and its Helm value (docs/reference.md, "Issuer-wide settings" and
"Operator options"). A bad value, from either, is one line naming the flag.
"""

import argparse
import math
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, get_args

from pydantic import ValidationError

from gatekey.operator.kube.settings import OperatorOptions
from gatekey.operator.model import TokenManagement
from gatekey.operator.model.durations import DURATION_PATTERN, duration_seconds
from gatekey.operator.model.token_management import (
    ExpiresInUnit,
    OnMismatch,
    OptionalField,
    ResponseField,
    TokenManagementOverride,
    WhenNotRequested,
)
from gatekey.operator.render import RenderSettings

Env = Callable[..., Any]
"""``env(flag, default)``: the flag's environment variable, or ``default``."""
EnvList = Callable[[str], list[str]]
EnvFlag = Callable[[str], bool]


class FlagError(ValueError):
    """A flag's value is not usable; the message names the flag."""


# --- Token Management Settings (gatekey serve) --------------------------------------------


def add_token_management(
    parser: argparse.ArgumentParser,
    env: Env,
    env_list: EnvList,
    env_flag: EnvFlag,
    *,
    title: str = "Token Management Settings (issuer-wide; an AuthPolicy's tokenManagement "
    "overrides them)",
) -> None:
    """``--scope-*``, ``--response-*`` and ``--expires-in-unit``: the defaults every
    AuthPolicy starts from (its ``spec.tokenManagement`` overrides them field by field).
    The operator takes the same flags, with the issuers' values, so that its render
    refuses a Credential Metadata key that clashes with a renamed response field."""
    group = parser.add_argument_group(title)
    group.add_argument(
        "--scope-on-mismatch",
        metavar="|".join(get_args(OnMismatch)),
        default=env("scope-on-mismatch", "Strict"),
        help="a requested scope not all held: Strict = invalid_scope (default), Lenient = "
        "grant the intersection, Ignore = grant every held role",
    )
    group.add_argument(
        "--scope-when-not-requested",
        metavar="|".join(get_args(WhenNotRequested)),
        default=env("scope-when-not-requested", "None"),
        help="no scope requested: None = a token without scope (default), All = every held role",
    )
    group.add_argument(
        "--scope-reject-when-no-roles",
        action="store_true",
        default=env_flag("scope-reject-when-no-roles"),
        help="a principal holding no role gets invalid_scope (no effect with Ignore)",
    )
    group.add_argument(
        "--response-field-name",
        action="append",
        metavar="FIELD=NAME",
        default=env_list("response-field-name"),
        help="rename a token response field (repeatable), e.g. access_token=token; "
        f"FIELD is one of {', '.join(get_args(ResponseField))}",
    )
    group.add_argument(
        "--response-omit",
        action="append",
        metavar="FIELD",
        default=env_list("response-omit"),
        help="leave a field out of token responses (repeatable): "
        + ", ".join(get_args(OptionalField)),
    )
    group.add_argument(
        "--expires-in-unit",
        metavar="|".join(get_args(ExpiresInUnit)),
        default=env("expires-in-unit", "seconds"),
        help="unit of expires_in: seconds (RFC 6749, default) or milliseconds",
    )


def token_management(args: argparse.Namespace) -> TokenManagement:
    """The settings the flags describe, validated by the same model as a policy's
    ``tokenManagement``; plus: no two response fields may go by the same name."""
    names: dict[str, str] = {}
    for item in args.response_field_name:
        field, sep, name = str(item).partition("=")
        if not sep or not field.strip() or not name.strip():
            raise FlagError(f"--response-field-name {item!r}: expected FIELD=NAME")
        names[field.strip()] = name.strip()
    override = {
        "scope": {
            "onMismatch": args.scope_on_mismatch,
            "whenNotRequested": args.scope_when_not_requested,
            "rejectWhenNoRoles": bool(args.scope_reject_when_no_roles),
        },
        "response": {
            "fieldNames": names,
            "include": {str(field).strip(): False for field in args.response_omit},
            "expiresInUnit": args.expires_in_unit,
        },
    }
    try:
        parsed = TokenManagementOverride.model_validate(override)
    except ValidationError as exc:
        raise FlagError(_first_problem(exc, _TOKEN_FLAGS)) from None
    settings = TokenManagement().overridden(parsed)
    shown = [settings.response.name(field) for field in get_args(ResponseField)]
    doubled = sorted({name for name in shown if shown.count(name) > 1})
    if doubled:
        raise FlagError(
            f"--response-field-name: two token response fields would be named {doubled[0]!r}"
        )
    return settings


_TOKEN_FLAGS = {
    "onMismatch": "--scope-on-mismatch",
    "whenNotRequested": "--scope-when-not-requested",
    "rejectWhenNoRoles": "--scope-reject-when-no-roles",
    "fieldNames": "--response-field-name",
    "include": "--response-omit",
    "expiresInUnit": "--expires-in-unit",
}


def _first_problem(exc: ValidationError, flags: dict[str, str]) -> str:
    error = exc.errors()[0]
    location = [str(part) for part in error["loc"]]
    flag = next((flags[part] for part in location if part in flags), "a flag")
    return f"{flag} {error.get('input')!r}: {error['msg']}"


# --- operator options (gatekey operator) --------------------------------------------------


def add_operator_options(
    parser: argparse.ArgumentParser, env: Env, env_list: EnvList, env_flag: EnvFlag
) -> None:
    """The fields of :class:`~gatekey.operator.kube.settings.OperatorOptions`."""
    default = OperatorOptions()
    group = parser.add_argument_group("reconciliation (durations: 30s, 5m, 1h, 90d, or seconds)")
    group.add_argument(
        "--key-rotation",
        default=env("key-rotation", "90d"),
        help="how long a signing key signs before its successor takes over (default 90d)",
    )
    group.add_argument(
        "--key-prepublish",
        default=env("key-prepublish", "1h"),
        help="how long a new key is in the JWKS before it signs (default 1h)",
    )
    group.add_argument(
        "--resync-period",
        default=env("resync-period", "5m"),
        help="a pass over every namespace at least this often: keys rotate by the clock, "
        "drift is repaired (default 5m)",
    )
    group.add_argument(
        "--debounce",
        default=env("debounce", f"{default.debounce:g}"),
        help="seconds a namespace pass waits, so that a burst of changes is rendered once "
        f"(default {default.debounce:g})",
    )
    group.add_argument(
        "--failure-backoff",
        default=env("failure-backoff", ",".join(f"{s:g}" for s in default.failure_backoff)),
        help="delays before a pass that failed against the API server is tried again, "
        "comma-separated; the last one repeats (default "
        + ",".join(f"{s:g}" for s in default.failure_backoff)
        + ")",
    )
    group.add_argument(
        "--api-concurrency",
        default=env("api-concurrency", str(default.api_concurrency)),
        help=f"writes in flight at once (default {default.api_concurrency})",
    )
    group.add_argument(
        "--no-events",
        action="store_true",
        default=env_flag("no-events"),
        help="post no Kubernetes Events about the CRs (default: post them)",
    )


def operator_options(args: argparse.Namespace) -> OperatorOptions:
    """The options the flags describe; each must be positive."""
    rotation = _seconds("--key-rotation", args.key_rotation)
    prepublish = _seconds("--key-prepublish", args.key_prepublish)
    if prepublish >= rotation:
        raise FlagError(
            f"--key-prepublish {args.key_prepublish!r}: must be shorter than --key-rotation "
            f"{args.key_rotation!r} (a key is published, then signs for the rotation period)"
        )
    backoff = [
        _seconds("--failure-backoff", part)
        for part in str(args.failure_backoff).split(",")
        if part.strip()
    ]
    if not backoff:
        raise FlagError("--failure-backoff: at least one delay")
    try:
        concurrency = int(args.api_concurrency)
    except ValueError:
        concurrency = 0
    if concurrency < 1:
        raise FlagError(f"--api-concurrency {args.api_concurrency!r}: a whole number, 1 or more")
    return OperatorOptions(
        render=RenderSettings(
            key_rotation=timedelta(seconds=rotation),
            key_prepublish=timedelta(seconds=prepublish),
            token_management=token_management(args),
        ),
        debounce=_seconds("--debounce", args.debounce, zero=True),
        failure_backoff=tuple(backoff),
        resync_period=_seconds("--resync-period", args.resync_period),
        api_concurrency=concurrency,
        post_events=not args.no_events,
    )


def _seconds(flag: str, value: Any, *, zero: bool = False) -> float:
    """A duration (``30s``, ``1h30m``, ``90d``) or a number of seconds."""
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        if not re.fullmatch(DURATION_PATTERN, text):
            raise FlagError(
                f"{flag} {value!r}: expected a duration (30s, 5m, 1h, 90d) or seconds"
            ) from None
        seconds = float(duration_seconds(text))
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
        raise FlagError(f"{flag} {value!r}: must be {'0 or more' if zero else 'more than 0'}")
    return seconds
