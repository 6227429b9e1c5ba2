"""Shared by the generated-input tests: a hang watchdog, the clean-failure contract, value strategies.

The contract every CLI invocation must keep, whatever its arguments: exit 0, or a non-zero exit
whose stderr holds exactly one ``error: ...`` line (then at most one ``  hint: ...`` line), with no
traceback, no internal-error exit (70) and no exception other than SystemExit escaping click.
"""
import contextlib
import math
import signal
import threading

import pytest
from click.testing import CliRunner
from hypothesis import strategies as st

from hostlink.cli import INTERNAL_ERROR_EXIT, main

#: Seconds one CLI invocation or API call may take before the test calls it a hang. Generous for a
#: loaded 2-core CI runner; every call here does a few ms to a few hundred ms of work.
HANG_S = 20.0


class Hang(BaseException):
    """Raised in the main thread by the watchdog; a BaseException so no `except Exception` eats it."""


@contextlib.contextmanager
def watchdog(seconds: float = HANG_S, what: str = "call"):
    """Fail (raise Hang) if the body runs longer than ``seconds``: SIGALRM interrupts blocking waits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise Hang(f"{what} still running after {seconds:.0f} s: a hang")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def invoke(args, env=None):
    """Run the CLI in-process under the watchdog; return click's Result."""
    with watchdog(what=f"hostlink {' '.join(map(repr, args))}"):
        return CliRunner().invoke(main, list(args), env=env)


def assert_clean(result, args):
    """Success, or a non-zero exit with one ``error:`` line (+ one ``  hint:`` line); never a traceback."""
    shown = f"hostlink {' '.join(map(repr, args))}\nexit {result.exit_code}\nstderr: {result.stderr!r}"
    assert "Traceback" not in result.output, shown
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{shown}\nexception escaped: {result.exception!r}") from result.exception
    if result.exit_code == 0:
        return
    assert result.exit_code != INTERNAL_ERROR_EXIT, f"internal error (a bug):\n{shown}"
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [i for i, ln in enumerate(lines) if ln.startswith("error: ") or ln == "interrupted"]
    assert len(errors) == 1, f"want exactly one 'error:' line\n{shown}"
    after = lines[errors[0] + 1:]
    assert len(after) <= 1 and all(ln.startswith("  hint: ") for ln in after), \
        f"the error must be one line plus at most one hint line\n{shown}"
    assert len(lines[errors[0]]) < 600, f"an error line this long is a dump, not a message\n{shown}"


# ---------------------------------------------------------------------------------------------- values
#: Strings a user (or a script with a bug) types. No NUL: argv and the environment cannot hold one.
NASTY = [
    "", " ", "-1", "0", "1", "2", "3", "-0", "00", "1.5", "-1.5", "0.0", "1e3", "1e309", "-1e309", "nan", "NaN",
    "-nan", "inf", "-inf", "Infinity", "9" * 25, "-" + "9" * 25, "4294967296", "65536", "99999", "0x10", "1_000",
    "true", "false", "yes", "None", "null", "[]", "{}", "x", "é", "日本語", "\u202eevil", "\x1b[31mred", "a\tb",
    "line\nbreak", "\x7f", "../..", "/", ".", "~", "a" * 300, "emu:imx500", "emu:", "emu:esp32", "tcp://",
    "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "socket://:0", "usb://zz:zz", "0x0", "1x1", "-1x5", "nanxnan",
    "640x480", "24x20+2", "1e9x1e9", "emulated://", "emulated://ppk2", "ppk3://x", "127.0.0.1:0", "127.0.0.1:99999",
]


def text_values():
    """Any string a command line can carry: the nasty list, numbers of every size and shape, unicode."""
    no_nul = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
    return st.one_of(
        st.sampled_from(NASTY),
        st.integers(-(2 ** 70), 2 ** 70).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(no_nul, max_size=16),
    )


def number_values(kind, low, high):
    """For a bounded number option: the edges, just past them, and far past them, as text."""
    edges = []
    if low is not None:
        edges += [low, low - 1 if kind is int else low - 1e-9]
        if kind is int:
            edges += [low + 1]
        else:
            edges += [low + 0.5]
    if high is not None:
        edges += [high + 1 if kind is int else high * 1.000001 + 1e-9]
    edges = [str(kind(e)) if kind is int else repr(float(e)) for e in edges if not (isinstance(e, float) and math.isinf(e))]
    return st.one_of(st.sampled_from(edges or ["1"]), text_values())


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory):
    """A tiny INT8 model, a matching input tensor, an empty folder: cheap inputs the commands can take."""
    import numpy as np

    from hostlink.testing.synth_models import tiny_int8_model

    root = tmp_path_factory.mktemp("fuzz_inputs")
    model = root / "tiny.tflite"
    model.write_bytes(tiny_int8_model())
    np.save(root / "bad.npy", np.zeros((2, 2), np.float32))
    (root / "empty").mkdir()
    return root
