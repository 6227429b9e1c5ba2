"""The emulated boards: memory, formats, ops, link, and which compute paths each one has.

Timing and power are not here: every stage constant and its source is in
hostlink/data/calibration/board_stages.json, and ``timing.board_frame`` turns them, with the
per-layer cost model, into a frame (docs/timing-model.md). A profile names its compute paths
(the first is the default for a plain .tflite) and what each is called in MODEL_INFO.

- IMX500: one path, the on-sensor DSP.
- Coral Dev Board Micro: ``m7-tflm`` (a plain .tflite runs on the Cortex-M7 through TFLM, the
  default) and ``edgetpu`` (a model compiled by edgetpu_compiler). The TinyTracker paper's
  34.4 ms / 34.2 mJ belong to the Edge TPU path (docs/timing-model.md says why). The emulator
  cannot execute the compiled custom op, so ``emu:coralmicro?path=edgetpu`` times a plain
  .tflite as its compiled twin would run and computes the same graph's outputs with LiteRT.
- Spresense: one path, TFLM on the Cortex-M4F at 156 MHz.
"""
from dataclasses import dataclass

from ..models.admission import BoardLimits
from ..protocols import BoardKind, Stage
from . import stages as S
from .timing import board_paths, path_model

KiB = 1024
MiB = 1024 * 1024

# The ops TFLM's AllOpsResolver registers that matter for vision models; boards running TFLM
# (Coral Micro M7/M4, Spresense) accept exactly these builtins.
TFLM_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
    "FULLY_CONNECTED", "HARD_SWISH", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "QUANTIZE",
    "RELU", "RELU6", "RESHAPE", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "SOFTMAX", "SUB",
    "TANH", "TRANSPOSE_CONV", "STRIDED_SLICE", "SPLIT", "PACK", "UNPACK", "SQUEEZE", "LEAKY_RELU",
    "PRELU", "MAXIMUM", "MINIMUM", "TRANSPOSE", "SHAPE", "GATHER", "ARG_MAX", "EXPAND_DIMS",
    "CAST", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
})


@dataclass(frozen=True)
class BoardProfile:
    name: str  # "imx500"
    kind: BoardKind
    title: str  # "Sony IMX500 (Raspberry Pi AI Camera)"
    limits: BoardLimits
    memory: tuple[tuple[str, int], ...]  # announced in DEVICE_INFO
    max_payload: int
    link_bps: int
    engine_label: dict[str, str]  # compute path -> label shown in MODEL_INFO
    demo_model: str  # bundled model the demo uploads to this board
    demo_path: str  # compute path the demo times it on
    tflm: bool  # MCU board: measure the arena with tflite-micro at admission
    sensor: tuple[int, int]  # native camera width, height

    @property
    def paths(self) -> tuple[str, ...]:
        """Compute paths, the default (what a plain .tflite runs on) first."""
        return board_paths(self.name)

    @property
    def idle_mw(self) -> float:
        return path_model(self.name, self.paths[0]).idle_mw

    @property
    def supply_v(self) -> float:
        return S.value(S.document()["boards"][self.name]["supply_v"])

    def path_for(self, fmt: str, requested: str | None = None) -> str:
        """The path a model of format ``fmt`` runs on; ``requested`` (emu:...?path=) overrides
        the default for a plain .tflite."""
        if fmt == "edgetpu-tflite" and "edgetpu" in self.paths:
            return "edgetpu"
        return requested or self.paths[0]

    @property
    def stages(self) -> tuple[Stage, ...]:
        return tuple(st for st, _ in path_model(self.name, self.paths[0]).stages)


def imx500_profile() -> BoardProfile:
    return BoardProfile(
        name="imx500", kind=BoardKind.IMX500, title="Sony IMX500 (Raspberry Pi AI Camera)",
        limits=BoardLimits(board="imx500", formats=frozenset({"tflite"}), model_store_bytes=8 * MiB,
                           ram_bytes=8 * MiB, model_in_ram=True, supported_ops=_imx500_ops()),
        memory=(("on_chip", 8 * MiB),), max_payload=64 * KiB, link_bps=0,
        engine_label={"dsp": "imx500-dsp (emulated: LiteRT)"},
        demo_model="tinytracker_int8.tflite", demo_path="dsp", tflm=False, sensor=(4056 // 4, 3040 // 4),
    )


def coralmicro_profile() -> BoardProfile:
    return BoardProfile(
        name="coralmicro", kind=BoardKind.CORALMICRO, title="Google Coral Dev Board Micro",
        limits=BoardLimits(board="coralmicro", formats=frozenset({"tflite", "edgetpu-tflite"}),
                           model_store_bytes=32 * MiB, ram_bytes=48 * MiB, model_in_ram=True,
                           supported_ops=TFLM_OPS | {"edgetpu-custom-op"}),
        memory=(("sdram", 64 * MiB), ("ocram", 1280 * KiB), ("nand_fs", 64 * MiB)),
        max_payload=4 * KiB, link_bps=0,
        engine_label={"m7-tflm": "cortex-m7 tflm (emulated: LiteRT, arena by tflite-micro)",
                      "edgetpu": "edge tpu (emulated: timing of the compiled graph, outputs by LiteRT "
                                 "from the CPU .tflite)"},
        # the paper's Coral figure is an Edge TPU figure, and a vision model on this board runs
        # there once compiled: the demo times that path (docs/timing-model.md)
        demo_model="tinytracker_int8.tflite", demo_path="edgetpu", tflm=True, sensor=(324, 324),
    )


def spresense_profile() -> BoardProfile:
    return BoardProfile(
        name="spresense", kind=BoardKind.SPRESENSE, title="Sony Spresense (CXD5602)",
        limits=BoardLimits(board="spresense", formats=frozenset({"tflite"}), model_store_bytes=4 * MiB,
                           ram_bytes=768 * KiB, model_in_ram=True, supported_ops=TFLM_OPS,
                           ram_where="for the main core"),
        memory=(("main_core_sram", 768 * KiB), ("sram", 1536 * KiB), ("spi_flash", 8 * MiB)),
        max_payload=1 * KiB, link_bps=921_600,
        engine_label={"m4f-tflm": "cortex-m4f tflm (emulated: LiteRT, arena by tflite-micro)"},
        demo_model="tinytrackers_int8.tflite", demo_path="m4f-tflm", tflm=True, sensor=(320, 240),
    )


def _imx500_ops() -> frozenset[str]:
    from ..models.admission import IMX500_OPS

    return frozenset(IMX500_OPS)


_cache: dict[str, BoardProfile] = {}


def board_names() -> tuple[str, ...]:
    """Boards with an emulator profile, as the board registry declares them (hostlink.boards)."""
    from ..boards import registry

    return registry.emulated()


def get_profile(name: str) -> BoardProfile:
    """The emulator profile a board module declares (its ``BOARD.emulator_profile``)."""
    from ..boards import registry
    from ..errors import ConfigError

    board = registry.get(name)  # an unknown name is refused with the list of boards
    if board.emulator_profile is None:
        raise ConfigError(f"{board.name} has no protocol-v1 emulator profile",
                          f"emulated boards: {', '.join(board_names())}")
    if board.name not in _cache:
        _cache[board.name] = board.emulator_profile()
    return _cache[board.name]


def __getattr__(name: str):
    # BOARD_NAMES is computed on first use: the registry imports the board modules, which import this one.
    if name == "BOARD_NAMES":
        return board_names()
    raise AttributeError(name)
