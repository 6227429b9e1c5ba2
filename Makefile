# hostlink: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test bench calibrate vectors firmware fuzz models imx500-env clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## setup: create .venv and install hostlink with its test tools
setup: $(STAMP)

## demo: upload the bundled model to each emulated board, capture, print the per-stage table
demo: setup
	$(BIN)/hostlink demo

## test: everything CI runs (installs the cross compiler, clang and qemu first if missing)
test: setup
	sh tools/setup-firmware-toolchain.sh
	$(BIN)/python tools/gen_vectors.py --check
	$(BIN)/python tools/gen_c_header.py --check
	$(MAKE) -C firmware PYTHON=$(abspath $(BIN)/python)
	$(BIN)/python -m pytest -n auto

## firmware: the C board core: Linux port, Cortex-M7/M4F cross builds, size table
firmware: setup
	sh tools/setup-firmware-toolchain.sh
	$(MAKE) -C firmware PYTHON=$(abspath $(BIN)/python)

## fuzz: libFuzzer on the C frame parser for FUZZ_SECONDS (default 600)
fuzz: setup
	sh tools/setup-firmware-toolchain.sh
	$(MAKE) -C firmware fuzz PYTHON=$(abspath $(BIN)/python)

## bench: the benchmarks quoted in the README (ppk2-api is installed as the decode peer)
bench: setup
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/bench_spine.py
	$(BIN)/python bench/bench_ppk2_decode.py
	$(BIN)/python bench/bench_upload_noisy.py
	test ! -f bench/bench_gaze.py || $(BIN)/python bench/bench_gaze.py
	$(BIN)/python bench/bench_farm.py
	$(BIN)/python tools/calibrate.py --check

## calibrate: fit the per-layer cost model to the public measurements, print every row with its
## leave-one-out error, write hostlink/data/calibration/fitted.json
calibrate: setup
	$(BIN)/python tools/calibrate.py

## models: rebuild the bundled INT8 models and their cards (TensorFlow in its own .venv-train)
models: setup
	test -x .venv-train/bin/python || $(PYTHON) -m venv .venv-train
	.venv-train/bin/python -m pip install --quiet -r tools/requirements-train.txt
	.venv-train/bin/python tools/models/build.py --model all

## imx500-env: Sony's MCT + imx500-converter (TensorFlow 2.15, Java) for `hostlink convert --board imx500`
imx500-env:
	test -x .venv-imx500/bin/python || $(PYTHON) -m venv .venv-imx500
	.venv-imx500/bin/python -m pip install --quiet -r tools/requirements-imx500.txt

## imx500-layers: ask Sony's converter which layers the IMX500 takes (one small model each) and
## rewrite hostlink/data/imx500_layers.json; IMX500_KERAS="a.h5 b.h5" adds whole float Keras networks
## (IMX500_KERAS_SOURCE says where they were published; docs/models.md)
.PHONY: imx500-layers
imx500-layers: setup
	test -x .venv-imx500/bin/imxconv-tf || $(MAKE) imx500-env
	.venv-imx500/bin/python tools/imx500_layer_probe.py probe --out build/imx500_layers $(foreach f,$(IMX500_KERAS),--keras $(f))
	$(BIN)/python tools/imx500_layer_probe.py collect build/imx500_layers --write hostlink/data/imx500_layers.json \
		$(if $(IMX500_KERAS_SOURCE),--keras-source "$(IMX500_KERAS_SOURCE)")

## vectors: regenerate protocols/vectors after a reviewed protocol change
vectors: setup
	$(BIN)/python tools/gen_vectors.py

clean:
	rm -rf $(VENV) build firmware/build *.egg-info .pytest_cache
