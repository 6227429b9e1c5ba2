"""``python3 -m imx500_agent --tcp 0.0.0.0:5555`` or ``--serial /dev/ttyGS0`` (USB gadget)."""
import argparse
import signal
import sys
import threading

from hostlink.emulator.core import BoardCore
from hostlink.emulator.server import parse_hostport, serve, serve_tcp
from hostlink.errors import HostlinkError

from .backend import Imx500Backend


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="imx500_agent", description=__doc__)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", metavar="HOST:PORT", help="listen for one host at a time")
    where.add_argument("--serial", metavar="TTY", help="serve a serial port (the USB gadget's /dev/ttyGS0)")
    ap.add_argument("--workdir", help="where the running model's package is kept (default: a temporary directory, "
                    "deleted on exit)")
    args = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    backend = Imx500Backend(workdir=args.workdir)
    try:
        if args.tcp:
            host, port = parse_hostport(args.tcp)
            serve_tcp(lambda emit: BoardCore(backend, emit), host, port, stop,
                      on_ready=lambda url: print(f"imx500 agent on {url}", flush=True))
        else:
            from hostlink.links.serial import SerialLink

            link = SerialLink(args.serial, baudrate=115200)
            board = BoardCore(backend, link.write)
            print(f"imx500 agent on {args.serial}", flush=True)
            serve(board, link, stop)
    except HostlinkError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        pass
    finally:
        backend.close()  # the camera, and every upload copy the agent kept
    return 0


if __name__ == "__main__":
    sys.exit(main())
