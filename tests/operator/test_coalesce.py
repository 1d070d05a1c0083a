"""The per-namespace pass queue: bursts share a pass, a pass always starts after its request."""

import asyncio

import pytest

from gatekey.operator.kube.coalesce import Coalescer


async def test_a_burst_shares_passes_and_none_is_missed() -> None:
    seen: list[int] = []
    changes = 0

    async def run(key: str) -> int:
        seen.append(changes)
        await asyncio.sleep(0.01)
        return changes

    passes = Coalescer(run, debounce=0, backoff=(0.01,))
    results = []
    for _ in range(20):
        changes += 1
        results.append(asyncio.create_task(passes.request("ns")))
        await asyncio.sleep(0.002)
    done = await asyncio.gather(*results)
    assert len(seen) < 20  # coalesced
    # Each request got a pass that saw its own change.
    assert all(result >= i + 1 for i, result in enumerate(done))


async def test_keys_run_in_parallel_and_failures_are_retried() -> None:
    calls: dict[str, int] = {"a": 0, "b": 0}

    async def run(key: str) -> str:
        calls[key] += 1
        if key == "b" and calls[key] == 1:
            raise RuntimeError("API down")
        return key

    passes = Coalescer(run, debounce=0, backoff=(0.01,))
    assert await passes.request("a") == "a"
    with pytest.raises(RuntimeError):
        await passes.request("b")
    await asyncio.sleep(0.1)
    assert calls["b"] == 2  # retried after the backoff without anyone asking
    passes.close()
