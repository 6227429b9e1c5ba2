"""hostlink: one host driver, emulator and power-measurement runtime for edge vision boards.

    with hostlink.connect("emu:imx500") as dev:
        dev.upload("model.tflite")
        r = dev.capture()
        r.outputs, r.stages
"""
__version__ = "0.1.0"

from .api import connect  # noqa: E402
from .client import Device  # noqa: E402
from .errors import HostlinkError  # noqa: E402

__all__ = ["Device", "HostlinkError", "connect", "__version__"]
