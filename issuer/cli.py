"""The ``gatekey`` command (docs/reference.md, "The command"). Every flag is also an
environment variable ``GATEKEY_<FLAG>`` (``GATEKEY_MANIFESTS``, ``GATEKEY_PORT``, ...)."""

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import yaml

from gatekey.issuer import flags, logs
from gatekey.issuer.embedded.source import EmbeddedSource
from gatekey.issuer.embedded.state_dir import StateDir, StateDirError
from gatekey.issuer.proxies import parse_proxy
from gatekey.issuer.settings import BODY_TIMEOUT, HEADER_TIMEOUT, MAX_CONNECTIONS, IssuerSettings
from gatekey.issuer.throttle import ThrottleSettings
from gatekey.operator import contract
from gatekey.operator.model import AuthPolicy, Credential

DEFAULT_STATE_DIR = ".gatekey"

DESCRIPTION = """\
Gatekey: OAuth2/JWT tokens for API proxies. Every flag is also an environment
variable GATEKEY_<FLAG> (GATEKEY_MANIFESTS, GATEKEY_STATE_DIR, GATEKEY_PORT, ...).
Documentation: README.md and docs/ in the source tree (docs/reference.md lists
every flag)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gatekey`` command line."""
    args = _parser().parse_args(argv)
    logs.configure(getattr(args, "log_format", "text"))
    result: int = args.run(args)
    return result


def _env(flag: str, default: Any = None) -> Any:
    return os.environ.get("GATEKEY_" + flag.upper().replace("-", "_"), default)


def _env_flag(flag: str) -> bool:
    """A boolean flag's environment variable: 1, true, yes or on."""
    return str(_env(flag, "")).strip().lower() in ("1", "true", "yes", "on")


def _env_list(flag: str) -> list[str]:
    """A repeatable flag's environment variable: comma-separated values."""
    return [v.strip() for v in str(_env(flag, "")).split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatekey",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the issuer (folder of manifests, or --kube)")
    serve.add_argument(
        "--manifests",
        type=Path,
        default=_env("manifests"),
        help="folder of AuthPolicy, Credential, Role and Secret manifests",
    )
    serve.add_argument(
        "--state-dir",
        type=Path,
        default=_env("state-dir", DEFAULT_STATE_DIR),
        help="generated keys and the default token store (default .gatekey); one serve at a time",
    )
    serve.add_argument("--host", default=_env("host", "127.0.0.1"), help="default 127.0.0.1")
    serve.add_argument("--port", type=int, default=int(_env("port", 8080)), help="default 8080")
    serve.add_argument(
        "--store",
        default=_env("store"),
        help="sqlite:///path.db (default: tokens.db in the state dir)",
    )
    serve.add_argument(
        "--issuer-url",
        default=_env("issuer-url"),
        help="base of iss and metadata URLs (default http://HOST:PORT)",
    )
    serve.add_argument(
        "--trusted-proxies",
        default=_env("trusted-proxies", ""),
        help="comma-separated CIDRs whose X-Forwarded-Proto/-Host are believed",
    )
    serve.add_argument(
        "--proxy",
        action="append",
        default=_env_list("proxy"),
        help="[ApiProxy/][NAMESPACE/]NAME this issuer checks at /authz (repeatable); with one, "
        "it is the proxy when X-Gatekey-Proxy is absent (sidecar mode); a bare NAME is in the "
        "home namespace (the first --namespace)",
    )
    serve.add_argument(
        "--kube",
        action="store_true",
        default=_env_flag("kube"),
        help="cluster mode: watch the operator's Secrets and ConfigMaps",
    )
    serve.add_argument(
        "--namespace",
        action="append",
        default=_env_list("namespace"),
        help="cluster mode: namespace to watch (repeatable; default: own); the first is the "
        "home namespace of bare proxy names in both modes",
    )
    serve.add_argument(
        "--kubeconfig",
        default=_env("kubeconfig"),
        help="cluster mode outside a Pod: the kubeconfig to use",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(_env("workers", 1)),
        help="processes sharing the port and the store (SQLite on one machine, or Redis)",
    )
    limits = ThrottleSettings()
    serve.add_argument(
        "--slow-after",
        type=int,
        default=int(_env("slow-after", limits.slow_after)),
        help="failed authentications before answers slow down",
    )
    serve.add_argument(
        "--block-after",
        type=int,
        default=int(_env("block-after", limits.block_after)),
        help="failed authentications before 429 until the window ends",
    )
    serve.add_argument(
        "--failure-window",
        type=float,
        default=float(_env("failure-window", limits.window_seconds)),
        help="seconds over which failures are counted",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=float(_env("header-timeout", HEADER_TIMEOUT)),
        help=f"seconds to receive a request head; also the idle keep-alive time "
        f"(default {HEADER_TIMEOUT:g})",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=float(_env("body-timeout", BODY_TIMEOUT)),
        help=f"seconds to receive a request body, then 408 (default {BODY_TIMEOUT:g})",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=int(_env("max-connections", MAX_CONNECTIONS)),
        help=f"open connections per process; beyond, 503 and close (default {MAX_CONNECTIONS})",
    )
    serve.add_argument(
        "--omit-empty-scope",
        action="store_true",
        default=_env_flag("omit-empty-scope"),
        help='leave "scope" out of a token response that grants none (default: "scope": "")',
    )
    flags.add_token_management(serve, _env, _env_list, _env_flag)
    serve.add_argument(
        "--audit-log",
        default=_env("audit-log", "-"),
        help="file for the audit lines (default -, standard output)",
    )
    _log_format(serve)
    serve.set_defaults(run=_serve)

    operator = commands.add_parser("operator", help="run the kopf operator")
    scope = operator.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        action="append",
        default=_env_list("namespace"),
        help="namespace to reconcile (repeatable)",
    )
    scope.add_argument(
        "--all-namespaces",
        action="store_true",
        default=_env_flag("all-namespaces"),
        help="reconcile every namespace",
    )
    operator.add_argument(
        "--liveness",
        default=_env("liveness"),
        help="serve kopf's liveness probe here, e.g. http://0.0.0.0:8081/healthz",
    )
    operator.add_argument(
        "--kubeconfig",
        default=_env("kubeconfig"),
        help="outside a Pod: the kubeconfig to use (default $KUBECONFIG, ~/.kube/config)",
    )
    flags.add_operator_options(operator, _env, _env_list, _env_flag)
    flags.add_token_management(
        operator,
        _env,
        _env_list,
        _env_flag,
        title="the issuers' Token Management Settings (give the values the issuers get: a "
        "Credential Metadata key equal to a response field name is then refused)",
    )
    _log_format(operator)
    operator.set_defaults(run=_operator)

    render = commands.add_parser("render", help="print the objects the operator would write")
    render.add_argument("dir", type=Path)
    render.add_argument("--state-dir", type=Path, default=_env("state-dir", DEFAULT_STATE_DIR))
    render.set_defaults(run=_render)

    show = commands.add_parser("show-key", help='print a client id and secret ("Show Proxy Key")')
    show.add_argument(
        "target", help="ApiProxy/NAME, ProxyGroup/NAME, PolicyGroup/NAME or Credential/NAME"
    )
    show.add_argument("--manifests", type=Path, default=_env("manifests"))
    show.add_argument("--state-dir", type=Path, default=_env("state-dir", DEFAULT_STATE_DIR))
    show.add_argument(
        "--namespace",
        default=_env("namespace"),
        help="default: default (with --kube: the namespace of the credentials' context)",
    )
    show.add_argument(
        "--kube",
        action="store_true",
        default=_env_flag("kube"),
        help="read the Secret from the cluster, with the credentials of serve --kube",
    )
    show.add_argument(
        "--kubeconfig",
        default=_env("kubeconfig"),
        help="with --kube outside a Pod: the kubeconfig to use",
    )
    show.set_defaults(run=_show_key)

    rotate = commands.add_parser(
        "rotate-secret",
        help="rotate a generated client secret; the old one works until --keep has passed",
    )
    rotate.add_argument(
        "target", help="Credential/NAME, ApiProxy/NAME, ProxyGroup/NAME or PolicyGroup/NAME"
    )
    rotate.add_argument("--manifests", type=Path, default=_env("manifests"))
    rotate.add_argument("--state-dir", type=Path, default=_env("state-dir", DEFAULT_STATE_DIR))
    rotate.add_argument("--namespace", default=_env("namespace", "default"))
    rotate.add_argument(
        "--keep", default="24h", help="how long the previous secret still authenticates"
    )
    rotate.set_defaults(run=_rotate_secret)
    return parser


def _log_format(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default=_env("log-format", "json"),
        help="json (default; one object per line) or text (for a terminal)",
    )


def _serve(args: argparse.Namespace) -> int:
    from gatekey.issuer.serve import StartupError

    if args.manifests is None and not args.kube:
        sys.exit("gatekey serve: --manifests DIR (or GATEKEY_MANIFESTS), or --kube, is required")
    if args.manifests is not None and not args.kube and not args.manifests.is_dir():
        sys.exit(f"gatekey serve: --manifests {args.manifests} is not a folder")
    shared_store = str(args.store or "").startswith(("redis://", "rediss://"))
    with contextlib.ExitStack() as held:
        if not args.kube or args.store is None:
            # Before anything else: a second server on the same state dir stops here
            # (unless both share a Redis store, as replicas do).
            try:
                held.enter_context(StateDir(args.state_dir).claim(exclusive=not shared_store))
            except StateDirError as exc:
                sys.exit(f"gatekey serve: {exc}")
        try:
            return _run_serve(args)
        except StartupError as exc:
            sys.exit(f"gatekey serve: {exc}")


def _run_serve(args: argparse.Namespace) -> int:
    import uvloop

    from gatekey.issuer.serve import ServeOptions, configure_logs, serve, serve_workers

    url = args.issuer_url or f"http://{args.host}:{args.port}"
    try:
        token_management = flags.token_management(args)
    except flags.FlagError as exc:
        sys.exit(f"gatekey serve: {exc}")
    options = ServeOptions(
        manifests=args.manifests,
        state_dir=args.state_dir,
        host=args.host,
        port=args.port,
        store=args.store,
        workers=args.workers,
        throttle=ThrottleSettings(
            window_seconds=args.failure_window,
            slow_after=args.slow_after,
            block_after=args.block_after,
        ),
        kube=args.kube,
        namespaces=tuple(args.namespace),
        kubeconfig=args.kubeconfig,
        settings=IssuerSettings(
            issuer_url=url,
            trusted_proxies=tuple(
                ip_network(c.strip()) for c in args.trusted_proxies.split(",") if c.strip()
            ),
            proxies=tuple(args.proxy),
            home_namespace=args.namespace[0] if args.namespace else None,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            max_connections=args.max_connections,
            omit_empty_scope=args.omit_empty_scope,
            token_management=token_management,
        ),
        log_format=args.log_format,
        audit_log=args.audit_log,
    )
    for proxy in options.settings.proxies:
        if parse_proxy(proxy) is None:
            sys.exit(f"gatekey serve: --proxy {proxy!r} is not [ApiProxy/][NAMESPACE/]NAME")
    configure_logs(options)
    if options.workers > 1:
        return serve_workers(options)
    uvloop.run(serve(options))
    return 0


def _operator(args: argparse.Namespace) -> int:
    from gatekey.operator.kube.access import AccessError
    from gatekey.operator.kube.main import run

    if not args.namespace and not args.all_namespaces:
        sys.exit("gatekey operator: --namespace NS (repeatable) or --all-namespaces is required")
    try:
        options = flags.operator_options(args)
    except flags.FlagError as exc:
        sys.exit(f"gatekey operator: {exc}")
    try:
        run(
            list(args.namespace),
            args.all_namespaces,
            args.liveness,
            options=options,
            kubeconfig=args.kubeconfig,
        )
    except AccessError as exc:
        sys.exit(f"gatekey operator: no cluster credentials: {exc}")
    return 0


def _render(args: argparse.Namespace) -> int:
    source = EmbeddedSource(args.dir, StateDir(args.state_dir), IssuerSettings(), persist=False)
    build = source.build()
    yaml.safe_dump_all(list(build.objects), sys.stdout, sort_keys=False)
    return 1 if build.errors else 0


def _show_key(args: argparse.Namespace) -> int:
    kind, _, name = args.target.partition("/")
    if args.kube:
        return _show_kube_key(args, kind, name)
    if args.manifests is None:
        sys.exit("gatekey show-key: --manifests DIR (or GATEKEY_MANIFESTS), or --kube, is required")
    args.namespace = args.namespace or "default"
    source = EmbeddedSource(args.manifests, StateDir(args.state_dir), IssuerSettings())
    try:
        build = source.build()
    except OSError as exc:
        sys.exit(
            f"gatekey show-key: the state dir {args.state_dir} is not writable "
            f"({exc.strerror or exc}): choose another with --state-dir (GATEKEY_STATE_DIR)"
        )
    rendered = build.rendered.get(args.namespace)
    secret_name = None
    for resource in build.resources:
        if resource.metadata.namespace != args.namespace:
            continue
        if (
            kind == "Credential"
            and isinstance(resource, Credential)
            and resource.metadata.name == name
        ):
            secret_name = resource.secret_name
        elif (
            isinstance(resource, AuthPolicy)
            and resource.spec.management == "Policy"
            and resource.target.kind == kind
            and resource.target.name == name
        ):
            secret_name = resource.proxy_key_secret_name
    secret = rendered.by_name("Secret", secret_name) if rendered and secret_name else None
    if secret is None:
        print(
            f"gatekey show-key: no key for {args.target} in namespace {args.namespace}",
            file=sys.stderr,
        )
        return 1
    values = contract.secret_values(secret)
    print(
        json.dumps(
            {
                "client_id": values[contract.CLIENT_ID_KEY],
                "client_secret": values[contract.CLIENT_SECRET_KEY],
            }
        )
    )
    return 0


def _show_kube_key(args: argparse.Namespace, kind: str, name: str) -> int:
    import asyncio

    from gatekey.issuer.kube.keys import KeyNotFound, read_key
    from gatekey.operator.kube.access import AccessError, load

    try:
        access = load(args.kubeconfig)
    except AccessError as exc:
        sys.exit(f"gatekey show-key: no cluster credentials: {exc}")
    namespace = args.namespace or access.namespace
    try:
        key = asyncio.run(read_key(access, namespace, kind, name))
    except KeyNotFound as exc:
        print(f"gatekey show-key: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        sys.exit(f"gatekey show-key: cannot reach the API server {access.server}: {exc}")
    print(json.dumps({"client_id": key.client_id, "client_secret": key.client_secret}))
    return 0


def _rotate_secret(args: argparse.Namespace) -> int:
    """Print the new credentials as JSON, like ``show-key``; a refusal is one line."""
    from datetime import UTC, datetime

    from gatekey.issuer.embedded.rotate import RotationError, parse_keep, rotate_secret
    from gatekey.operator.entropy import SystemEntropy

    if args.manifests is None:
        sys.exit("gatekey rotate-secret: --manifests DIR (or GATEKEY_MANIFESTS) is required")
    source = EmbeddedSource(args.manifests, StateDir(args.state_dir), IssuerSettings())
    try:
        keep = parse_keep(args.keep)
        done = rotate_secret(
            source, args.namespace, args.target, keep, datetime.now(UTC), SystemEntropy()
        )
    except RotationError as error:
        print(f"gatekey rotate-secret: {error}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "client_id": done.client_id,
                "client_secret": done.client_secret,
                "previous_client_secret_expires_at": done.previous_expires_at,
            }
        )
    )
    return 0
