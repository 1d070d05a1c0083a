"""``make e2e``: the real-cluster suite on a kind cluster this script creates (and deletes).

    python tests/e2e_cluster/run.py --kind            # create kind cluster gatekey-e2e, run, delete
    python tests/e2e_cluster/run.py --kind --keep     # ...and keep it for a look afterwards
    GATEKEY_E2E_CONTEXT=ctx GATEKEY_E2E_ALLOW_CONTEXT=ctx python tests/e2e_cluster/run.py
                                                      # a cluster of your own (CRDs get installed)

Needs kind (and a container engine) or a cluster, kubectl, and the virtual environment
with Gatekey installed. The contexts this script created are listed in
``.gatekey-e2e/contexts``: the suite refuses any other unless named twice.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = ROOT / ".gatekey-e2e" / "contexts"
CLUSTER = "gatekey-e2e"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", action="store_true", help=f"create kind cluster {CLUSTER}")
    parser.add_argument("--keep", action="store_true", help="keep the kind cluster afterwards")
    args, pytest_args = parser.parse_known_args()
    for tool in ["kubectl"] + (["kind"] if args.kind else []):
        if shutil.which(tool) is None:
            print(f"e2e: {tool} is not installed", file=sys.stderr)
            return 2
    env = dict(os.environ)
    if args.kind:
        context = f"kind-{CLUSTER}"
        subprocess.run(
            ["kind", "create", "cluster", "--name", CLUSTER, "--wait", "120s"], check=True
        )
        MARKER.parent.mkdir(exist_ok=True)
        known = set(MARKER.read_text().split()) if MARKER.exists() else set()
        MARKER.write_text("\n".join(sorted(known | {context})) + "\n")
        env["GATEKEY_E2E_CONTEXT"] = context
    elif not env.get("GATEKEY_E2E_CONTEXT"):
        print("e2e: pass --kind, or set GATEKEY_E2E_CONTEXT (see --help)", file=sys.stderr)
        return 2
    try:
        command = [
            sys.executable,
            "-I",
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            str(Path(__file__).parent / "e2e_operator.py"),
            *pytest_args,
        ]
        return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    finally:
        if args.kind and not args.keep:
            subprocess.run(["kind", "delete", "cluster", "--name", CLUSTER], check=False)
            context = f"kind-{CLUSTER}"
            left = (
                [c for c in MARKER.read_text().split() if c != context] if MARKER.exists() else []
            )
            MARKER.write_text("\n".join(left) + ("\n" if left else ""))


if __name__ == "__main__":
    raise SystemExit(main())
