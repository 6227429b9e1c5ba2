"""Every session-plan field with generated values, through load_plan: a Plan whose fields have the
types the schema promises, or one ConfigError line naming the field path and a fix.

The fields come from the schema tables in hostlink.session.plan, so a field added there is covered.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostlink.errors import ConfigError
from hostlink.session.plan import BOARD_FIELDS, CHECK_FIELDS, PLAN_FIELDS, Plan, load_plan

from .conftest import watchdog

BASE = {"name": "fuzz", "model": "tinytracker_int8.tflite", "boards": [{"port": "emu:imx500"}]}

#: YAML values of every kind: numbers of every size, NaN, infinity, booleans, text with control
#: characters, empty, lists and mappings.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["", " ", "emu:imx500", "emu:esp32", "tcp://127.0.0.1", "emulated://ppk2",
                                           "emualted://ppk2", "5", "1e3", "nan", ".nan", "yes", "a b", "\x1b[2J"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)

PATHS = [(k,) for k in PLAN_FIELDS] + [("boards", 0, k) for k in BOARD_FIELDS] + [("checks", k) for k in CHECK_FIELDS]


def _with(path, value) -> dict:
    data = {k: (v if k != "boards" else [dict(b) for b in v]) for k, v in BASE.items()}
    data.setdefault("checks", {})
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _field_name(path) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


def _check_result(plan: Plan, path, value) -> None:
    """A plan that loaded has the promised types: no bool for a count, no NaN, no string for a list."""
    for name in ("warmup_frames", "frames_per_window", "windows", "period_us"):
        v = getattr(plan, name)
        assert type(v) is int and v >= 0, (name, v)
    for name in ("min_window_s", "settle_ms"):
        v = getattr(plan, name)
        assert type(v) is float and math.isfinite(v) and v >= 0, (name, v)
    assert isinstance(plan.boards, list) and plan.boards
    for b in plan.boards:
        assert isinstance(b.port, str) and b.port
        assert b.supply_v is None or (type(b.supply_v) is float and math.isfinite(b.supply_v) and b.supply_v > 0)
    assert 0 <= plan.checks.max_lost_fraction <= 1


def _clean_error(err: ConfigError, path) -> None:
    assert "\n" not in err.message and (err.hint is None or "\n" not in err.hint), repr(str(err))
    assert "Traceback" not in str(err)


@pytest.mark.parametrize("path", PATHS, ids=_field_name)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_each_field_with_generated_values(tmp_path, path, value):
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(_with(path, value), allow_unicode=True))
    try:
        with watchdog(what="load_plan"):
            plan = load_plan(p)
    except ConfigError as err:
        _clean_error(err, path)
        return
    _check_result(plan, path, value)


def test_every_field_is_generated():
    # one run per field with a value of the wrong kind: the error names that field's path
    for path in PATHS:
        data = _with(path, [[1]] if path != ("boards",) else "emu:imx500")
        try:
            Plan.from_dict(data, where="p.yaml")
        except ConfigError as err:
            assert _field_name(path) in err.message, (path, err.message)
        else:
            raise AssertionError(f"{path} accepted a nested list")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_file_content(tmp_path, content):
    p = tmp_path / "plan.yaml"
    p.write_bytes(content)
    try:
        with watchdog(what="load_plan"):
            load_plan(p)
    except ConfigError as err:
        _clean_error(err, None)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_the_example_plan_with_one_line_mangled(tmp_path, data):
    lines = (Path(__file__).parents[2] / "examples" / "tinytracker.yaml").read_text(encoding="utf-8").splitlines()
    i = data.draw(st.integers(0, len(lines) - 1))
    key, sep, _ = lines[i].partition(":")
    new = data.draw(st.sampled_from(["", "[", "{", "- x", ": :", "\t", "&a", "*a", "!!python/object:os.system"]) |
                    st.text(max_size=12))
    lines[i] = f"{key}{sep} {new}" if sep and data.draw(st.booleans()) else new
    p = tmp_path / "plan.yaml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        with watchdog(what="load_plan"):
            load_plan(p)
    except ConfigError as err:
        _clean_error(err, None)
