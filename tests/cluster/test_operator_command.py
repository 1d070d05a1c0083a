"""``gatekey operator`` as a process, as the chart runs it: it reconciles, and it answers
its liveness probe."""

import os
import subprocess

import requests

from tests.support.manifests import policy
from tests.support.process import GATEKEY, eventually, free_port


def test_operator_command_reconciles_and_answers_liveness(tmp_path, kube, kubeconfig):
    port = free_port()
    env = os.environ | {"KUBECONFIG": str(kubeconfig)}
    process = subprocess.Popen(
        [
            GATEKEY,
            "operator",
            "--namespace",
            "default",
            "--liveness",
            f"http://127.0.0.1:{port}/healthz",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        kube.create(policy("p", "JWT"), "default")
        eventually(lambda: kube.get("Secret", "default", "apiproxy-orders-proxy-key"), timeout=20)

        def alive() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
            except requests.ConnectionError:
                return False

        eventually(alive, timeout=20)
    finally:
        process.terminate()
        process.wait(timeout=20)
