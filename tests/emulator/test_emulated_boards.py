"""The emulated boards: admission, calibrated timing, board clock, camera sources, emu: addresses."""
import zlib

import numpy as np
import pytest

import hostlink
from hostlink import protocols as P
from hostlink.bundled import bundled_model
from hostlink.emulator.camera import open_camera
from hostlink.emulator.link import EmulatorLink, parse_emu_url
from hostlink.emulator.profiles import BOARD_NAMES, get_profile
from hostlink.errors import ConfigError, ModelRefused
from hostlink.testing.synth_models import GraphBuilder, tiny_int8_model


def _avgpool_model() -> bytes:
    """INT8 and small, but with SPACE_TO_DEPTH, which Sony's converter refused
    (hostlink/data/imx500_layers.json); tflite-micro runs it."""
    from ai_edge_litert import schema_py_generated as fb

    g = GraphBuilder(int8=True, seed=3)
    x = g.conv2d(g.input((1, 8, 8, 3)), 8, 3)
    y = g._activation((1, 4, 4, 32), "space_to_depth", g.meta[x].scale)
    opt = fb.SpaceToDepthOptionsT()
    opt.blockSize = 2
    g.op("SPACE_TO_DEPTH", [x], [y], options_type=fb.BuiltinOptions.SpaceToDepthOptions, options=opt)
    return g.build([g.dequantize(g.fully_connected(y, 4))])


def test_profiles_and_unknown_board():
    assert set(BOARD_NAMES) == {"imx500", "coralmicro", "spresense"}
    with pytest.raises(ConfigError, match="unknown board 'esp32'") as e:
        get_profile("esp32")
    assert "imx500" in str(e.value)
    with pytest.raises(ConfigError, match="unknown board"):
        hostlink.connect("emu:esp32")


@pytest.mark.parametrize("board", ["imx500", "coralmicro", "spresense"])
def test_float_model_is_refused_naming_the_ops(board, float_model):
    with hostlink.connect(f"emu:{board}") as dev:
        with pytest.raises(ModelRefused, match="INT8 models only") as e:
            dev.upload(float_model, name="float")
        assert e.value.code == P.ErrorCode.MODEL_NOT_INT8
        assert "CONV_2D" in e.value.message and "quantize" in e.value.hint
        assert not dev.model_info().loaded


def test_unsupported_op_is_refused_on_imx500_and_runs_on_coralmicro():
    model = _avgpool_model()
    with hostlink.connect("emu:imx500") as dev:
        with pytest.raises(ModelRefused, match="cannot run op SPACE_TO_DEPTH") as e:
            dev.upload(model, name="pool")
        assert e.value.code == P.ErrorCode.MODEL_OP_UNSUPPORTED
    with hostlink.connect("emu:coralmicro") as dev:
        assert dev.upload(model, name="pool").loaded


def test_model_larger_than_the_store_is_refused_before_any_chunk(mocker):
    big = tiny_int8_model(classes=9000)  # ~4.6 MB of FC weights; the spresense store holds 4 MiB
    link = EmulatorLink("spresense")
    chunk = mocker.spy(link.board, "_model_chunk")
    dev = hostlink.Device(link)
    dev.hello()
    with pytest.raises(ModelRefused, match="model store holds 4096 KB") as e:
        dev.upload(big, name="big")
    assert e.value.code == P.ErrorCode.MODEL_TOO_LARGE
    assert chunk.call_count == 0


def test_model_whose_arena_does_not_fit_is_refused():
    with hostlink.connect("emu:spresense") as dev:
        with pytest.raises(ModelRefused, match="768 KB") as e:
            dev.upload(bundled_model("tinytracker_int8.tflite"))
        assert e.value.code == P.ErrorCode.MODEL_ARENA_TOO_LARGE


def test_edgetpu_model_is_refused_by_the_emulator(tiny_model):
    with hostlink.connect("emu:coralmicro") as dev:
        with pytest.raises(ModelRefused, match="Edge TPU") as e:
            dev.upload(tiny_model, fmt="edgetpu-tflite")
        assert e.value.code == P.ErrorCode.MODEL_FORMAT_UNSUPPORTED


@pytest.mark.parametrize("url, expected", [
    ("emu:imx500", {"capture": 17.9, "inference": 0.86, "transfer": 0.24}),
    # the paper's Coral figure is an Edge TPU figure (docs/timing-model.md): capture is one HM01B0
    # frame at 51 fps, preprocess modelled, inference the calibrated remainder of 34.4 ms
    ("emu:coralmicro?path=edgetpu", {"capture": 19.61, "preprocess": 2.62, "inference": 11.97, "transfer": 0.2}),
])
def test_tinytracker_timing_matches_the_paper(url, expected):
    with hostlink.connect(url) as dev:
        dev.upload(bundled_model("tinytracker_int8.tflite"))
        frames = dev.capture(count=3)
    for r in frames:
        assert {k: round(v.duration_ms, 2) for k, v in r.stages.items()} == expected
        assert r.total_ms == pytest.approx(19.0 if "imx500" in url else 34.4, abs=0.01)


def test_timing_scales_with_the_model():
    """IMX500 DSP: a per-network overhead plus MACs at the fitted throughput, not MACs alone."""
    from hostlink.emulator.stages import dsp_fit

    fit = dsp_fit()
    medium = tiny_int8_model((1, 32, 32, 3), channels=32)  # ~1 M MACs: inference lasts many 1 us ticks
    with hostlink.connect("emu:imx500") as dev:
        big_macs = dev.upload(bundled_model("tinytracker_int8.tflite")).macs
        big = dev.capture()[0].stages["inference"].duration_ms
        small_macs = dev.upload(medium, name="medium").macs
        small = dev.capture()[0].stages["inference"].duration_ms
    assert small_macs < big_macs / 5
    for macs, ms in ((big_macs, big), (small_macs, small)):
        assert ms == pytest.approx((fit.network_us + macs / fit.macs_per_us) / 1000, abs=0.002)
    assert small > big * small_macs / big_macs  # the overhead does not shrink with the model


def test_stages_are_ordered_and_contiguous_on_the_board_clock(tiny_model):
    with hostlink.connect("emu:coralmicro") as dev:
        dev.upload(tiny_model, name="tiny")
        frames = dev.capture(count=4, period_us=50_000)
    order = list(dev.info.stages)
    for r in frames:
        assert list(r.stages) == order
        spans = [r.stages[n] for n in order]
        assert all(a.end_us == b.start_us for a, b in zip(spans, spans[1:]))
        assert all(s.end_us > s.start_us for s in spans)
    starts = [r.stages[order[0]].start_us for r in frames]
    assert np.diff(starts).tolist() == [50_000.0] * 3  # the period, on the board clock
    assert [r.frame for r in frames] == [0, 1, 2, 3] and {r.count for r in frames} == {4}


def test_timeline_records_each_stage_with_its_power(tiny_model):
    link = EmulatorLink("imx500")
    dev = hostlink.Device(link)
    dev.hello()
    dev.upload(tiny_model, name="tiny")
    link.board.timeline.clear()
    dev.capture(count=2)
    stages = [s.stage for s in link.board.timeline if s.stage != P.Stage.IDLE]
    assert stages == [P.Stage.CAPTURE, P.Stage.INFERENCE, P.Stage.TRANSFER] * 2
    assert all(s.power_mw > 0 for s in link.board.timeline)


def test_inference_is_real_and_deterministic(tiny_model):
    x = np.random.default_rng(1).integers(-128, 127, (1, 8, 8, 3), dtype=np.int8)
    outs = []
    for board in ("imx500", "coralmicro"):
        with hostlink.connect(f"emu:{board}") as dev:
            dev.upload(tiny_model, name="tiny")
            outs.append(dev.capture(input=x)[0].outputs[0])
            other = dev.capture(input=-x)[0].outputs[0]
    assert np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], other)


def test_tflm_engine_agrees_with_litert():
    model = tiny_int8_model((1, 16, 16, 3), channels=16)
    x = np.random.default_rng(2).integers(-128, 127, (1, 16, 16, 3), dtype=np.int8)
    res, specs = {}, {}
    for engine in ("litert", "tflm"):
        with hostlink.connect(f"emu:coralmicro?engine={engine}") as dev:
            dev.upload(model, name="tiny")
            specs[engine] = (dev.model.inputs, dev.model.outputs)
            res[engine] = dev.capture(input=x)[0].outputs[0]
    assert specs["tflm"] == specs["litert"]  # names, dtypes, shapes, scales, zero points
    assert specs["tflm"][0][0].scale > 0
    assert np.array_equal(res["tflm"], res["litert"])  # both run the integer reference kernels


def test_sensor_frames_from_image_files(tmp_path, tiny_model):
    import cv2

    for i, colour in enumerate([(0, 0, 0), (255, 255, 255), (0, 0, 255)]):
        img = np.zeros((60, 80, 3), np.uint8)
        img[:] = colour
        cv2.imwrite(str(tmp_path / f"{i}.png"), img)
    with hostlink.connect(f"emu:imx500?camera={tmp_path}") as dev:
        dev.upload(tiny_model, name="tiny")
        frames = dev.capture(count=4)
    outs = [r.outputs[0].tobytes() for r in frames]
    assert outs[0] != outs[1] and outs[0] == outs[3]  # three images, in turn


def test_camera_source_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        open_camera(str(tmp_path / "clip.mp4"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        open_camera(str(tmp_path / "empty"))


def test_emu_addresses():
    assert parse_emu_url("emu:imx500") == ("imx500", {})
    assert parse_emu_url("emu://coralmicro?realtime=1&engine=tflm&camera=x.mp4") == (
        "coralmicro", {"realtime": True, "engine": "tflm", "camera": "x.mp4"})
    assert parse_emu_url("emu:coralmicro?path=edgetpu&jitter=0.02&seed=7") == (
        "coralmicro", {"path": "edgetpu", "jitter": 0.02, "seed": 7})
    with pytest.raises(ConfigError, match="unknown emulator option 'speed'"):
        parse_emu_url("emu:imx500?speed=2")
    with pytest.raises(ConfigError, match="no board"):
        parse_emu_url("emu:")


def test_device_info_describes_the_profile():
    with hostlink.connect("emu:spresense?realtime=1") as dev:
        i = dev.info
    p = get_profile("spresense")
    assert (i.board, i.max_payload, i.link_bps, i.proto_version) == ("spresense", p.max_payload, 921_600, 1)
    assert {"EMULATED", "REALTIME", "SENSOR_CAPTURE", "HOST_INPUT"} <= i.capabilities
    assert i.formats == ("tflite",) and i.memory["main_core_sram"] == 768 * 1024
    assert i.stages == ("capture", "preprocess", "inference", "transfer")


def test_commit_verifies_the_whole_image(tiny_model):
    """A board-level check the host cannot see: chunks that frame correctly but carry the wrong bytes."""
    link = EmulatorLink("imx500")
    dev = hostlink.Device(link)
    dev.hello()
    dev.upload(tiny_model, name="good")
    bad = bytearray(tiny_model)
    bad[100] ^= 0xFF
    from hostlink.protocols import messages as M

    dev._request(P.MsgType.MODEL_BEGIN, M.ModelBegin.build(dict(size=len(bad), crc32=zlib.crc32(tiny_model),
                                                                format="TFLITE", name="evil")), "begin", 1.0)
    dev._request(P.MsgType.MODEL_CHUNK, M.ModelChunk.build(dict(offset=0, data=bytes(bad))), "chunk", 1.0)
    with pytest.raises(hostlink.errors.DeviceError, match="data was corrupted in transit") as e:
        dev._request(P.MsgType.MODEL_COMMIT, M.ModelCommit.build(dict(crc32=zlib.crc32(tiny_model))), "commit", 1.0)
    assert e.value.code == P.ErrorCode.MODEL_CRC_MISMATCH
    assert link.board.active.name == "good"
