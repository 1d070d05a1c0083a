"""Print the curl lines to try against `make run` (generates the keys if needed)."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def key(target: str, state_dir: str) -> dict[str, str]:
    out = subprocess.run(
        [
            Path(sys.executable).parent / "gatekey",
            "show-key",
            "--manifests",
            str(HERE),
            "--state-dir",
            state_dir,
            target,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", default=".gatekey")
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    args = parser.parse_args()
    proxy = key("ApiProxy/orders", args.state_dir)
    cred = key("Credential/billing-service", args.state_dir)
    url = args.url
    print(f"""
Gatekey quickstart on {url}. In another terminal, try:

# Manage From This Policy (the proxy key of ApiProxy/orders), JWT, client_credentials:
curl -s {url}/auth/jwt -d grant_type=client_credentials \\
  -d client_id={proxy["client_id"]} -d client_secret={proxy["client_secret"]}

# ... password grant, client_secret "-" as the seed says, with scope:
curl -s {url}/auth/jwt -d grant_type=password -d client_id={proxy["client_id"]} \\
  -d client_secret=- -d username=alice -d password=wonderland -d 'scope=orders.read'

# OAuth2 (opaque) token, with the parameters in the URL (Allow URL Parameters):
curl -s '{url}/auth/token?grant_type=client_credentials&client_id={proxy["client_id"]}'\\
'&client_secret={proxy["client_secret"]}'

# Manage From ACL: Credential billing-service, JWT and OAuth2:
curl -s {url}/credential/jwt -u '{cred["client_id"]}:{cred["client_secret"]}' \\
  -d grant_type=client_credentials -d scope=orders.read
curl -s {url}/credential/token -d grant_type=client_credentials \\
  -d client_id={cred["client_id"]} -d client_secret={cred["client_secret"]}

# Refresh: put the refresh_token of an /auth/jwt answer here:
curl -s {url}/auth/jwt -d grant_type=refresh_token -d client_id={proxy["client_id"]} \\
  -d client_secret=- -d refresh_token=PASTE_REFRESH_TOKEN

# The public keys:
curl -s {url}/auth/.well-known/jwks.json
""")


if __name__ == "__main__":
    main()
