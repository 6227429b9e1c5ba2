"""hostlink's board agent for the Raspberry Pi AI Camera (IMX500): protocol v1 over TCP or a USB
serial gadget, with picamera2 underneath. Run ``python3 -m imx500_agent --help`` on the Pi."""
from .backend import Imx500Backend, frame_stages, split_outputs

__all__ = ["Imx500Backend", "frame_stages", "split_outputs"]
