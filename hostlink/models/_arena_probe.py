"""Child process for arena.py: bisect the smallest tflite-micro arena for one model.

Run as a script (``python _arena_probe.py LO HI`` with the model on stdin), never imported: a
tflite-micro interpreter given slightly too small an arena can crash the whole process
(SIGSEGV), so each probe is announced before it starts. When the process dies, the parent reads
the last announced size as too small and starts a new child from there.

Protocol on stdout, one line each: ``probe N``, then ``ok N`` or ``fail N``; ``done N`` at the end.
LO is known to fail, HI is known to succeed.
"""
import os
import sys


def main() -> None:
    del sys.path[0]  # this folder holds hostlink's own modules; keep them out of the imports
    lo, hi = int(sys.argv[1]), int(sys.argv[2])
    data = sys.stdin.buffer.read()
    # TFLM reports every failed allocation on fd 2; the parent does not want that noise.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    from tflite_micro import runtime

    out = sys.stdout
    while hi - lo > 1:
        mid = (lo + hi) // 2
        out.write(f"probe {mid}\n")
        out.flush()
        try:
            interp = runtime.Interpreter.from_bytes(data, arena_size=mid)
        except (RuntimeError, ValueError):
            out.write(f"fail {mid}\n")
            lo = mid
        else:
            del interp
            out.write(f"ok {mid}\n")
            hi = mid
        out.flush()
    out.write(f"done {hi}\n")
    out.flush()


if __name__ == "__main__":
    main()
