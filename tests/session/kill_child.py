"""A fork server for the kill test: imports hostlink and warms it up once (LiteRT, tflite-micro,
matplotlib: most of a session's start-up), then forks one child per command. Each child runs a real
``hostlink session run|resume`` through the CLI in a fresh process that the test kills with a real
signal. Single-threaded, so a fork never copies a lock another thread holds.

Protocol, one JSON object per line. The test sends {"id": K, "args": [...]} and gets
{"id": K, "pid": N}; after signalling N it sends {"id": K, "reap": N} and gets {"id": K,
"status": S} once N has exited (S: exit code, or -signal). A child is reaped only when asked, so
its pid cannot be reused while the test may still signal it.
"""
import json
import os
import select
import signal
import sys
import tempfile
from pathlib import Path


def _warm_up() -> None:
    from click.testing import CliRunner

    from hostlink.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        r = CliRunner().invoke(main, ["session", "run", "--board", "emu:imx500", "--frames", "1", "--windows", "1",
                                      "--warmup", "0", "--out", tmp, "--no-progress"])
        if r.exit_code != 0:
            raise SystemExit(f"warm-up session failed: {r.output}")


def _child(args: list[str], log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 1
    try:
        from hostlink.cli import main

        main(args, prog_name="hostlink", standalone_mode=True)
        code = 0
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main() -> None:
    log = sys.argv[1]
    _warm_up()

    def reply(obj) -> None:
        os.write(1, (json.dumps(obj) + "\n").encode())

    reply({"ready": os.getpid()})
    pending = b""
    to_reap: dict[int, int] = {}  # pid -> id
    while True:
        readable, _, _ = select.select([0], [], [], 0.005)
        if readable:
            chunk = os.read(0, 65536)
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                cmd = json.loads(line)
                if "args" in cmd:
                    pid = os.fork()
                    if pid == 0:
                        _child(cmd["args"], log)
                    reply({"id": cmd["id"], "pid": pid})
                else:
                    to_reap[cmd["reap"]] = cmd["id"]
        for pid, k in list(to_reap.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                del to_reap[pid]
                reply({"id": k, "status": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
