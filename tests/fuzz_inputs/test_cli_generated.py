"""Every CLI command and every option, with generated values: success or one clean error line.

The commands and their options are enumerated from the click group when the tests are collected,
so an option added tomorrow is covered without touching this file. Each (command, option) pair
is one test: a cheap baseline invocation of the command with that one option (or argument) given
a generated value: wrong types, out-of-range and huge numbers, NaN, infinity, empty strings,
unicode, control characters.

``emulate`` runs for real with its stop event set as it starts serving (it binds, builds the board
and returns). Commands that would block or need hardware (a webcam, flashing, the IMX500
toolchain, multi-second sessions and demos) are run with their body replaced by a no-op: everything a user types still goes through the real parser, option types and callbacks and
the real error printer, which is where these values are checked. Their bodies' own checks have
explicit regression tests (tests/cli/test_cli_errors.py, test_input_regressions.py).
"""
from __future__ import annotations

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostlink.cli import main
from hostlink.cli.common import Number

from .conftest import assert_clean, invoke, number_values, text_values

#: Commands whose body is replaced by a no-op (see the module docstring).
PARSE_ONLY = {("demo",), ("convert",), ("flash",), ("gaze",), ("segment",), ("eval",),
              ("session", "run")}

#: Per command: (root options, positional arguments, options) of a cheap invocation that reaches
#: the command's body. "{tiny}" is a tiny INT8 model, "{empty}" an empty folder, "{out}" a new one.
BASELINES = {
    ("info",): (["--port", "emu:imx500"], [], []),
    ("upload",): (["--port", "emu:imx500"], ["{tiny}"], []),
    ("capture",): (["--port", "emu:imx500"], [], []),
    ("run",): (["--port", "emu:imx500"], ["{tiny}"], ["-n", "1", "--warmup", "0"]),
    ("inspect",): ([], ["{tiny}"], []),
    ("session", "resume"): ([], ["{empty}"], []),
    ("report",): ([], ["{empty}"], []),
    ("datasets", "make-synthetic"): ([], [], ["--task", "segment", "--out", "{out}", "-n", "1", "--size", "16"]),
    ("session", "run"): (["--port", "emu:imx500"], [], ["--windows", "1", "--frames", "1"]),
    ("emulate",): ([], [], ["--tcp", "127.0.0.1:0"]),
    ("gaze",): ([], [], ["--board", "emu:imx500", "--video", "none.mp4", "--headless"]),
    ("segment",): ([], ["{tiny}"], []),
    ("eval",): ([], [], ["--data", "{empty}"]),
    ("convert",): ([], ["tinytracker"], ["--board", "imx500"]),
    ("flash",): ([], ["{tiny}"], ["--board", "spresense"]),
}


#: Tried on every option and argument before the generated values.
ALWAYS = ["", "nan", "inf", "-1", "9" * 25, "\x1b[31m\u202e"]

#: Options naming a file or folder the command writes: generated values stay under the test's folder.
WRITES = {"out_dir", "png", "md", "output", "snapshot", "log_path", "profile"}


def _leaves(group: click.Group, path=()):
    for name in sorted(group.commands):
        cmd = group.commands[name]
        if isinstance(cmd, click.Group):
            yield from _leaves(cmd, path + (name,))
        else:
            yield path + (name,), cmd


LEAVES = dict(_leaves(main))
CASES = [((), p.name) for p in main.params if p.name not in ("version", "help")]
CASES += [(path, p.name) for path, cmd in LEAVES.items() for p in cmd.params if p.name != "help"]


def _param(path, name) -> click.Parameter:
    cmd = main if not path else LEAVES[path]
    return next(p for p in cmd.params if p.name == name)


def _values(param: click.Parameter):
    if isinstance(param, click.Option) and param.is_flag:
        return st.sampled_from(param.opts + param.secondary_opts)
    if isinstance(param.type, Number):
        return number_values(param.type.kind, param.type.min, param.type.max).map(lambda v: _small(param.type, v))
    return text_values()


def _long_wait(value: str) -> bool:
    """A finite timeout scale that would make each of loop://'s waits longer than a few tens of ms."""
    try:
        return 0.05 < float(value) < 1e300
    except ValueError:
        return False


def _small(kind: Number, value: str) -> str:
    """A valid value that would mean real work (``-n 99999``) becomes the smallest valid one: the
    test is about values the option must refuse, and valid ones are valid by construction."""
    try:
        number = kind.convert(value, None, None)
    except click.BadParameter:
        return value
    return str(kind.min if kind.min is not None and abs(number) > 3 else value)


def _safe_path(value: str) -> str:
    """A generated path the command may create or write: kept inside the test's own folder."""
    return "w/" + value.replace("..", "dd").lstrip("/~") if value else value


def _serve_once(monkeypatch):
    """`hostlink emulate` serves until Ctrl-C; here it stops as soon as it is listening."""
    import signal
    import types

    import hostlink.cli.emulate as em
    import hostlink.emulator.firmware as fw

    def once(real):
        def serve(*args, **kwargs):
            stop = next(a for a in args if hasattr(a, "set") and hasattr(a, "is_set"))
            stop.set()
            return real(*args, **kwargs)
        return serve

    monkeypatch.setattr(em, "serve_tcp", once(em.serve_tcp))
    monkeypatch.setattr(em, "serve_pty", once(em.serve_pty))
    monkeypatch.setattr(fw, "serve_host_port", lambda *a, **k: None)  # builds and runs the C core: not here
    # emulate's SIGTERM handler would outlive the test in this process: give it a module of its own
    monkeypatch.setattr(em, "signal", types.SimpleNamespace(SIGTERM=signal.SIGTERM, signal=lambda *a: None))


def test_every_command_and_option_is_covered():
    assert len(LEAVES) >= 17 and all(any(c[0] == path for c in CASES) for path, cmd in LEAVES.items() if cmd.params)
    assert ((), "timeout_scale") in CASES and (("capture",), "count") in CASES


@pytest.mark.parametrize("path, name", CASES, ids=[f"{'-'.join(p) or 'hostlink'}:{n}" for p, n in CASES])
def test_generated_values(path, name, tiny_files, tmp_path, monkeypatch):
    param = _param(path, name)
    command = path or ("info",)
    if command in PARSE_ONLY:
        monkeypatch.setattr(LEAVES[command], "callback", lambda *a, **k: None)
    pre, pos, opts = BASELINES.get(command, ([], [], []))
    shrink = False
    if not path and name == "port":
        pre = ["--timeout-scale", "0.1"]  # a generated socket:// that someone listens on answers fast or not at all
    if not path and name == "timeout_scale":
        # loop:// echoes the HELLO back, so nothing answers and every deadline is really waited on:
        # NaN or infinity there is a hang. Valid scales are shrunk so each wait stays short.
        pre = ["--port", "loop://"]
        shrink = True
    if command == ("emulate",):
        _serve_once(monkeypatch)
    monkeypatch.chdir(tmp_path)
    writes = name in WRITES and command not in PARSE_ONLY
    fill = dict(tiny=str(tiny_files / "tiny.tflite"), empty=str(tiny_files / "empty"))

    @settings(max_examples=8 if command in PARSE_ONLY else 4, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(_values(param), min_size=1, max_size=2 if getattr(param, "multiple", False) else 1),
           st.integers(0, 10 ** 6))
    def check(values, n):
        run(values, n)

    def run(values, n):
        fill["out"] = f"out{n}"
        values = [_safe_path(v) if writes else v for v in values]
        if shrink:
            values = ["0.02" if _long_wait(v) else v for v in values]
        base_pos = [a.format(**fill) for a in pos]
        base_opts = [a.format(**fill) for a in opts]
        root = [a.format(**fill) for a in pre]
        if isinstance(param, click.Argument):
            args = [*root, *command, *base_opts, "--", *values]
        elif param.is_flag:
            args = [*root, *command, *base_opts, values[0], "--", *base_pos] if path else \
                [values[0], *root, *command, *base_opts]
        else:
            given_ = [tok for v in values for tok in (param.opts[0], v)]
            args = [*root, *command, *base_opts, *given_, "--", *base_pos] if path else \
                [*root, *given_, *command, *base_opts]
        if not base_pos and "--" in args and not isinstance(param, click.Argument):
            args.remove("--")
        assert_clean(invoke(args), args)

    if not (isinstance(param, click.Option) and param.is_flag):
        for value in ALWAYS:  # the values every option meets, whatever hypothesis draws
            run([_small(param.type, value) if isinstance(param.type, Number) else value], 0)
    check()
