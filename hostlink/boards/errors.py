"""Errors of the flashing and discovery flows. All are HostlinkErrors: the CLI prints them plainly.

Timeouts and a device that vanishes are the lead's ``LinkTimeout`` / ``LinkError``; what is
specific to bootloaders lives here.
"""
from ..errors import ConfigError, HostlinkError, LinkError


class FlashError(HostlinkError):
    """A flash did not complete; the board may need the flash run again."""

    exit_code = 5


class BootloaderRefused(FlashError):
    """A bootloader answered a step with a failure status or a NAK."""


class VerifyError(FlashError):
    """Data read back (or the board's behaviour after the flash) does not match what was sent."""


class BoardNotFound(LinkError):
    """No board of the requested kind is plugged in (or none in a usable mode)."""


class WrongMode(FlashError):
    """The board is there but in a mode the requested step cannot use."""


class MissingBuildOutput(ConfigError):
    """A bootloader image the flow needs (flashloader, elf_loader) is not where the user said."""
