from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, redis_server


@pytest.fixture
def redis_url(redis_instance: RedisServer) -> str:
    return redis_instance.url


@pytest.fixture
def redis_instance(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as server:
        yield server
