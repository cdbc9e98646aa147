import asyncio

import pytest

from nbbuild.platforms import default_workers, kernel_transport, loop_factory

GiB = 1024**3


@pytest.mark.parametrize("cpus", [1, 2, 4, 8, 64])
def test_windows_never_exceeds_four(cpus):
    assert default_workers(system="Windows", cpu_count=cpus, available_memory=64 * GiB) == 4


@pytest.mark.parametrize(
    "cpus, expected", [(1, 4), (2, 4), (4, 4), (8, 8), (12, 12), (64, 16)]
)
@pytest.mark.parametrize("system", ["Linux", "Darwin"])
def test_posix_is_four_or_one_per_core_up_to_sixteen(system, cpus, expected):
    assert default_workers(system=system, cpu_count=cpus, available_memory=64 * GiB) == expected


@pytest.mark.parametrize("system", ["Windows", "Linux", "Darwin"])
def test_low_memory_lowers_the_default_but_never_below_one(system):
    assert default_workers(system=system, cpu_count=8, available_memory=2 * GiB) == 2
    assert default_workers(system=system, cpu_count=8, available_memory=GiB // 2) == 1


def test_defaults_read_the_real_machine_when_not_faked():
    assert 1 <= default_workers() <= 16


def test_windows_gets_a_selector_loop_that_pyzmq_supports():
    assert loop_factory("Windows") is asyncio.SelectorEventLoop
    loop = loop_factory("Linux")()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()


def test_transport_is_ipc_on_posix_and_tcp_on_windows():
    assert kernel_transport("Linux") == "ipc"
    assert kernel_transport("Darwin") == "ipc"
    assert kernel_transport("Windows") == "tcp"
