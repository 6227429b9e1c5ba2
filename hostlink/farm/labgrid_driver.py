"""hostlink inside labgrid: a driver that exposes the device client, a strategy that brings a
board to "hostlink firmware running".

Importing this module registers both with labgrid's target factory, so a labgrid environment file
can name them next to labgrid's own resources:

    targets:
      coral-1:
        resources:
          RemotePlace: {name: coral-1}
        drivers:
          HostlinkDriver: {}
          HostlinkStrategy: {board: coralmicro, image: build/apps/hostlink/hostlink.elf}

``HostlinkDriver`` binds to the board's serial port (local, or exported over the network) or to
the IMX500 agent's ``NetworkService``. ``HostlinkStrategy`` optionally uses a power driver
(labgrid's ``PowerProtocol``: PDUs, USB hub port power) to recover a board, and hostlink's own
flashers when the board does not answer HELLO.
"""
from __future__ import annotations

import enum

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.strategy.common import Strategy, StrategyError, never_retry

from ..errors import HostlinkError


def port_url(resource) -> str:
    """A hostlink port address for a labgrid resource."""
    cls = type(resource).__name__
    if cls == "NetworkService":
        return f"tcp://{resource.address}:{resource.port}"
    if hasattr(resource, "host"):  # NetworkSerialPort (ser2net speaks RFC 2217 unless raw)
        scheme = "socket" if getattr(resource, "protocol", "rfc2217") == "raw" else "rfc2217"
        return f"{scheme}://{resource.host}:{resource.port}"
    return resource.port  # SerialPort, USBSerialPort: a local device path


@target_factory.reg_driver
@attr.s(eq=False)
class HostlinkDriver(Driver):
    """The hostlink device client on the target's board port; ``device()`` says HELLO."""

    bindings = {"port": {"SerialPort", "NetworkSerialPort", "NetworkService"}}
    timeout_scale = attr.ib(default=1.0, validator=attr.validators.instance_of(float))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self._dev = None

    @property
    def url(self) -> str:
        return port_url(self.port)

    def on_deactivate(self):
        self.close()

    @Driver.check_active
    def device(self):
        """The connected ``hostlink.Device`` (opened on first use, kept until deactivation)."""
        if self._dev is None:
            from ..api import connect
            from ..config import Timeouts

            self._dev = connect(self.url, timeouts=Timeouts().scaled(self.timeout_scale))
        return self._dev

    @Driver.check_active
    def ping(self) -> bool:
        """True if hostlink firmware answers HELLO on the port."""
        try:
            self.device().hello()
            return True
        except HostlinkError:
            self.close()
            return False

    def close(self) -> None:
        if self._dev is not None:
            dev, self._dev = self._dev, None
            dev.close()


class Status(enum.Enum):
    unknown = 0
    off = 1
    hostlink = 2


@target_factory.reg_driver
@attr.s(eq=False)
class HostlinkStrategy(Strategy):
    """unknown -> off (power off, if a power driver is bound) -> hostlink (power on, HELLO; if the
    board stays silent and an ``image`` is given, flash it with hostlink's flasher and try again)."""

    bindings = {"hostlink": "HostlinkDriver", "power": {"PowerProtocol", None}}
    board = attr.ib(default=None, validator=attr.validators.optional(attr.validators.instance_of(str)))
    image = attr.ib(default=None, validator=attr.validators.optional(attr.validators.instance_of(str)))
    build_dir = attr.ib(default=None, validator=attr.validators.optional(attr.validators.instance_of(str)))
    status = attr.ib(default=Status.unknown)

    @never_retry
    @step(args=["status"])
    def transition(self, status, *, step):  # noqa: D401 - labgrid's signature
        status = status if isinstance(status, Status) else Status[status]
        if status is Status.unknown:
            raise StrategyError(f"can not transition to {status.name}")
        if status is self.status:
            step.skip("nothing to do")
            return
        if status is Status.off:
            self.target.deactivate(self.hostlink)
            if self.power is None:
                raise StrategyError("no power driver bound: the board cannot be switched off")
            self.target.activate(self.power)
            self.power.off()
        elif status is Status.hostlink:
            if self.power is not None:
                self.target.activate(self.power)
                self.power.cycle()
            self.target.activate(self.hostlink)
            if not self.hostlink.ping():
                self._flash()
                if not self.hostlink.ping():
                    raise StrategyError(f"no hostlink firmware answers on {self.hostlink.url}, even after flashing")
        self.status = status

    def _flash(self) -> None:
        if not self.image:
            raise StrategyError(f"no hostlink firmware answers on {self.hostlink.url} and no image to flash "
                                "(set HostlinkStrategy's image)")
        url = self.hostlink.url
        self.hostlink.close()
        try:
            if self.board == "spresense":
                from ..boards.spresense import SpresenseFlasher

                SpresenseFlasher(url).flash([self.image])
            elif self.board == "coralmicro":
                if "://" in url:
                    raise StrategyError("the Coral Micro is flashed over its own USB (HID): run this strategy "
                                        "on the exporter host that has the board")
                from ..boards.coralmicro import CoralFlasher
                from ..boards.coralmicro_images import CoralBuild

                CoralFlasher(CoralBuild.from_dir(self.build_dir)).flash(self.image)
            else:
                raise StrategyError(f"hostlink cannot flash board {self.board!r} (set board: coralmicro or spresense)")
        except HostlinkError as err:
            raise StrategyError(f"flashing {self.image} failed: {err.message}") from err

    @never_retry
    @step(args=["status"])
    def force(self, status, *, step):
        status = status if isinstance(status, Status) else Status[status]
        if status is Status.hostlink:
            self.target.activate(self.hostlink)
        self.status = status
