"""The ``gatekey`` command (DESIGN §5). Every flag is also an environment variable
``GATEKEY_<FLAG>`` (``GATEKEY_MANIFESTS``, ``GATEKEY_STATE_DIR``, ``GATEKEY_PORT``, ...)."""

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import yaml

from gatekey.issuer import audit
from gatekey.issuer.embedded.source import EmbeddedSource
from gatekey.issuer.embedded.state_dir import StateDir
from gatekey.issuer.proxies import parse_proxy
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.throttle import ThrottleSettings
from gatekey.operator import contract
from gatekey.operator.model import AuthPolicy, Credential

DEFAULT_STATE_DIR = ".gatekey"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gatekey`` command line."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
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
    parser = argparse.ArgumentParser(prog="gatekey", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the issuer (folder of manifests, or --kube)")
    serve.add_argument(
        "--manifests",
        type=Path,
        default=_env("manifests"),
        help="folder of AuthPolicy, Credential, Role and Secret manifests",
    )
    serve.add_argument("--state-dir", type=Path, default=_env("state-dir", DEFAULT_STATE_DIR))
    serve.add_argument("--host", default=_env("host", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(_env("port", 8080)))
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
        help="processes sharing the port (needs --store redis://...)",
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
    show.add_argument("--namespace", default=_env("namespace", "default"))
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


def _serve(args: argparse.Namespace) -> int:
    import uvloop

    from gatekey.issuer.serve import ServeOptions, serve, serve_workers

    if args.manifests is None and not args.kube:
        sys.exit("gatekey serve: --manifests DIR (or GATEKEY_MANIFESTS), or --kube, is required")
    audit.configure()
    url = args.issuer_url or f"http://{args.host}:{args.port}"
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
        ),
    )
    for proxy in options.settings.proxies:
        if parse_proxy(proxy) is None:
            sys.exit(f"gatekey serve: --proxy {proxy!r} is not [ApiProxy/][NAMESPACE/]NAME")
    if options.workers > 1:
        return serve_workers(options)
    uvloop.run(serve(options))
    return 0


def _operator(args: argparse.Namespace) -> int:
    from gatekey.operator.kube.main import run

    if not args.namespace and not args.all_namespaces:
        sys.exit("gatekey operator: --namespace NS (repeatable) or --all-namespaces is required")
    run(list(args.namespace), args.all_namespaces, args.liveness)
    return 0


def _render(args: argparse.Namespace) -> int:
    source = EmbeddedSource(args.dir, StateDir(args.state_dir), IssuerSettings(), persist=False)
    build = source.build()
    yaml.safe_dump_all(list(build.objects), sys.stdout, sort_keys=False)
    return 1 if build.errors else 0


def _show_key(args: argparse.Namespace) -> int:
    if args.manifests is None:
        sys.exit("gatekey show-key: --manifests DIR (or GATEKEY_MANIFESTS) is required")
    kind, _, name = args.target.partition("/")
    source = EmbeddedSource(args.manifests, StateDir(args.state_dir), IssuerSettings())
    build = source.build()
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
