"""Child process for arena.py: find the smallest tflite-micro arena for one model (on stdin).

Run as a script, never imported: a tflite-micro interpreter given slightly too small an arena
can crash its whole process (SIGSEGV), so all TFLM work happens here and every probe is
announced before it starts. When this process dies, the parent reads the last announced size as
too small and starts a new child in ``search`` mode from there.

    python _arena_probe.py plan             < model.tflite
    python _arena_probe.py search LO HI [GUESS] < model.tflite

``plan`` first finds a size that works (64 KiB or 4x the model, growing x4 while TFLM reports
only memory shortage) and prints ``planned SIZE TAIL TOTAL`` from the RecordingMicroAllocator
report, or ``error REASON`` when TFLM cannot plan the model at all; then it searches like
``search TAIL SIZE TOTAL-16``. ``search`` knows LO fails and HI succeeds; from GUESS it gallops
upwards (+64, +128, ...) until a size succeeds, then bisects. Each probe prints ``probe N`` and
then ``ok N`` or ``fail N``; the answer is ``done N``.
"""
import os
import re
import sys
import tempfile

_MAX_ARENA = 1 << 30


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _build(runtime, data: bytes, size: int, report: bool = False):
    """(interpreter or None, what TFLM printed on fd 2)."""
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            interp = runtime.Interpreter.from_bytes(data, arena_size=size)
            if report:
                interp.print_allocations()
        except (RuntimeError, ValueError) as err:
            interp = None
            os.write(2, f"{err}\n".encode())
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        return interp, log.read().decode("utf-8", "replace")


def _plan(runtime, data: bytes) -> tuple[int, int, int] | None:
    size = max(1 << 16, 4 * len(data))
    while True:
        interp, log = _build(runtime, data, size, report=True)
        if interp is not None:
            tail = re.findall(r"Arena allocation tail (\d+) bytes", log)
            total = re.findall(r"Arena allocation total (\d+) bytes", log)
            return size, int(tail[-1]) if tail else 0, int(total[-1]) if total else 0
        short = ("Failed to allocate" in log and "registration" not in log
                 and "Didn't find op" not in log)
        if not short or size >= _MAX_ARENA:
            lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
            reason = next((ln for ln in lines if "Didn't find op" in ln or "registration" in ln),
                          lines[-1] if lines else "no reason given")
            _say(f"error {reason}")
            return None
        size *= 4


def _search(runtime, data: bytes, lo: int, hi: int, guess: int | None) -> None:
    def probe(size: int) -> bool:
        _say(f"probe {size}")
        interp, _ = _build(runtime, data, size)
        _say(f"{'ok' if interp is not None else 'fail'} {size}")
        return interp is not None

    step = 64
    while guess is not None and lo < guess < hi:
        if probe(guess):
            hi = guess
            break
        lo = guess
        guess += step
        step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid):
            hi = mid
        else:
            lo = mid
    _say(f"done {hi}")


def main() -> None:
    del sys.path[0]  # this folder holds hostlink's own modules; keep them out of the imports
    data = sys.stdin.buffer.read()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # TFLM's failure chatter is not for the user
    from tflite_micro import runtime

    if sys.argv[1] == "plan":
        planned = _plan(runtime, data)
        if planned is None:
            return
        size, tail, total = planned
        _say(f"planned {size} {tail} {total}")
        _search(runtime, data, tail, size, total - 16 if total else None)
    else:
        lo, hi = int(sys.argv[2]), int(sys.argv[3])
        _search(runtime, data, lo, hi, int(sys.argv[4]) if len(sys.argv) > 4 else None)


if __name__ == "__main__":
    main()
