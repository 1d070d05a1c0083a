"""CPU instructions per request, native code included: a figure neither the machine's load
nor its clock moves (docs/performance.md, "Instructions").

Run: ``.venv/bin/python bench/instructions.py [--requests 2000] [--jobs 2] [TARGET ...]``
(needs ``valgrind``, which ``make bench`` installs with ``scripts/install-tools.sh
--bench``). ``bench/inprocess.py --only TARGET`` is run twice under callgrind, answering
a warm-up and then ``--requests`` requests or none; the difference of the two totals,
divided by ``--requests``, is what one request costs, start-up excluded: the HTTP
parsing, routing, handler, response, event loop turns, and the native work the opcode
count of ``bench/inprocess.py`` leaves out (the signature, orjson, SQLite's own code).
What the kernel does is not in it: the socket system calls (the transport only collects
answers) and SQLite's file writes and reads. Nor is the time a core waits on memory. A
ratio here is one of work, not of seconds; for the token endpoints it sat above the wrk
ratio, far above for opaque tokens while their store writes were most of their system
calls (docs/performance.md gives both).

Repeatable: the same manifests, keys and state dir are copied into each run (from
``--prepared``, made once), ``PYTHONHASHSEED`` is fixed, and no timer runs during the
requests. Two runs of one revision differed by at most 0.5% here. To compare revisions,
run this script with ``PYTHONPATH`` pointing at another checkout's package, on the same
``--prepared`` folder.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import harness

ONLY = ("form", "jwt", "opaque", "get", "authz")
"""``bench/inprocess.py``'s targets, in the order of its table."""
CEILING = {"jwt": "form", "opaque": "form", "authz": "get"}
"""The ceiling each endpoint is held to."""
LABELS = {
    "form": "ceiling: form POST + JSON",
    "jwt": "POST /auth/jwt (ES256 JWT)",
    "opaque": "POST /auth/token (opaque)",
    "get": "ceiling: empty GET",
    "authz": "GET /authz, cached ES256 JWT",
}
INPROCESS = Path(__file__).with_name("inprocess.py")
COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(target: str, requests: int, prepared: Path) -> int:
    """The instructions callgrind counted in one run of ``inprocess.py --only target``."""
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(INPROCESS),
        "--only",
        target,
        "--requests",
        str(requests),
        "--prepared",
        str(prepared),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise harness.BenchFailure(f"{target}: valgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(target: str, requests: int, prepared: Path, pool: ThreadPoolExecutor) -> float:
    with_requests = pool.submit(instructions, target, requests, prepared)
    without = pool.submit(instructions, target, 0, prepared)
    return (with_requests.result() - without.result()) / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"any of {', '.join(ONLY)} (default all)")
    parser.add_argument("--requests", type=int, default=2000, help="counted (default 2000)")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once (default 2)")
    parser.add_argument(
        "--prepared",
        type=Path,
        help="the manifests and state dir every run copies (default: made in a temporary"
        " folder); name one to compare revisions on the same keys",
    )
    args = parser.parse_args()
    unknown = set(args.targets) - set(ONLY)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    with harness.exit_on_failure(), tempfile.TemporaryDirectory() as folder:
        prepared = args.prepared or Path(folder) / "prepared"
        # Made once, before the runs in parallel copy it.
        instructions("get", 0, prepared)
        counted: dict[str, float] = {}
        with ThreadPoolExecutor(args.jobs) as pool:
            for target in args.targets or ONLY:
                counted[target] = per_request(target, args.requests, prepared, pool)
        print(f"instructions per request (callgrind, {args.requests} requests after a warm-up):")
        for target, count in counted.items():
            line = f"  {LABELS[target]:<34} {count:10,.0f}"
            ceiling = CEILING.get(target)
            if ceiling in counted:
                line += f"   / ceiling: {counted[ceiling] / count:5.3f}"
            print(line)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
