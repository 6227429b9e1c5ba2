import pytest

from .farm_fixtures import LocalFarm, need_labgrid


@pytest.fixture(scope="module")
def farm(tmp_path_factory, monkeypatch_module):
    need_labgrid()
    f = LocalFarm(tmp_path_factory.mktemp("farm"))
    for key, value in f.env().items():
        monkeypatch_module.setenv(key, value)
    yield f
    f.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
