"""Per-key ordering: the slot reserved first runs first; other keys never wait."""

from __future__ import annotations

import asyncio

from sparky.execution.serializer import KeyedSerializer


async def test_same_key_runs_in_reservation_order_one_at_a_time() -> None:
    serializer = KeyedSerializer()
    log: list[str] = []
    gates = [asyncio.Event() for _ in range(3)]

    async def work(slot, name: str, gate: asyncio.Event) -> None:
        async with slot:
            log.append(f"{name}:start")
            await gate.wait()
            log.append(f"{name}:end")

    slots = [serializer.reserve("k") for _ in range(3)]
    # start them in reverse: the order of reservation, not of scheduling, decides
    tasks = [asyncio.create_task(work(slots[i], f"s{i}", gates[i])) for i in (2, 1, 0)]
    await asyncio.sleep(0)
    for gate in gates:
        gate.set()
    await asyncio.gather(*tasks)
    assert log == ["s0:start", "s0:end", "s1:start", "s1:end", "s2:start", "s2:end"]
    assert len(serializer) == 0  # nothing kept once the queue drains


async def test_different_keys_run_concurrently() -> None:
    serializer = KeyedSerializer()
    first_holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with serializer.reserve("a"):
            first_holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await first_holding.wait()
    async with serializer.reserve("b"):  # would deadlock if keys shared a queue
        pass
    release.set()
    await holder


async def test_a_slot_released_before_its_turn_passes_the_turn_on() -> None:
    serializer = KeyedSerializer()
    first, abandoned, third = (serializer.reserve("k") for _ in range(3))
    order: list[str] = []
    gate = asyncio.Event()

    async def run(slot, name: str) -> None:
        async with slot:
            order.append(name)
            if name == "first":
                await gate.wait()

    t1 = asyncio.create_task(run(first, "first"))
    t3 = asyncio.create_task(run(third, "third"))
    abandoned.release()  # e.g. its request could not be recorded
    await asyncio.sleep(0)
    assert order == ["first"]  # third still waits for first, not only for the abandoned slot
    gate.set()
    await asyncio.gather(t1, t3)
    assert order == ["first", "third"]
