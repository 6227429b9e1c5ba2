"""Accuracy runs through a board: every sample as a host-supplied INT8 input, every output checked
bit for bit against the host reference interpreter running the same model on the same tensor,
task metrics from the board's outputs. Resumable: progress lives in ``OUT/state.json``.

State is written atomically (temp file + rename) every ``checkpoint`` samples and when the run
stops for any reason; ``OUT/samples.jsonl`` holds one line per scored sample and is cut back to
the state's count on resume, so lines written after the last checkpoint are redone, not doubled.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..bundled import bundled_model
from ..client import model_format_for, read_model_file
from ..emulator.inference import LiteRTEngine
from ..errors import ConfigError, HostlinkError
from ..protocols import ModelFormat
from .boardcall import ensure_model
from .energy import EnergyMeter
from .datasets import Dataset
from .gaze import DEFAULT_MODEL as GAZE_MODEL
from .gazeinput import GazeInputBuilder
from .metrics import GazeMetrics, SegmentationMetrics
from .segment import DEFAULT_MODEL as SEGMENT_MODEL
from .segment import SegmentRunner, fov_mask

STATE_VERSION = 1


class OutputMismatch(HostlinkError):
    """The board's outputs differ from the host reference run of the same INT8 model."""

    exit_code = 5


@dataclass
class EvalState:
    task: str
    data: str
    model: str
    model_sha256: str
    board: str
    total: int
    scoring: dict = field(default_factory=dict)  # settings the metrics depend on (threshold, fov, scale)
    done: int = 0
    checked: int = 0
    mismatches: list = field(default_factory=list)  # [{id, output, max_abs_diff}]
    metrics: dict = field(default_factory=dict)
    board_ms: dict = field(default_factory=dict)  # stage -> summed ms
    #: with a monitor: sums over the measured inferences (inferences, mJ, error bound mJ, busy ms,
    #: mJ per stage) and the count of inferences the monitor lost
    energy: dict = field(default_factory=dict)
    started: str = ""
    elapsed_s: float = 0.0

    def save(self, out: Path) -> None:
        tmp = out / "state.json.tmp"
        tmp.write_text(json.dumps(dict(version=STATE_VERSION, **self.__dict__), indent=1) + "\n")
        os.replace(tmp, out / "state.json")

    @classmethod
    def load(cls, out: Path) -> "EvalState":
        try:
            d = json.loads((out / "state.json").read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read {out / 'state.json'}: {err}", "start a fresh run with a new --out") from None
        if d.pop("version", None) != STATE_VERSION:
            raise ConfigError(f"{out / 'state.json'} was written by another hostlink version", "start a fresh run with a new --out")
        return cls(**d)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.size == b.size and a.tobytes() == b.tobytes()


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    try:
        return float(np.max(np.abs(a.astype(np.float64).ravel() - b.astype(np.float64).ravel())))
    except ValueError:
        return float("nan")


class Evaluator:
    """Streams ``dataset`` through ``dev``; ``run()`` returns the final state."""

    def __init__(self, dev, dataset: Dataset, out: Path, *, model: str | Path | None = None, resume: bool = False,
                 checkpoint: int = 20, threshold: float = 0.5, scale: int | None = None, fov: bool = False,
                 monitor: str | None = None):
        self.dev, self.dataset, self.out = dev, dataset, Path(out)
        self.checkpoint = checkpoint
        self.fov = fov
        path = Path(model) if model else bundled_model(GAZE_MODEL if dataset.task == "gaze" else SEGMENT_MODEL)
        fresh = EvalState(task=dataset.task, data=str(getattr(dataset, "root", dataset.name)), model=path.name,
                          model_sha256=_sha(read_model_file(path)), board=dev.info.board, total=len(dataset),
                          scoring=dict(threshold=threshold, fov=fov, scale=scale) if dataset.task == "segment" else {},
                          started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.out.mkdir(parents=True, exist_ok=True)
        have = (self.out / "state.json").is_file()
        if resume:
            if not have:
                raise ConfigError(f"nothing to resume in {self.out} (no state.json)", "drop --resume to start a run there")
            self.state = EvalState.load(self.out)
            for key in ("task", "model_sha256", "total", "scoring"):
                if getattr(self.state, key) != getattr(fresh, key):
                    raise ConfigError(f"the run in {self.out} has {key} {getattr(self.state, key)!r}, this one "
                                      f"{getattr(fresh, key)!r}", "resume with the same --data and --model, or use a new --out")
            self._trim_samples(self.state.done)
        else:
            if have:
                old = EvalState.load(self.out)
                raise ConfigError(f"{self.out} already holds a run ({old.done} of {old.total} samples)",
                                  "continue it with --resume, or choose another --out")
            self.state = fresh
            (self.out / "samples.jsonl").write_text("")
        # the run folder is settled: only now spend the upload
        self.model_path, self.model_bytes, self.model = ensure_model(dev, path, path.name)
        # the reference interpreter runs TFLite; a network compiled for a sensor (IMX500 .rpk or
        # packerOut) has no host interpreter: its outputs are scored, not compared bit for bit
        fmt = model_format_for(self.model_bytes, str(self.model_path))
        self.reference = LiteRTEngine(self.model_bytes) if fmt in (ModelFormat.TFLITE, ModelFormat.EDGETPU_TFLITE) else None
        self.meter = None
        if dataset.task == "gaze":
            self.builder = GazeInputBuilder(self.model.inputs[0])
            self.metrics = GazeMetrics.from_state(self.state.metrics) if self.state.metrics else GazeMetrics()
            self.meter = EnergyMeter.open(monitor, dev) if monitor else None
        elif dataset.task == "segment":
            self.runner = SegmentRunner(dev, self.model_path, scale=scale, keep_tiles=True, monitor=monitor)
            self.meter = self.runner.meter
            self.metrics = (SegmentationMetrics.from_state(self.state.metrics) if self.state.metrics
                            else SegmentationMetrics(threshold))
        else:
            raise ConfigError(f"unknown task {dataset.task!r}")

    def _trim_samples(self, keep: int) -> None:
        path = self.out / "samples.jsonl"
        lines = path.read_text().splitlines(keepends=True) if path.is_file() else []
        path.write_text("".join(lines[:keep]))

    def _check(self, sample_id: str, x: np.ndarray, board_outputs: list[np.ndarray]) -> bool | None:
        if self.reference is None:
            return None  # nothing to compare with (see __init__)
        ref = self.reference.run([x])
        self.state.checked += 1
        ok = True
        for i, (b, r) in enumerate(zip(board_outputs, ref)):
            if not _same_bits(b, r):
                ok = False
                if len(self.state.mismatches) < 100:
                    self.state.mismatches.append(dict(id=sample_id, output=i, max_abs_diff=_max_diff(b, r)))
        if len(board_outputs) != len(ref):
            ok = False
        return ok

    def _add_board_ms(self, captures) -> None:
        for r in captures:
            for k, v in r.stages.items():
                self.state.board_ms[k] = self.state.board_ms.get(k, 0.0) + v.duration_ms

    def _gaze_sample(self, s) -> dict:
        face = s.face
        if self.builder.grey:
            face = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
        if face.shape[0] != self.builder.size:
            face = cv2.resize(face, (self.builder.size, self.builder.size), interpolation=cv2.INTER_AREA)
        x = self.builder.from_face(face, s.box)
        r = self.dev.capture(input=x)[0]
        energy = {}
        if self.meter is not None:
            self.meter.submit(0, r)
            fe = dict(self.meter.finish(self.dev)).get(0)
            self._add_energy([fe])
            energy = dict(energy=None, energy_missing=True) if fe is None else dict(energy=fe.to_json())
        exact = self._check(s.id, x, r.outputs)
        self._add_board_ms([r])
        pred = r.dequantized()[0].reshape(-1)[:2]
        err = self.metrics.add(pred, s.target_cm)
        return dict(id=s.id, pred_cm=[round(float(v), 4) for v in pred], target_cm=list(s.target_cm),
                    error_cm=round(err, 4), bit_exact=exact, **energy)

    def _add_energy(self, energies) -> None:
        e = self.state.energy
        for fe in energies:
            if fe is None:
                e["without"] = e.get("without", 0) + 1
                continue
            e["n"] = e.get("n", 0) + 1
            for key, v in (("energy_mj", fe.energy_mj), ("err_bound_mj", fe.err_bound_mj), ("duration_ms", fe.duration_ms)):
                e[key] = e.get(key, 0.0) + v
            stages = e.setdefault("stages_mj", {})
            for k, v in fe.stages.items():
                stages[k] = stages.get(k, 0.0) + v["energy_mj"]
        if self.meter is not None and self.meter.idle_mw is not None:
            e["idle_mw"] = self.meter.idle_mw

    def _segment_sample(self, s) -> dict:
        res = self.runner.predict(s.image)
        checks = [self._check(s.id, x, outs) for x, outs in res.tiles]
        exact = None if self.reference is None else all(checks)
        self._add_board_ms(res.captures)
        if self.meter is not None:
            self._add_energy(res.tile_energy)
        mask = None
        if self.fov:
            mask = s.fov if s.fov is not None else fov_mask(s.image)
        one = self.metrics.add(res.prob, s.label, mask)
        return dict(id=s.id, tiles=len(res.tiles), bit_exact=exact,
                    **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in one.items()}, **res.energy_json())

    def run(self, progress=None, limit: int | None = None) -> EvalState:
        st = self.state
        t0 = time.perf_counter() - st.elapsed_s
        one = self._gaze_sample if self.dataset.task == "gaze" else self._segment_sample
        stop = st.total if limit is None else min(st.total, st.done + limit)
        try:
            with open(self.out / "samples.jsonl", "a") as log:
                for sample in self.dataset.samples(st.done):
                    if st.done >= stop:
                        break
                    log.write(json.dumps(one(sample)) + "\n")
                    st.done += 1
                    if st.done % self.checkpoint == 0:
                        log.flush()
                        self._save(t0)
                    if progress:
                        progress(st.done, st.total)
        finally:
            self._save(t0)
        return st

    def _save(self, t0: float) -> None:
        self.state.metrics = self.metrics.state()
        self.state.elapsed_s = time.perf_counter() - t0
        self.state.save(self.out)

    def summary(self) -> dict:
        st = self.state
        m = self.metrics.summary()
        done = max(1, st.done)
        return dict(task=st.task, data=st.data, model=st.model, board=st.board, samples=st.done, total=st.total,
                    complete=st.done >= st.total, bit_exact=dict(checked=st.checked, mismatched=len(st.mismatches)),
                    metrics=m, board_ms_per_sample={k: v / done for k, v in st.board_ms.items()},
                    energy=self.energy_summary(), elapsed_s=round(st.elapsed_s, 2), out=str(self.out))

    def energy_summary(self) -> dict | None:
        """Means per inference over the whole run (resumed parts included); None without a monitor."""
        if self.meter is None:
            return None
        e = self.state.energy
        n = e.get("n", 0)
        per = lambda key: round(e[key] / n, 5) if n and key in e else None  # noqa: E731
        return dict(monitor=self.meter.monitor.info.model, address=self.meter.address,
                    inferences_measured=n, inferences_without_energy=e.get("without", 0), dropped=self.meter.dropped,
                    energy_per_inference_mj=per("energy_mj"), err_bound_mj=per("err_bound_mj"),
                    mean_mw=round(e["energy_mj"] / e["duration_ms"] * 1e3, 3) if n and e.get("duration_ms") else None,
                    stages_mj={k: round(v / n, 5) for k, v in e.get("stages_mj", {}).items()} if n else {},
                    idle_mw=None if e.get("idle_mw") is None else round(e["idle_mw"], 3))

    def notice(self) -> str | None:
        return None if self.meter is None else self.meter.notice()

    def close(self) -> None:
        if self.meter is not None:
            self.meter.close()


def check_bit_exact(summary: dict, state: EvalState) -> None:
    """Raise OutputMismatch if any board output differed from the host reference run."""
    if state.mismatches:
        first = state.mismatches[0]
        raise OutputMismatch(f"{len(state.mismatches)} board output(s) differ from the host reference run of "
                             f"{state.model} (first: sample {first['id']}, output {first['output']}, "
                             f"max |diff| {first['max_abs_diff']:.6g})",
                             "the board's kernels disagree with the reference INT8 kernels: compare per-op outputs "
                             "with the emulator (engine=tflm for MCU kernels), and check the firmware version")
