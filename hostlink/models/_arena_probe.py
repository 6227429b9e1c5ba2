"""Child process for arena.py: bisect the smallest tflite-micro arena for one model.

Run as a script (``python _arena_probe.py LO HI [GUESS]`` with the model on stdin), never imported: a
tflite-micro interpreter given slightly too small an arena can crash the whole process
(SIGSEGV), so each probe is announced before it starts. When the process dies, the parent reads
the last announced size as too small and starts a new child from there.

Protocol on stdout, one line each: ``probe N``, then ``ok N`` or ``fail N``; ``done N`` at the end.
LO is known to fail, HI is known to succeed. With GUESS the search starts there and gallops
upwards (GUESS + 64, + 128, ...) until a size succeeds, then bisects: a few probes instead of
twenty when the guess is close.
"""
import os
import sys


def main() -> None:
    del sys.path[0]  # this folder holds hostlink's own modules; keep them out of the imports
    lo, hi = int(sys.argv[1]), int(sys.argv[2])
    guess = int(sys.argv[3]) if len(sys.argv) > 3 else None
    data = sys.stdin.buffer.read()
    # TFLM reports every failed allocation on fd 2; the parent does not want that noise.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    from tflite_micro import runtime

    out = sys.stdout

    def probe(size: int) -> bool:
        out.write(f"probe {size}\n")
        out.flush()
        try:
            interp = runtime.Interpreter.from_bytes(data, arena_size=size)
        except (RuntimeError, ValueError):
            out.write(f"fail {size}\n")
            out.flush()
            return False
        del interp
        out.write(f"ok {size}\n")
        out.flush()
        return True

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
    out.write(f"done {hi}\n")
    out.flush()


if __name__ == "__main__":
    main()
