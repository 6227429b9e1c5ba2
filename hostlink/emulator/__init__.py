"""Software boards that speak protocol v1, run the uploaded model for real and model each board's
per-stage timing and power. See docs/timing-model.md."""
from .board import EmulatedBoard, Span
from .profiles import BOARD_NAMES, BoardProfile, get_profile

__all__ = ["BOARD_NAMES", "BoardProfile", "EmulatedBoard", "Span", "get_profile"]
