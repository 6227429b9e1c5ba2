"""The exception tree. Every error a user can cause or meet says what happened and what to do.

The CLI prints ``str(err)`` (never a traceback) and exits with ``err.exit_code``.
"""


class HostlinkError(Exception):
    """Not a bug in hostlink: bad input, a missing or misbehaving board, a refused model."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(HostlinkError):
    """Bad arguments, an unknown board, an unreadable file."""


class NothingFound(HostlinkError):
    """The input was read but held nothing to work on (no face in any frame of the video)."""

    exit_code = 1


class LinkError(HostlinkError):
    """The link could not be opened or broke: port missing, busy, no permission, device gone."""

    exit_code = 3


class LinkTimeout(LinkError):
    """The board stayed silent past a deadline derived from the work asked of it."""


class ProtocolError(HostlinkError):
    """A well-formed frame that breaks the protocol: wrong version, unexpected reply."""

    exit_code = 3


class DeviceError(HostlinkError):
    """The board answered ERROR. ``code`` is the protocol's stable ErrorCode."""

    exit_code = 4

    def __init__(self, code, message: str, hint: str | None = None):
        super().__init__(message, hint)
        self.code = code


class ModelRefused(DeviceError):
    """The board's admission check refused the model (not INT8, unsupported op, too big)."""


class ModelFileError(ConfigError):
    """A model file that cannot be read, is truncated or is not a model at all."""
