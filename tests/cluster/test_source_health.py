"""The cluster source publishes its health; ``/readyz`` shows what it last published: the
issuer stays ready on its last good snapshot while the API server is out of reach, says so,
and says "in step" again once every watch is back."""

import requests

from tests.support.process import eventually, serving
from tests.support.tcp_proxy import TcpProxy


def source(url: str) -> str:
    response = requests.get(url + "/readyz", timeout=5)
    assert response.status_code == 200
    return str(response.json()["source"])


def test_readyz_follows_the_published_health(tmp_path, kube, kubeconfig, api_link: TcpProxy):
    with serving(
        tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
    ) as (url, _):
        assert source(url) == "in step"
        api_link.cut()
        eventually(lambda: source(url) == "unreachable; serving the last good", timeout=30)
        api_link.restore()
        eventually(lambda: source(url) == "in step", timeout=30)
