"""``emu:BOARD``: an emulated board in this process, behind the same Link interface as a cable.

The board handles each write synchronously, so a request's reply is ready by the time the client
reads: no thread, no scheduling jitter. Options ride on the address:
``emu:imx500?realtime=1&camera=video.mp4&engine=tflm``, ``emu:coralmicro?path=edgetpu&jitter=0.02&seed=1``.
"""
import urllib.parse

from ..errors import ConfigError
from ..links.base import Link
from .board import EmulatedBoard


class EmulatorLink(Link):
    def __init__(self, board_name: str, *, camera=None, realtime: bool = False, engine: str = "litert",
                 version: int | None = None, path: str | None = None, jitter: float = 0.0, seed: int = 0):
        self.url = f"emu:{board_name}"
        self._rx = bytearray()
        kwargs = {} if version is None else {"version": version}
        self.board = EmulatedBoard(board_name, self._rx.extend, camera=camera, realtime=realtime, engine=engine,
                                   path=path, jitter=jitter, seed=seed, **kwargs)
        self.emulated_board = self.board
        self.byte_rate = None

    def write(self, data: bytes) -> None:
        self.board.feed(data)

    def read(self, timeout: float) -> bytes:
        if not self._rx:
            return b""
        out = bytes(self._rx)
        self._rx.clear()
        return out

    def reset_input(self) -> None:
        self._rx.clear()

    def close(self) -> None:
        cam = self.board.backend.camera
        cam.close()


_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def parse_emu_url(url: str) -> tuple[str, dict]:
    """``emu:imx500?realtime=1`` -> ("imx500", {"realtime": True})."""
    rest = url[len("emu:"):].lstrip("/")
    name, _, query = rest.partition("?")
    opts: dict = {}
    form = 'expected "emu:BOARD[?realtime=1][&camera=SRC][&engine=litert|tflm]"'
    for key, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
        value = values[-1]
        if key == "realtime":
            if value.lower() not in _FLAGS:
                raise ConfigError(f"realtime={value!r} in {url!r} is not 1 or 0", form)
            opts[key] = _FLAGS[value.lower()]
        elif key == "engine" and value not in ("litert", "tflm"):
            raise ConfigError(f"engine={value!r} in {url!r} is not litert or tflm", form)
        elif key in ("camera", "engine", "path"):
            opts[key] = value
        elif key in ("jitter", "seed"):  # seeded stage jitter (emulator/jitter.py)
            try:
                opts[key] = float(value) if key == "jitter" else int(value)
            except ValueError:
                raise ConfigError(f"{key}={value!r} in {url!r} is not a number",
                                  "e.g. emu:imx500?jitter=0.02&seed=1") from None
        else:
            raise ConfigError(f"unknown emulator option {key!r} in {url!r}",
                              'expected "emu:BOARD[?realtime=1][&camera=SRC][&engine=litert|tflm]"')
    if not name:
        raise ConfigError(f"no board in {url!r}", "e.g. emu:imx500, emu:coralmicro, emu:spresense")
    return name, opts


def open_emulator(url: str, **overrides) -> EmulatorLink:
    name, opts = parse_emu_url(url)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return EmulatorLink(name, **opts)
