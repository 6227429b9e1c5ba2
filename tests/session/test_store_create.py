"""A session folder appears in one atomic rename: never half-made, never over another one."""
import hostlink.session.store as store_mod
from hostlink.session.plan import Plan
from hostlink.session.store import SessionStore


def plan() -> Plan:
    return Plan.from_dict({"name": "s", "model": "tinytracker_int8.tflite", "boards": [{"port": "emu:imx500"}]})


def test_two_sessions_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "utc_stamp", lambda: "20260101_000000")
    a = SessionStore.create(tmp_path, plan())
    b = SessionStore.create(tmp_path, plan())
    assert a.path.name == "20260101_000000_s" and b.path.name == "20260101_000000_s_2"
    for s in (a, b):
        assert {p.name for p in s.path.iterdir()} >= {"plan.yaml", "manifest.json", "state.json"}


def test_a_folder_taken_between_the_check_and_the_rename_is_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "utc_stamp", lambda: "20260101_000000")
    first = SessionStore.create(tmp_path, plan())
    real_exists = store_mod.Path.exists
    # the name looks free when checked, as if another run took it just after
    monkeypatch.setattr(store_mod.Path, "exists", lambda p: False if p == first.path else real_exists(p))
    second = SessionStore.create(tmp_path, plan())
    assert second.path != first.path and (first.path / "plan.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20260101_000000_s", "20260101_000000_s_2"]
