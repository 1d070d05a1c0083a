"""The Kubernetes API emulator, a kubeconfig pointing at it, and the issuer in cluster mode."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.kube_harness import EmulatorThread, KubeClient
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    thread = EmulatorThread().start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def kube(emulator: EmulatorThread) -> KubeClient:
    return KubeClient(emulator.url)


@pytest.fixture
def api_link(emulator: EmulatorThread) -> Iterator[TcpProxy]:
    """The network between the issuer and the API server, which a test may cut."""
    proxy = TcpProxy(int(emulator.url.rsplit(":", 1)[1])).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def kubeconfig(tmp_path: Path, api_link: TcpProxy) -> Path:
    """The issuer's kubeconfig: it reaches the emulator through ``api_link``."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "emu", "cluster": {"server": f"http://127.0.0.1:{api_link.port}"}}
                ],
                "users": [{"name": "issuer", "user": {"token": "not-checked"}}],
                "contexts": [
                    {
                        "name": "emu",
                        "context": {"cluster": "emu", "user": "issuer", "namespace": "default"},
                    }
                ],
                "current-context": "emu",
            }
        )
    )
    return path
