"""Write hostlink/data/calibration/measurements.csv from the MLPerf Tiny results repositories.

Every figure is read from the results files themselves (``performance/results.txt``: "Median
throughput is X inf./sec."; ``energy/results.txt``: "Median energy cost is Y uJ/inf.") and the
clock from the board's ``systems/*.json``. MACs are hostlink's own count of the reference model
(``hostlink.models.analyze``), or of the network a submission's published generated code runs
where that differs (ONNC's v1.1 VWW: a channel-pruned MobileNet, written to
``hostlink/data/calibration/networks/`` as layer shapes and as the .tflite built from them).
The repositories are git clones at the commits in ``REPOS``:

    python tools/harvest_calibration.py --repos DIR   # DIR/tiny_results_v0.5 (a git dir) ...

``--repos`` holds one git directory per round (a bare clone or a checkout), named like the
repository (``tiny_results_v1.1``), or ``mlcommons+tiny_results_v1.1/repo`` as the ``fetch``
tool lays them out. CI never runs this: the CSV it writes is committed, and ``make calibrate``
fits it.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hostlink.models import analyze  # noqa: E402
from hostlink.testing.synth_models import network_from_spec  # noqa: E402

OUT = ROOT / "hostlink/data/calibration/measurements.csv"
REF = "hostlink/data/reference_models/mlperf_tiny"
TINY = "mlcommons/tiny@1afd2c9820f795965a6134facd0b4dfae41ef23f"

#: Pinned commits of every results repository read.
REPOS = {
    "v0.5": "d75aef63526dcbb30632f0529411f0219ed1003e",
    "v0.7": "64623f41b6721bdff6d0133a524c63a003123b3b",
    "v1.0": "c7761cf84076d601c4a0ed2ecc51e77d40696ed2",
    "v1.1": "c32ef94d19429ef1d318e9c7a60002a4bd70e11b",
    "v1.2": "cadb362343f559d459e7cdb8748685ba76b9eb23",
    "v1.3": "cd605ea0981306693c9e19765a15801c776988dc",
}

MODELS = {
    "vww": ("vww_96_int8.tflite", "benchmark/training/visual_wake_words/trained_models/vww_96_int8.tflite"),
    "ic": ("pretrainedResnet_quant.tflite",
           "benchmark/training/image_classification/trained_models/pretrainedResnet_quant.tflite"),
    "kws": ("kws_ref_model.tflite", "benchmark/training/keyword_spotting/trained_models/kws_ref_model.tflite"),
    "ad": ("ad01_int8.tflite", "benchmark/training/anomaly_detection/trained_models/ad01_int8.tflite"),
}

# One line per closed-division submission on an Arm Cortex-M core: round, submitter folder,
# results folder (under closed/<submitter>/results/), systems json (under closed/<submitter>/),
# core, runtime key, runtime as the submission describes it, and an exclusion reason (empty =
# fitted). The runtime key names the software and its version: results of one version on boards
# with the same core pool in one (core, runtime) pair at their own clocks.
SUBMISSIONS = [
    # TF v2.3.1's TFLM is its own runtime: on the same board at the same clock the 2024 TFLM of
    # OTHER_ROWS (EdgeMark) runs VWW 1.56x faster, so the two cannot share one cycles-per-MAC.
    ("v0.5", "reference", "Nucleo-L4R5ZI", "systems/Nucleo_L4R5ZI_System_Description.json",
     "cortex-m4f", "tflm-cmsis-nn-2.3.1",
     "TFLM v2.3.1 with CMSIS-NN kernels (TF_MAKE_TAGS=cmsis-nn in code/reference_submissions/*/setup_example.sh)", ""),
    ("v0.7", "STMicroelectronics", "NUCLEO_L4R5ZI", "systems/NUCLEO_L4R5ZI/NUCLEO_L4R5ZI_system_description.json",
     "cortex-m4f", "x-cube-ai-7.1", "X-CUBE-AI v7.1.0", ""),
    ("v0.7", "STMicroelectronics", "NUCLEO-U575ZI-Q", "systems/NUCLEO-U575ZI-Q/NUCLEO-U575ZI-Q_system_description.json",
     "cortex-m33", "x-cube-ai-7.1", "X-CUBE-AI v7.1.0", ""),
    ("v0.7", "STMicroelectronics", "NUCLEO-H7A3ZI-Q", "systems/NUCLEO-H7A3ZI-Q/NUCLEO_H7A3ZI_Q_system_description.json",
     "cortex-m7", "x-cube-ai-7.1", "X-CUBE-AI v7.1.0", ""),
    ("v0.7", "renesas", "EK-RA6M4", "systems/EK-RA6M4_System_Description.json",
     "cortex-m33", "tflm-cmsis-nn",
     "TFLM with CMSIS-NN kernels (code/EK_RA6M4/src/tensorflow/lite/micro/kernels/conv.cc calls arm_nnfunctions)", ""),
    ("v0.7", "silicon_labs", "silicon_labs_xG24_DK2601B", "systems/silicon_labs_xG24_DK2601B.json",
     "cortex-m33+mvp", "tflm-mvp-gsdk-9e70b13",
     "TFLM 3e190e5 with Silicon Labs MVP accelerator kernels (Gecko SDK 9e70b13)", ""),
    ("v1.0", "silicon_labs", "silicon_labs_xG24_DK2601B", "systems/silicon_labs_xG24_DK2601B.json",
     "cortex-m33+mvp", "tflm-mvp-gsdk-4.1.1",
     "TFLM 10b1223 with Silicon Labs MVP accelerator kernels (Gecko SDK v4.1.1)", ""),
    ("v1.0", "OctoML", "microtvm_cmsis_nn/NRF5340-DK", "systems/system_description_NRF5340DK_microtvm_cmsis_nn.json",
     "cortex-m33", "microtvm-cmsis-nn", "microTVM e3a6cb6 with CMSIS-NN", ""),
    ("v1.0", "OctoML", "microtvm_cmsis_nn/NUCLEO_L4R5ZI", "systems/system_description_NUCLEO_L4R5ZI_microtvm_cmsis_nn.json",
     "cortex-m4f", "microtvm-cmsis-nn", "microTVM e3a6cb6 with CMSIS-NN", ""),
    ("v1.0", "OctoML", "microtvm_native/NUCLEO_L4R5ZI", "systems/system_description_NUCLEO_L4R5ZI_microtvm_native.json",
     "cortex-m4f", "microtvm-native", "microTVM e3a6cb6, TVM-generated kernels", ""),
    ("v1.0", "STMicroelectronics", "NUCLEO_L4R5ZI", "systems/NUCLEO_L4R5ZI/NUCLEO_L4R5ZI_system_description.json",
     "cortex-m4f", "x-cube-ai-7.3", "X-CUBE-AI v7.3.0", ""),
    ("v1.0", "STMicroelectronics", "NUCLEO-U575ZI-Q", "systems/NUCLEO-U575ZI-Q/NUCLEO-U575ZI-Q_system_description.json",
     "cortex-m33", "x-cube-ai-7.3", "X-CUBE-AI v7.3.0", ""),
    ("v1.0", "STMicroelectronics", "NUCLEO-H7A3ZI-Q", "systems/NUCLEO-H7A3ZI-Q/NUCLEO_H7A3ZI_Q_system_description.json",
     "cortex-m7", "x-cube-ai-7.3", "X-CUBE-AI v7.3.0", ""),
    ("v1.0", "plumerai", "NUCLEO_L4R5ZI", "systems/NUCLEO_L4R5ZI.json",
     "cortex-m4f", "plumerai-v1.0", "Plumerai Inference Engine (MLPerf Tiny v1.0 submission)", ""),
    ("v1.0", "plumerai", "cy8cproto_062_4343w", "systems/cy8cproto_062_4343w.json",
     "cortex-m4f", "plumerai-v1.0", "Plumerai Inference Engine (MLPerf Tiny v1.0 submission)", ""),
    ("v1.0", "plumerai", "B_U585I_IOT02A", "systems/B_U585I_IOT02A.json",
     "cortex-m33", "plumerai-v1.0", "Plumerai Inference Engine (MLPerf Tiny v1.0 submission)", ""),
    ("v1.0", "plumerai", "DISCO_F746NG", "systems/DISCO_F746NG.json",
     "cortex-m7", "plumerai-v1.0", "Plumerai Inference Engine (MLPerf Tiny v1.0 submission)", ""),
    ("v1.1", "Krai", "NRF5340-DK_MICROTVM-CMSIS-NN", "systems/NRF5340-DK_MICROTVM-CMSIS-NN.json",
     "cortex-m33", "microtvm-cmsis-nn", "microTVM e3a6cb6 with CMSIS-NN", ""),
    ("v1.1", "Krai", "NUCLEO-L4R5ZI_MICROTVM-CMSIS-NN", "systems/NUCLEO-L4R5ZI_MICROTVM-CMSIS-NN.json",
     "cortex-m4f", "microtvm-cmsis-nn", "microTVM e3a6cb6 with CMSIS-NN", ""),
    ("v1.1", "Krai", "NUCLEO-L4R5ZI_MICROTVM-NATIVE", "systems/NUCLEO-L4R5ZI_MICROTVM-NATIVE.json",
     "cortex-m4f", "microtvm-native", "microTVM e3a6cb6, TVM-generated kernels", ""),
    ("v1.1", "Krai", "NUCLEO-L4R5ZI_X-CUBE-AI-7.3", "systems/NUCLEO-L4R5ZI_X-CUBE-AI-7.3.json",
     "cortex-m4f", "x-cube-ai-7.3", "X-CUBE-AI v7.3.0", ""),
    ("v1.1", "Krai", "NUCLEO-H7A3ZI-Q_X-CUBE-AI-7.3", "systems/NUCLEO-H7A3ZI-Q_X-CUBE-AI-7.3.json",
     "cortex-m7", "x-cube-ai-7.3", "X-CUBE-AI v7.3.0", ""),
    ("v1.1", "Krai", "NUCLEO-L4R5ZI_X-CUBE-AI-8.0", "systems/NUCLEO-L4R5ZI_X-CUBE-AI-8.0.json",
     "cortex-m4f", "x-cube-ai-8.0", "X-CUBE-AI v8.0.0", ""),
    ("v1.1", "Krai", "NUCLEO-H7A3ZI-Q_X-CUBE-AI-8.0", "systems/NUCLEO-H7A3ZI-Q_X-CUBE-AI-8.0.json",
     "cortex-m7", "x-cube-ai-8.0", "X-CUBE-AI v8.0.0", ""),
    ("v1.1", "cTuning", "NUCLEO-L4R5ZI_MicroTVM_CMSIS_NN", "systems/NUCLEO-L4R5ZI_MicroTVM_CMSIS_NN.json",
     "cortex-m4f", "microtvm-cmsis-nn", "microTVM e3a6cb6 with CMSIS-NN", ""),
    ("v1.1", "cTuning", "NUCLEO-L4R5ZI_MicroTVM_Native", "systems/NUCLEO-L4R5ZI_MicroTVM_Native.json",
     "cortex-m4f", "microtvm-native", "microTVM e3a6cb6, TVM-generated kernels", ""),
    ("v1.1", "Nuvoton", "NUMAKER_M467HJ-zephyr", "systems/NUMAKER_M467HJ-zephyr.json",
     "cortex-m4f", "onnc", "ONNC with CMSIS_5 b966796 (Zephyr)", ""),
    ("v1.1", "Skymizer", "NUCLEO_L4R5ZI-mbed_os", "systems/NUCLEO_L4R5ZI-mbed_os.json",
     "cortex-m4f", "onnc", "ONNC with CMSIS_5 b966796 (Mbed OS)", ""),
    ("v1.1", "Skymizer", "NUCLEO_L4R5ZI-zephyr", "systems/NUCLEO_L4R5ZI-zephyr.json",
     "cortex-m4f", "onnc", "ONNC with CMSIS_5 b966796 (Zephyr)", ""),
    ("v1.1", "STMicroelectronics", "NUCLEO_L4R5ZI", "systems/NUCLEO_L4R5ZI.json",
     "cortex-m4f", "x-cube-ai-8.1", "X-CUBE-AI v8.1.0", ""),
    ("v1.1", "STMicroelectronics", "NUCLEO_U575ZI_Q", "systems/NUCLEO_U575ZI_Q.json",
     "cortex-m33", "x-cube-ai-8.1", "X-CUBE-AI v8.1.0", ""),
    ("v1.1", "STMicroelectronics", "NUCLEO_H7A3ZI_Q", "systems/NUCLEO_H7A3ZI_Q.json",
     "cortex-m7", "x-cube-ai-8.1", "X-CUBE-AI v8.1.0", ""),
    ("v1.1", "bosch", "NUCLEO_L4R5ZI", "systems/NUCLEO_L4R5ZI.json",
     "cortex-m4f", "bosch-hale-1.0", "Bosch HALE 1.0", ""),
    ("v1.1", "bosch", "NUCLEO_U575ZI", "systems/NUCLEO_U575ZI.json",
     "cortex-m33", "bosch-hale-1.0", "Bosch HALE 1.0", ""),
    ("v1.1", "bosch", "DISCO_F746NG", "systems/DISCO_F746NG.json",
     "cortex-m7", "bosch-hale-1.0", "Bosch HALE 1.0", ""),
    ("v1.1", "bosch", "NUCLEO_H7A3ZI", "systems/NUCLEO_H7A3ZI.json",
     "cortex-m7", "bosch-hale-1.0", "Bosch HALE 1.0", ""),
    ("v1.1", "bosch", "NUCLEO_G0B1RE", "systems/NUCLEO_G0B1RE.json",
     "cortex-m0plus", "bosch-hale-1.0", "Bosch HALE 1.0", ""),
    ("v1.1", "plumerai", "NUCLEO-L4R5ZI", "systems/NUCLEO-L4R5ZI.json",
     "cortex-m4f", "plumerai-2023.05", "Plumerai Inference Engine 2023.05", ""),
    ("v1.1", "plumerai", "CY8CPROTO-062-4343W", "systems/CY8CPROTO-062-4343W.json",
     "cortex-m4f", "plumerai-2023.05", "Plumerai Inference Engine 2023.05", ""),
    ("v1.1", "plumerai", "NUCLEO-U575ZI-Q", "systems/NUCLEO-U575ZI-Q.json",
     "cortex-m33", "plumerai-2023.05", "Plumerai Inference Engine 2023.05", ""),
    ("v1.1", "plumerai", "DISCO-F746NG", "systems/DISCO-F746NG.json",
     "cortex-m7", "plumerai-2023.05", "Plumerai Inference Engine 2023.05", ""),
    ("v1.1", "plumerai", "NUCLEO-H7A3ZI-Q", "systems/NUCLEO-H7A3ZI-Q.json",
     "cortex-m7", "plumerai-2023.05", "Plumerai Inference Engine 2023.05", ""),
    ("v1.2", "Renesas", "EK-RA8D1", "systems/EK-RA8D1.json",
     "cortex-m85", "tflm-cmsis-nn-mve", "TFLM with CMSIS-NN's Helium (MVE) kernels (code/EK-RA8D1/src/tflite-micro/cmsis_nn)", ""),
    ("v1.2", "STMicroelectronics", "NUCLEO_L4R5ZI", "systems/NUCLEO_L4R5ZI.json",
     "cortex-m4f", "x-cube-ai-9.0", "X-CUBE-AI v9.0", ""),
    ("v1.2", "STMicroelectronics", "NUCLEO_U575ZI_Q", "systems/NUCLEO_U575ZI_Q.json",
     "cortex-m33", "x-cube-ai-9.0", "X-CUBE-AI v9.0", ""),
    ("v1.2", "STMicroelectronics", "NUCLEO_H7A3ZI_Q", "systems/NUCLEO_H7A3ZI_Q.json",
     "cortex-m7", "x-cube-ai-9.0", "X-CUBE-AI v9.0.0", ""),
    ("v1.2", "bosch", "NUCLEO_L4R5ZI_int8", "systems/NUCLEO_L4R5ZI_int8.json",
     "cortex-m4f", "bosch-hale-1.0.175", "Bosch HALE 1.0.175", ""),
    ("v1.2", "bosch", "CY8CPROTO_062_4343W_int8", "systems/CY8CPROTO_062_4343W_int8.json",
     "cortex-m4f", "bosch-hale-1.0.175", "Bosch HALE 1.0.175", ""),
    ("v1.2", "bosch", "NUCLEO_U575ZI_int8", "systems/NUCLEO_U575ZI_int8.json",
     "cortex-m33", "bosch-hale-1.0.175", "Bosch HALE 1.0.175", ""),
    ("v1.2", "bosch", "DISCO_F746NG_int8", "systems/DISCO_F746NG_int8.json",
     "cortex-m7", "bosch-hale-1.0.175", "Bosch HALE 1.0.175", ""),
    ("v1.2", "bosch", "NUCLEO_H7A3ZI_int8", "systems/NUCLEO_H7A3ZI_int8.json",
     "cortex-m7", "bosch-hale-1.0.175", "Bosch HALE 1.0.175", ""),
    ("v1.2", "bosch", "NUCLEO_G0B1RE_int8", "systems/NUCLEO_G0B1RE_int8.json",
     "cortex-m0plus", "bosch-hale-1.0.175", "Bosch HALE 1.0.175", ""),
    ("v1.2", "bosch", "NUCLEO_L4R5ZI_int8_max_performance", "systems/NUCLEO_L4R5ZI_int8_max_performance.json",
     "cortex-m4f", "bosch-hale-1.0.175-max-performance", "Bosch HALE 1.0.175, max-performance build",
     "configuration variant submitted for AD only: one benchmark cannot separate the model's terms"),
    ("v1.2", "bosch", "CY8CPROTO_062_4343W_int8_max_performance", "systems/CY8CPROTO_062_4343W_int8_max_performance.json",
     "cortex-m4f", "bosch-hale-1.0.175-max-performance", "Bosch HALE 1.0.175, max-performance build",
     "configuration variant submitted for AD only: one benchmark cannot separate the model's terms"),
    ("v1.2", "bosch", "NUCLEO_U575ZI_int8_max_performance", "systems/NUCLEO_U575ZI_int8_max_performance.json",
     "cortex-m33", "bosch-hale-1.0.175-max-performance", "Bosch HALE 1.0.175, max-performance build",
     "configuration variant submitted for AD only: one benchmark cannot separate the model's terms"),
    ("v1.2", "bosch", "DISCO_F746NG_int8_max_performance", "systems/DISCO_F746NG_int8_max_performance.json",
     "cortex-m7", "bosch-hale-1.0.175-max-performance", "Bosch HALE 1.0.175, max-performance build",
     "configuration variant submitted for AD only: one benchmark cannot separate the model's terms"),
    ("v1.2", "bosch", "NUCLEO_H7A3ZI_int8_max_performance", "systems/NUCLEO_H7A3ZI_int8_max_performance.json",
     "cortex-m7", "bosch-hale-1.0.175-max-performance", "Bosch HALE 1.0.175, max-performance build",
     "configuration variant submitted for AD only: one benchmark cannot separate the model's terms"),
    ("v1.2", "bosch", "NUCLEO_H7A3ZI_int8_min_ram", "systems/NUCLEO_H7A3ZI_int8_min_ram.json",
     "cortex-m7", "bosch-hale-1.0.175-min-ram", "Bosch HALE 1.0.175, min-RAM build",
     "configuration variant submitted for IC only: one benchmark cannot separate the model's terms"),
    ("v1.3", "STMicroelectronics", "NUCLEO_L4R5ZI-P", "systems/NUCLEO_L4R5ZI-P.json",
     "cortex-m4f", "x-cube-ai-10.2", "X-CUBE-AI v10.2", ""),
    ("v1.3", "STMicroelectronics", "NUCLEO_U575ZI_Q", "systems/NUCLEO_U575ZI_Q.json",
     "cortex-m33", "x-cube-ai-10.2", "X-CUBE-AI v10.2", ""),
    ("v1.3", "STMicroelectronics", "NUCLEO_U385RG_Q", "systems/NUCLEO_U385RG_Q.json",
     "cortex-m33", "x-cube-ai-10.2", "X-CUBE-AI v10.2", ""),
    ("v1.3", "STMicroelectronics", "NUCLEO_U3C5ZIT6_Q", "systems/NUCLEO_U3C5ZIT6_Q.json",
     "cortex-m33+dsp", "stedge-ai-internal", "STEDGE-AI internal version, with the U3's DSP co-processor", ""),
]

#: Measurements published outside MLPerf Tiny. They are kept in the table with their sources;
#: the per-layer fit uses only runtimes with several benchmarks, so these carry an exclusion
#: reason and are printed as excluded.
PAPER_ROWS = [
    dict(id="tinytracker-imx500-inference", benchmark="tinytracker",
         source="Bonazzi et al., TinyTracker, arXiv 2307.07813, abstract (IMX500 inference 0.86 ms; "
                "end to end 19 ms / 4.9 mJ of which inference 0.06 mJ)",
         board="Raspberry Pi AI Camera (IMX500)", core="imx500-dsp", clock_mhz="", runtime="imx500-dsp",
         runtime_detail="Sony MCT + imx500-converter firmware on the IMX500's DSP",
         model="hostlink/data/models/tinytracker_int8.tflite",
         model_source="hostlink's retrained TinyTracker (same graph as the paper's, papers.md section 1)",
         measure="inference", latency_ms="0.86", energy_uj="60",
         reason="one measurement of its (core, runtime): no leave-one-out; the IMX500 timing is "
                "calibrated on it directly (IMX500 admission and timing, hostlink/models/admission.py)"),
    dict(id="tinytracker-imx500-end-to-end", benchmark="tinytracker",
         source="Bonazzi et al., TinyTracker, arXiv 2307.07813, abstract",
         board="Raspberry Pi AI Camera (IMX500)", core="imx500-dsp", clock_mhz="", runtime="imx500-dsp",
         runtime_detail="capture + readout + ISP + transfer 17.9 ms, inference 0.86 ms, result 0.24 ms",
         model="hostlink/data/models/tinytracker_int8.tflite",
         model_source="hostlink's retrained TinyTracker (same graph as the paper's, papers.md section 1)",
         measure="end-to-end", latency_ms="19", energy_uj="4900",
         reason="end-to-end frame time (capture to result), not inference alone"),
    dict(id="tinytrackers-spresense-end-to-end", benchmark="tinytrackers",
         source="Ruegg, Bonazzi, Ronco, Gaze Estimation on Spresense, arXiv 2308.12313, abstract "
                "(TinyTrackerS runs on the Spresense at 3 FPS)",
         board="Sony Spresense", core="cortex-m4f", clock_mhz="156", runtime="spresense-sdk",
         runtime_detail="Spresense SDK; the abstract does not name the inference runtime",
         model="hostlink/data/models/tinytrackers_int8.tflite",
         model_source="hostlink's retrained TinyTrackerS (same graph as the report's, papers.md section 1)",
         measure="end-to-end", latency_ms="333.3", energy_uj="",
         reason="end-to-end frame rate (3 frames per second, capture to result), not inference alone"),
    dict(id="tinytracker-coralmicro-end-to-end", benchmark="tinytracker",
         source="Bonazzi et al., TinyTracker, arXiv 2307.07813, abstract",
         board="Coral Dev Board Micro", core="edgetpu", clock_mhz="", runtime="edgetpu",
         runtime_detail="the abstract does not name the compute path; TFLM on the M7 cannot fit 34.4 ms, so it is the Edge TPU path (docs/calibration.md)",
         model="hostlink/data/models/tinytracker_int8.tflite",
         model_source="hostlink's retrained TinyTracker (same graph as the paper's, papers.md section 1)",
         measure="end-to-end", latency_ms="34.4", energy_uj="34200",
         reason="end-to-end frame time (capture to result), not inference alone"),
]

#: Measurements of the MLPerf Tiny reference networks published outside the MLPerf Tiny results
#: repositories, read from the pinned sources by hand (see docs/calibration.md, "Sources"). They are
#: fitted like the closed-division rows. The figures are typed here exactly as printed.
_EDGEMARK = ("AminHasanpour/EdgeMark@0d27198533b2b4b7f711f6c19ce8999de930f287 "
             "benchmarking_results/Experiments.xlsx, sheet '{sheet}', row TinyMLPerf_{net} / "
             "q_full_int_only, column 'Execution Time (ms)' (mean of 10 runs); clock: "
             "RCC.SYSCLKFreq_VALUE=120000000 in edgemark/Hardware/STM32/NUCLEO-L4R5ZI_TFLM.zip (.ioc)")
_EDGEMARK_MODEL = ("EdgeMark converts mlcommons/tiny's float reference models itself (full-integer "
                   "quantisation): the reference layers, not the reference INT8 file")
_HELIA = ("AmbiqAI/helia-rt@2dd83293cf77189ee178fc0e83d634f8e292acb8 docs/guides/toolchains.md, "
          "'Per-model results', {cc} figures (latency = PMU cycles / 192 MHz, mean of 10; energy: "
          "Joulescope, latency x average power); the next commit (538479f9) keeps only percentages")
_HELIA_DETAIL = ("heliaRT v1.13.1 ({cc}, -O3, MVE on): Ambiq's TFLM fork with its fork of CMSIS-NN's "
                 "Helium kernels; Ambiq's operator benchmarks (helia-rt@ac955446 "
                 "docs/reference/benchmarks/index.md) put its CONV_2D at 1.01x, DEPTHWISE_CONV_2D at 1.04x "
                 "and FULLY_CONNECTED at 1.34x upstream TFLM + CMSIS-NN, so it is a runtime of its own")
_HELIA_MODEL = ("'MLPerf Tiny v1.1 reference suite' per the page (Ambiq's profiler fixtures carry the "
                "reference names and sizes within 0.4 %; not byte-checked)")
_NETS = {"vww": "MBNet", "ic": "ResNet", "kws": "DS_CNN", "ad": "AE"}


def _other(rid, bench, source, board, core, clock, runtime, detail, model_source, ms, uj="", reason=""):
    return dict(id=rid, benchmark=bench, source=source, board=board, core=core, clock_mhz=clock,
                runtime=runtime, runtime_detail=detail, model=f"{REF}/{MODELS[bench][0]}",
                model_source=model_source, measure="inference", latency_ms=ms, energy_uj=uj,
                reason=reason)


OTHER_ROWS = [
    *[_other(f"edgemark-nucleo-l4r5zi-tflm-{b}", b, _EDGEMARK.format(sheet="TFLM + STM", net=_NETS[b]),
             "NUCLEO-L4R5ZI (EdgeMark)", "cortex-m4f", "120", "tflm-cmsis-nn",
             "TFLM with CMSIS-NN kernels as vendored in EdgeMark's NUCLEO-L4R5ZI_TFLM project "
             "(Core/Inc/TFLM_lib/.../kernels/cmsis_nn; models saved 2024-09-13; TFLM commit not stated)",
             _EDGEMARK_MODEL, ms)
      for b, ms in (("ad", "8.919107"), ("kws", "110.601826"), ("ic", "407.745715"), ("vww", "384.667509"))],
    *[_other(f"edgemark-nucleo-l4r5zi-eon-{b}", b, _EDGEMARK.format(sheet="EI + STM", net=_NETS[b]),
             "NUCLEO-L4R5ZI (EdgeMark)", "cortex-m4f", "120", "edge-impulse-eon",
             "Edge Impulse EON compiler (engine tflite-eon in edgemark/models/platforms/EI/EI_converter.py; "
             "SDK version not stated); no VWW figure, the model did not fit",
             _EDGEMARK_MODEL, ms)
      for b, ms in (("ad", "10.170682"), ("kws", "125.239589"), ("ic", "432.53735"))],
    *[_other(f"ambiq-apollo510-heliart-atfe-{b}", b, _HELIA.format(cc="ATfE 22.1"), "Apollo510 EVB",
             "cortex-m55", "192", "heliart-1.13.1", _HELIA_DETAIL.format(cc="ATfE 22.1"), _HELIA_MODEL,
             ms, uj)
      for b, ms, uj in (("kws", "9.42", "61.3"), ("vww", "34.11", "229.4"), ("ad", "0.687", "4.39"),
                        ("ic", "24.28", "159.0"))],
    *[_other(f"ambiq-apollo510-heliart-gcc-{b}", b, _HELIA.format(cc="arm-none-eabi-gcc 14.2"),
             "Apollo510 EVB", "cortex-m55", "192", "heliart-1.13.1",
             _HELIA_DETAIL.format(cc="arm-none-eabi-gcc 14.2"), _HELIA_MODEL, ms, uj,
             reason="the same runtime on the same board built with GCC 14.2: a build variant of the "
                    "ATfE rows, which are fitted (LLVM-based, like the EK-RA8D1's LLVM 17 build)")
      for b, ms, uj in (("kws", "10.43", "65.2"), ("vww", "38.99", "272.9"), ("ad", "0.719", "4.99"),
                        ("ic", "27.12", "197.7"))],
]

COLUMNS = ["id", "source", "board", "core", "clock_mhz", "runtime", "runtime_detail", "model",
           "model_source", "benchmark", "measure", "macs", "latency_ms", "energy_uj", "reason"]


def _git_dir(base: Path, rnd: str) -> Path:
    for cand in (base / f"tiny_results_{rnd}", base / f"mlcommons+tiny_results_{rnd}" / "repo"):
        if cand.exists():
            return cand
    raise SystemExit(f"harvest: no clone of tiny_results_{rnd} under {base}")


def _show(git: Path, commit: str, path: str) -> str | None:
    p = subprocess.run(["git", "-C", str(git), "show", f"{commit}:{path}"], capture_output=True)
    return p.stdout.decode("utf-8", "replace") if p.returncode == 0 else None


def _clock_mhz(system_text: str) -> float:
    m = re.search(r'"Processor\(s\) Frequencies"\s*:\s*"([\d.]+)\s*MHz"', system_text)
    if not m:
        raise SystemExit("harvest: no 'Processor(s) Frequencies' in a systems json")
    return float(m.group(1))


def _median(text: str, what: str) -> float | None:
    pat = {"throughput": r"Median throughput is\s+([\d.]+)\s*inf\./sec",
           "energy": r"Median energy cost is\s+([\d.]+)\s*uJ/inf"}[what]
    m = re.findall(pat, text)
    return float(m[-1]) if m else None


NETWORKS = "hostlink/data/calibration/networks"

# ONNC publishes the C it generated: one CMSIS-NN call per layer, each argument commented with its
# parameter name ("48 /* dim_im_in_x */"). Its v1.1 VWW code runs a channel-pruned MobileNet (3.75 M
# MACs, not the reference model's 7.49 M), so such a row is fitted with the network that ran.
_CALL = re.compile(r"^(arm_\w+)\((.*)\);\s*$", re.M)
_ARG = re.compile(r"([^,]+?)\s*/\*\s*(\w+)\s*\*/")


def _onnc_macs(code: str) -> int:
    """MACs of the dot-product calls in ONNC's generated code, from their output and kernel sizes."""
    total = 0
    for fn, args in _CALL.findall(code):
        a = {name: int(expr) for expr, name in _ARG.findall(args) if expr.strip().isdigit()}
        if fn.startswith(("arm_convolve", "arm_depthwise")):
            out = a.get("dim_im_out_x", a.get("dim_im_out", 0)) * a.get("dim_im_out_y", a.get("dim_im_out", 0))
            k = a.get("dim_kernel_x", a.get("dim_kernel", 0)) * a.get("dim_kernel_y", a.get("dim_kernel", 0))
            per = 1 if fn.startswith("arm_depthwise") else a.get("ch_im_in", 0)
            total += out * k * per * a.get("ch_im_out", 0)
        elif fn.startswith("arm_fully_connected"):
            total += a.get("dim_vec", 0) * a.get("num_of_rows", 0)
    return total


def _onnc_layers(code: str, where: str) -> tuple[list[int], list[dict]]:
    """(input HWC, layers) of ONNC's generated ``onnc_main.cpp``, in network-description form.
    ReLUs are left out: the converter fuses them into the convolution, as in the reference rows."""
    layers: list[dict] = []
    shape: list[int] | None = None
    for fn, args in _CALL.findall(code):
        a = {name: expr.strip() for expr, name in _ARG.findall(args)}

        def num(*keys):
            for k in keys:
                if k in a:
                    return int(a[k])
            raise SystemExit(f"harvest: {where}: {fn} has none of {keys}")

        if fn.startswith(("arm_convolve", "arm_depthwise")):
            kx, ky = num("dim_kernel_x", "dim_kernel"), num("dim_kernel_y", "dim_kernel")
            sx, sy = num("stride_x", "stride"), num("stride_y", "stride")
            if kx != ky or sx != sy:
                raise SystemExit(f"harvest: {where}: {fn} has a non-square kernel or stride")
            if shape is None:
                shape = [num("dim_im_in_y", "dim_im_in"), num("dim_im_in_x", "dim_im_in"), num("ch_im_in")]
            if fn.startswith("arm_depthwise"):
                layers.append({"op": "DEPTHWISE_CONV_2D", "kernel": kx, "stride": sx})
            else:
                layers.append({"op": "CONV_2D", "filters": num("ch_im_out"), "kernel": kx, "stride": sx})
        elif fn.startswith("arm_avepool"):
            layers.append({"op": "AVERAGE_POOL_2D", "pool": num("dim_kernel")})
        elif fn.startswith("arm_fully_connected"):
            layers.append({"op": "FULLY_CONNECTED", "units": num("num_of_rows")})
        elif fn.startswith("arm_softmax"):
            layers.append({"op": "SOFTMAX"})
        elif fn.startswith("arm_relu"):
            continue
        else:
            return [], []  # an op a network description cannot hold: keep the reference model
    return shape or [], layers


def _network_row(git: Path, rnd: str, commit: str, sub: str, folder: str, bench: str, ref_macs: int,
                 networks: dict) -> tuple[str, str, int] | None:
    """(model, model_source, macs) for a submission whose generated code runs another network than
    the reference model, else None. ``networks`` collects the descriptions to write."""
    path = f"closed/{sub}/code/{folder}/{bench}/{bench}01_code/onnc_main.cpp"
    code = _show(git, commit, path)
    if code is None or _onnc_macs(code) == ref_macs:
        return None
    shape, layers = _onnc_layers(code, path)
    if not layers:
        return None
    spec = {"input": shape, "layers": layers}
    macs = analyze(network_from_spec(spec)).macs
    if macs == ref_macs:
        return None
    name = f"onnc-{bench}-{rnd}.json"
    first = networks.setdefault(name, {
        "what": f"the {bench.upper()} network ONNC's generated code runs: a variant of the reference model "
                f"with {macs} MACs (layer shapes read from the CMSIS-NN calls; ReLUs fused)",
        "source": [], **spec})
    if {k: first[k] for k in ("input", "layers")} != spec:
        raise SystemExit(f"harvest: {path} runs another {bench} variant than {first['source'][0]}")
    first["source"].append(f"mlcommons/tiny_results_{rnd}@{commit} {path}")
    return f"{NETWORKS}/{Path(name).stem}.tflite", f"mlcommons/tiny_results_{rnd}@{commit} {path}", macs


def harvest(base: Path, networks: dict | None = None) -> list[dict]:
    macs = {b: analyze((ROOT / REF / f).read_bytes(), name=f).macs for b, (f, _) in MODELS.items()}
    networks = {} if networks is None else networks
    rows: list[dict] = []
    seen: dict[tuple, str] = {}
    for rnd, sub, folder, system, core, runtime, detail, reason in SUBMISSIONS:
        git, commit = _git_dir(base, rnd), REPOS[rnd]
        sys_path = f"closed/{sub}/{system}"
        sys_text = _show(git, commit, sys_path)
        if sys_text is None:
            raise SystemExit(f"harvest: {rnd} {sys_path} not found")
        clock = _clock_mhz(sys_text)
        for bench, (fname, tiny_path) in MODELS.items():
            perf_path = f"closed/{sub}/results/{folder}/{bench}/performance/results.txt"
            perf = _show(git, commit, perf_path)
            if perf is None:  # Silicon Labs names them performance_results.txt / energy_results.txt
                perf_path = perf_path.replace("/results.txt", "/performance_results.txt")
                perf = _show(git, commit, perf_path)
            if perf is None:
                continue
            thr = _median(perf, "throughput")
            if thr is None:
                raise SystemExit(f"harvest: {rnd} {perf_path} has no median throughput")
            energy_text = _show(git, commit, perf_path.replace("/performance/", "/energy/")
                                .replace("performance_results.txt", "energy_results.txt"))
            energy = _median(energy_text, "energy") if energy_text else None
            board = folder.split("/")[-1]
            rid = f"{rnd}-{sub}-{folder}-{bench}".lower().replace("_", "-").replace("/", "-")
            row_reason = reason
            key = (core, runtime, re.sub(r"[-_]", "", board.lower())[:12], bench, f"{thr:.3f}")
            if not row_reason and key in seen:
                row_reason = (f"replicate of {seen[key]} (same board, runtime and benchmark, identical "
                              "median throughput): counted once")
            seen.setdefault(key, rid)
            src = f"mlcommons/tiny_results_{rnd}@{commit} {perf_path}"
            if energy is not None:
                src += " (+ energy/results.txt)"
            model, model_source, row_macs = f"{REF}/{fname}", f"{TINY} {tiny_path}", macs[bench]
            variant = _network_row(git, rnd, commit, sub, folder, bench, macs[bench], networks)
            if variant:
                model, model_source, row_macs = variant
            rows.append(dict(
                id=rid, source=src + f"; clock and runtime: {sys_path}",
                board=board, core=core, clock_mhz=f"{clock:g}", runtime=runtime, runtime_detail=detail,
                model=model, model_source=model_source, benchmark=bench,
                measure="inference", macs=row_macs, latency_ms=f"{1000.0 / thr:.4f}",
                energy_uj="" if energy is None else f"{energy:g}", reason=row_reason))
    for extra in OTHER_ROWS + PAPER_ROWS:
        rows.append({**extra, "macs": analyze((ROOT / extra["model"]).read_bytes()).macs})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=Path, required=True,
                    help="folder holding the tiny_results_v* git clones")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    networks: dict = {}
    rows = harvest(args.repos, networks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, spec in networks.items():
        (ROOT / NETWORKS).mkdir(parents=True, exist_ok=True)
        # one layer per line, so a diff shows which layer changed
        body = ",\n".join(f"  {json.dumps(layer)}" for layer in spec["layers"])
        head = {k: v for k, v in spec.items() if k != "layers"}
        (ROOT / NETWORKS / name).write_text(json.dumps(head, indent=1)[:-2] + ',\n "layers": [\n'
                                            + body + "\n ]\n}\n")
        # the table names the built model: the cost model reads .tflite files only
        (ROOT / NETWORKS / name).with_suffix(".tflite").write_bytes(network_from_spec(spec))
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} rows -> {os.path.relpath(args.out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
