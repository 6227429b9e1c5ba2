"""hostlink's labgrid driver and strategy on a labgrid Target, against an exported emulated board."""
import pytest

pytest.importorskip("labgrid")

from labgrid import Target  # noqa: E402
from labgrid.resource import NetworkSerialPort  # noqa: E402
from labgrid.strategy.common import StrategyError  # noqa: E402

from hostlink.farm import acquire  # noqa: E402
from hostlink.farm.labgrid_driver import HostlinkDriver, HostlinkStrategy, Status, port_url  # noqa: E402

from .farm_fixtures import free_port  # noqa: E402


def target_for(url: str, name: str = "t") -> Target:
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    t = Target(name)
    NetworkSerialPort(t, "board", host=host, port=int(port), speed=0, protocol="raw")
    HostlinkDriver(t, "hostlink", timeout_scale=0.3)
    HostlinkStrategy(t, "strategy")
    return t


def test_strategy_brings_a_running_board_to_hostlink(farm):
    place = next(iter(farm.export("ec", "spresense", realtime=False)))
    with acquire(f"labgrid://{place}") as lease:
        t = target_for(lease.board_url)
        try:
            strategy = t.get_driver("HostlinkStrategy")
            strategy.transition("hostlink")
            assert strategy.status is Status.hostlink
            assert t.get_driver("HostlinkDriver").device().info.board == "spresense"
        finally:
            t.cleanup()


def test_a_silent_board_without_an_image_breaks_the_strategy_with_the_reason():
    t = target_for(f"socket://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(StrategyError) as err:
            t.get_driver("HostlinkStrategy").transition("hostlink")
        assert "no image to flash" in str(err.value.__cause__)
    finally:
        t.cleanup()


def test_port_urls_follow_the_resource():
    t = Target("u")
    assert port_url(NetworkSerialPort(t, "a", host="h", port=1, speed=0)) == "rfc2217://h:1"
    assert port_url(NetworkSerialPort(t, "b", host="h", port=2, speed=0, protocol="raw")) == "socket://h:2"
