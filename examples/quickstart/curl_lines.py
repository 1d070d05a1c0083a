"""Print the curl lines to try against `make run` (generates the keys if needed).

    curl_lines.py [--state-dir DIR] [--host H] [--port P]   the lines, with the real keys
    curl_lines.py --placeholders                             the same with <placeholders>,
                                                             as the README shows them

Before printing, it checks that the port is free, so that a busy port is one line
with the hint, not a traceback after the examples.
"""

import argparse
import contextlib
import io
import json
import socket
import sys
from pathlib import Path

HERE = Path(__file__).parent
PROXY = "ApiProxy/orders"
CREDENTIAL = "Credential/billing-service"


def key(target: str, state_dir: str) -> dict[str, str]:
    """The client id and secret of ``target`` ("Show Proxy Key"), in this process."""
    from gatekey.issuer.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["show-key", "--manifests", str(HERE), "--state-dir", state_dir, target])
    if code != 0:
        sys.exit(f"curl_lines: no key for {target}")
    return dict(json.loads(out.getvalue()))


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# Shell snippet that reads one field of a JSON answer (no jq needed).
FIELD = "python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])'"


def lines(url: str, proxy: dict[str, str], cred: dict[str, str]) -> str:
    """Every example, for the issuer at ``url``."""
    pid, psecret = proxy["client_id"], proxy["client_secret"]
    cid, csecret = cred["client_id"], cred["client_secret"]
    return f"""\
# Manage From This Policy (the proxy key of ApiProxy/orders), JWT, client_credentials:
curl -s {url}/auth/jwt -d grant_type=client_credentials \\
  -d client_id={pid} -d client_secret={psecret}

# ... password grant, client_secret "-" (Apinizer's convention), with scope:
curl -s {url}/auth/jwt -d grant_type=password -d client_id={pid} \\
  -d client_secret=- -d username=alice -d password=wonderland -d scope=orders.read

# OAuth2 (opaque) token with the parameters in the URL: only GET, and only because
# this policy sets allowUrlParameters (a POST never reads the query string):
curl -s '{url}/auth/token?grant_type=client_credentials&client_id={pid}'\\
'&client_secret={psecret}'

# Manage From ACL: Credential billing-service, JWT (HTTP Basic) and OAuth2 (form):
curl -s {url}/credential/jwt -u '{cid}:{csecret}' \\
  -d grant_type=client_credentials -d scope=orders.read
curl -s {url}/credential/token -d grant_type=client_credentials \\
  -d client_id={cid} -d client_secret={csecret}

# Keep a token and its refresh token in shell variables for what follows:
ANSWER=$(curl -s {url}/auth/jwt -d grant_type=password -d client_id={pid} \\
  -d client_secret=- -d username=alice -d password=wonderland -d scope=orders.read)
TOKEN=$(echo "$ANSWER" | {FIELD} access_token)
REFRESH=$(echo "$ANSWER" | {FIELD} refresh_token)

# Refresh (rotates: the old refresh token dies; client_secret "-" on /auth/jwt):
curl -s {url}/auth/jwt -d grant_type=refresh_token -d client_id={pid} \\
  -d client_secret=- -d refresh_token="$REFRESH"

# Forward authentication, as nginx/Envoy/Traefik call it: 200 with X-Authenticated-*
# headers. Without X-Gatekey-Proxy (and no --proxy flag) the answer is a bare 403.
curl -si {url}/authz -H "Authorization: Bearer $TOKEN" -H 'X-Gatekey-Proxy: orders'

# Introspection (RFC 7662), by the client the token was issued to:
curl -s {url}/auth/introspect -u '{pid}:{psecret}' -d token="$TOKEN"

# Regenerate: a new JWT for a still-valid one (the old one is denied from then on):
curl -s {url}/auth/jwt/regenerate -H "Authorization: Bearer $TOKEN" \\
  -d client_id={pid} -d client_secret={psecret}

# Revocation (RFC 7009): always 200; the refresh token's whole chain dies:
curl -s {url}/auth/revoke -u '{pid}:{psecret}' -d token="$REFRESH"

# Metadata (RFC 8414; also at {url}/auth/.well-known/oauth-authorization-server)
# and the public keys it points to:
curl -s {url}/.well-known/oauth-authorization-server/auth
curl -s {url}/auth/.well-known/jwks.json
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", default=".gatekey")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--placeholders", action="store_true")
    args = parser.parse_args()
    url = f"http://{args.host}:{args.port}"
    if args.placeholders:
        proxy = {"client_id": "<proxy_client_id>", "client_secret": "<proxy_client_secret>"}
        cred = {"client_id": "<cred_client_id>", "client_secret": "<cred_client_secret>"}
        print(lines(url, proxy, cred), end="")
        return
    if not port_is_free(args.host, args.port):
        sys.exit(
            f"make run: {args.host}:{args.port} is already in use: stop what listens there, "
            f"or choose another port: make run PORT={args.port + 1}"
        )
    proxy, cred = key(PROXY, args.state_dir), key(CREDENTIAL, args.state_dir)
    print(f"\nGatekey quickstart on {url}. In another terminal, try:\n")
    print(lines(url, proxy, cred))


if __name__ == "__main__":
    main()
