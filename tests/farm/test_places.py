"""Places on a real labgrid coordinator: acquire, resolve, release, and every way it can fail."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import hostlink
from hostlink.errors import ConfigError, LinkError
from hostlink.farm import acquire, parse_farm_url
from hostlink.farm.coordinator import Coordinator

from .farm_fixtures import BIN, free_port


@pytest.fixture(scope="module")
def places(farm):
    return farm.export("ea", "imx500", "coralmicro", realtime=False)


def held_by(farm, place):
    with Coordinator(farm.address) as c:
        return c.place(place).acquired


def test_acquire_opens_the_board_and_release_frees_the_place(farm, places):
    place = next(p for p, kind in places.items() if kind == "coralmicro")
    with acquire(f"labgrid://{place}") as lease:
        assert lease.board == "coralmicro"
        assert lease.board_url.startswith("socket://127.0.0.1:")
        assert lease.monitor.startswith("ppk2://socket://127.0.0.1:")
        assert held_by(farm, place)
        with hostlink.connect(lease.board_url) as dev:
            assert dev.info.board == "coralmicro"
    assert held_by(farm, place) is None


def test_a_place_taken_by_someone_else_is_named(farm, places):
    place = next(iter(places))
    env = dict(farm.env(), LG_USERNAME="alice")
    subprocess.run([str(BIN / "labgrid-client"), "-p", place, "acquire"], env=env, check=True,
                   capture_output=True)
    try:
        with pytest.raises(LinkError, match=f"place {place} is taken by .*/alice"):
            acquire(f"labgrid://{place}")
    finally:
        subprocess.run([str(BIN / "labgrid-client"), "-p", place, "release"], env=env, check=True,
                       capture_output=True)


def test_a_crashed_holder_is_released_through_the_coordinator(farm, places):
    place = next(iter(places))
    code = ("import os, hostlink.farm as f; f.acquire('labgrid://%s'); os.kill(os.getpid(), 9)" % place)
    subprocess.run([sys.executable, "-c", code], env=farm.env(), timeout=60)
    assert held_by(farm, place)  # SIGKILL released nothing
    with acquire(f"labgrid://{place}") as lease:  # ... the next run takes it over
        assert lease.owned
    assert held_by(farm, place) is None


def test_the_same_place_twice_in_one_program_is_refused(farm, places):
    place = next(iter(places))
    with acquire(f"labgrid://{place}"):
        with pytest.raises(LinkError, match="already held by this program"):
            acquire(f"labgrid://{place}")


def test_missing_place_lists_the_known_ones(farm, places):
    with pytest.raises(LinkError, match="does not exist") as err:
        acquire("labgrid://no-such-place")
    assert next(iter(places)) in err.value.hint


def test_no_coordinator_is_one_error_not_a_hang():
    with pytest.raises(LinkError, match="unreachable"):
        acquire(f"labgrid://x?coordinator=127.0.0.1:{free_port()}", timeout_s=5)


@pytest.mark.parametrize("url, msg", [
    ("labgrid://", "names no place"),
    ("labgrid://a b", "bad place name"),
    ("labgrid://a?coordinator=nohost", "bad coordinator"),
    ("labgrid://a?coordinator=h:99999", "bad coordinator"),
    ("labgrid://a?colour=red", "unknown option"),
])
def test_bad_addresses(url, msg):
    with pytest.raises(ConfigError, match=msg):
        parse_farm_url(url)


def test_cli_without_coordinator_is_one_line(tmp_path):
    env = dict(os.environ, LG_COORDINATOR=f"127.0.0.1:{free_port()}", XDG_STATE_HOME=str(tmp_path))
    r = subprocess.run([str(BIN / "hostlink"), "--port", "labgrid://imx500-1", "info"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("error: labgrid coordinator") and "unreachable" in r.stderr


def test_cli_info_through_a_place(farm, places):
    place = next(p for p, kind in places.items() if kind == "imx500")
    r = subprocess.run([str(BIN / "hostlink"), "--port", f"labgrid://{place}", "info", "--json"],
                       env=farm.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"imx500"' in r.stdout
    assert held_by(farm, place) is None  # released on exit


def test_a_dead_exporter_makes_its_place_offline(farm):
    places = farm.export("eb", "imx500", realtime=False)
    farm.kill("eb")
    with pytest.raises(LinkError, match="offline"):
        acquire(f"labgrid://{next(iter(places))}")


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the exporter through /proc")
def test_a_hung_exporter_is_named_offline_not_an_unreachable_coordinator(farm):
    """The coordinator waits for the exporter to confirm an acquire, then refuses the place; the
    client waits past that, so the error names the place, and the place stays free."""
    places = farm.export("ec", "imx500", realtime=False)
    place = next(iter(places))
    exporter = _children(farm.exporters["ec"].pid)
    assert exporter, "hostlink farm export runs labgrid-exporter as a child"
    for pid in exporter:
        os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(LinkError, match=f"place {place} is offline: its exporter did not confirm"):
            acquire(f"labgrid://{place}")
        assert held_by(farm, place) is None
    finally:
        farm.kill("ec")  # SIGKILL reaches the stopped child too (it dies with its parent)


def test_a_resource_held_through_another_place_is_named(farm, places):
    place = next(p for p, kind in places.items() if kind == "imx500")
    twin = f"{place}-twin"
    with Coordinator(farm.address) as c:
        c.add_place(twin, list(c.place(place).matches))
    env = dict(farm.env(), LG_USERNAME="bob")
    subprocess.run([str(BIN / "labgrid-client"), "-p", twin, "acquire"], env=env, check=True, capture_output=True)
    try:
        with pytest.raises(LinkError, match=f"place {place} shares .* with place {twin}, which holds it"):
            acquire(f"labgrid://{place}")
        assert held_by(farm, place) is None
    finally:
        subprocess.run([str(BIN / "labgrid-client"), "-p", twin, "release"], env=env, check=True,
                       capture_output=True)
        subprocess.run([str(BIN / "labgrid-client"), "-p", twin, "delete"], env=env, capture_output=True)
