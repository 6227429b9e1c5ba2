// hl_port_coralmicro.cc: the hostlink board core on the Coral Dev Board Micro (i.MX RT1176 M7).
//
// UNTESTED ON HARDWARE: written against the coralmicro SDK's public headers (libs/cdc_acm,
// libs/camera, libs/tpu, libs/base, tflite-micro); it builds only inside that SDK (README.md).
//
//   link      its own USB CDC-ACM interface, added before the SDK enumerates (see main), bytes queued
//             by the USB task into a FreeRTOS stream buffer, drained by the protocol task
//   clock     TimerMicros()
//   markers   stage id on three header pins (J10 pins 5, 6, 7: SPI6_CS, SPI6_SCK, SPI6_SDO)
//   models    two 6 MiB SDRAM slots with two 4 MiB tensor arenas (A/B): the candidate is loaded into the
//             inactive slot and its own interpreter is built there; activation flips one index,
//             so a refused or corrupted model never disturbs the active one
//   camera    CameraTask in trigger mode, RGB at the model's input size (the SDK resizes),
//             then the shared preprocessing (ports/common/hl_preprocess.c)
//   inference tflite-micro MicroInterpreter with the TFLM builtins hostlink's coralmicro
//             profile admits, plus the Edge TPU custom op for *_edgetpu.tflite models
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "third_party/freertos_kernel/include/FreeRTOS.h"
#include "third_party/freertos_kernel/include/stream_buffer.h"
#include "third_party/freertos_kernel/include/task.h"
#include "third_party/tflite-micro/tensorflow/lite/micro/micro_error_reporter.h"
#include "third_party/tflite-micro/tensorflow/lite/micro/micro_interpreter.h"
#include "third_party/tflite-micro/tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "third_party/tflite-micro/tensorflow/lite/schema/schema_generated.h"
#include "third_party/tflite-micro/tensorflow/lite/schema/schema_utils.h"
// the SDK's own headers after the standard and tflite-micro ones: libs/base/gpio.h relies on
// declarations that gcc 9's headers pulled in transitively and newer ones do not
#include "libs/base/main_freertos_m7.h"
#include "libs/base/reset.h"
#include "libs/base/tasks.h"
#include "libs/base/timer.h"
#include "libs/base/utils.h"
#include "libs/camera/camera.h"
#include "libs/cdc_acm/cdc_acm.h"
#include "libs/tensorflow/utils.h"
#include "libs/tpu/edgetpu_manager.h"
#include "libs/tpu/edgetpu_op.h"
#include "libs/usb/usb_device_task.h"
#include "libs/base/gpio.h"

extern "C" {
#include "hl_core.h"
#include "hl_preprocess.h"
}

namespace {

// SDRAM for static buffers: the SDK's MIMXRT1176xxxxx_cm7_ram.ld gives m_sdram 48 MiB less the
// 16 MiB FreeRTOS heap = 32 MiB, shared with the code and data the image places there. Two 6 MiB
// model slots, two 4 MiB arenas, 3 MiB of input staging and the rx buffer take 23.05 MiB.
constexpr size_t kSlotBytes = 6u * 1024u * 1024u;    // per model; Edge TPU models for this board are smaller
constexpr size_t kArenaBytes = 4u * 1024u * 1024u;   // TinyTracker needs ~160 KB; detection models a few MiB
constexpr size_t kInputBytes = 1024u * 1024u;         // per host input / camera RGB scratch
constexpr size_t kRxBytes = 48u * 1024u;              // > 8 chunks of 4 KiB in flight (host window)
constexpr coralmicro::Gpio kMarkerPins[3] = {coralmicro::kSpiCs, coralmicro::kSpiSck, coralmicro::kSpiSdo};
// Emulator calibration for this board (hostlink/emulator/profiles.py, docs/timing-model.md): capture
// 21.7 ms, preprocess 2.6 ms, transfer 0.2 ms; inference is measured on the board at activation.
constexpr uint32_t kCameraUs = 21700u + 2600u + 200u;

STATIC_TENSOR_ARENA_IN_SDRAM(g_slots, 2 * kSlotBytes);
STATIC_TENSOR_ARENA_IN_SDRAM(g_arenas, 2 * kArenaBytes);
STATIC_TENSOR_ARENA_IN_SDRAM(g_host_inputs, HL_CFG_MAX_INPUTS * kInputBytes);
STATIC_TENSOR_ARENA_IN_SDRAM(g_rgb, kInputBytes);
STATIC_TENSOR_ARENA_IN_SDRAM(g_rx_storage, kRxBytes + 1);

// 40 builtins (AddBuiltins) + the Edge TPU custom op; registration is checked at start-up
constexpr unsigned kResolverOps = 41;
using Resolver = tflite::MicroMutableOpResolver<kResolverOps>;

// Each slot owns its image, its arena and its interpreter (placement-new into static storage).
struct Slot {
  alignas(tflite::MicroInterpreter) unsigned char storage[sizeof(tflite::MicroInterpreter)];
  tflite::MicroInterpreter* interpreter = nullptr;
};

Slot g_slot[2];
int g_active = -1;  // index of the running slot, -1 before the first model
Resolver g_resolver;
std::shared_ptr<coralmicro::EdgeTpuContext> g_tpu;
coralmicro::CdcAcm g_cdc;
StaticStreamBuffer_t g_rx_control;
StreamBufferHandle_t g_rx;
bool g_camera_on = false;

uint8_t* slot_image(int i) { return g_slots + static_cast<size_t>(i) * kSlotBytes; }
uint8_t* slot_arena(int i) { return g_arenas + static_cast<size_t>(i) * kArenaBytes; }
int staging_index() { return g_active == 0 ? 1 : 0; }

// The TFLM builtins the emulator's coralmicro profile admits (TFLM_OPS in profiles.py) and the Edge
// TPU custom op. Returns false when any registration fails (a full resolver, a duplicate).
bool AddOps(Resolver& r) {
  const TfLiteStatus s[] = {
      r.AddAdd(), r.AddAveragePool2D(), r.AddConcatenation(), r.AddConv2D(), r.AddDepthwiseConv2D(),
      r.AddDequantize(), r.AddFullyConnected(), r.AddHardSwish(), r.AddLogistic(), r.AddMaxPool2D(),
      r.AddMean(), r.AddMul(), r.AddPad(), r.AddQuantize(), r.AddRelu(), r.AddRelu6(), r.AddReshape(),
      r.AddResizeNearestNeighbor(), r.AddResizeBilinear(), r.AddSoftmax(), r.AddSub(), r.AddTanh(),
      r.AddTransposeConv(), r.AddStridedSlice(), r.AddSplit(), r.AddPack(), r.AddUnpack(), r.AddSqueeze(),
      r.AddLeakyRelu(), r.AddPrelu(), r.AddMaximum(), r.AddMinimum(), r.AddTranspose(), r.AddShape(),
      r.AddGather(), r.AddArgMax(), r.AddExpandDims(), r.AddCast(), r.AddSpaceToDepth(), r.AddDepthToSpace(),
      r.AddCustom(coralmicro::kCustomOp, coralmicro::RegisterCustomOp()),
  };
  static_assert(sizeof s / sizeof s[0] == kResolverOps, "the resolver holds exactly the ops registered here");
  for (TfLiteStatus x : s) {
    if (x != kTfLiteOk) return false;
  }
  return true;
}
bool g_ops_ok = false;

uint8_t DType(TfLiteType t) {
  switch (t) {
    case kTfLiteInt8: return HL_DTYPE_INT8;
    case kTfLiteUInt8: return HL_DTYPE_UINT8;
    case kTfLiteInt16: return HL_DTYPE_INT16;
    case kTfLiteInt32: return HL_DTYPE_INT32;
    case kTfLiteFloat32: return HL_DTYPE_FLOAT32;
    default: return 0;
  }
}

bool Describe(const tflite::Model* model, int tensor_index, const TfLiteTensor* t, hl_tensor_spec_t* s) {
  std::memset(s, 0, sizeof *s);
  const auto* fb = model->subgraphs()->Get(0)->tensors()->Get(tensor_index);
  if (fb->name() != nullptr) {
    std::strncpy(s->name, fb->name()->c_str(), sizeof s->name - 1);
  }
  s->dtype = DType(t->type);
  if (s->dtype == 0 || t->dims->size > static_cast<int>(HL_CFG_MAX_DIMS)) return false;
  s->ndim = static_cast<uint8_t>(t->dims->size);
  for (int i = 0; i < t->dims->size; ++i) s->shape[i] = static_cast<uint32_t>(t->dims->data[i]);
  s->scale = t->params.scale;
  s->zero_point = t->params.zero_point;
  return true;
}

// MACs of the ops that dominate vision models, from the flatbuffer's shapes.
uint64_t CountMacs(const tflite::Model* model) {
  const auto* sg = model->subgraphs()->Get(0);
  const auto* tensors = sg->tensors();
  auto elems = [&](int idx) -> uint64_t {
    uint64_t n = 1;
    for (auto d : *tensors->Get(idx)->shape()) n *= static_cast<uint64_t>(d > 0 ? d : 1);
    return n;
  };
  uint64_t macs = 0;
  for (const auto* op : *sg->operators()) {
    auto code = tflite::GetBuiltinCode(model->operator_codes()->Get(op->opcode_index()));
    const auto* in = op->inputs();
    const auto* out = op->outputs();
    if (in->size() < 2 || out->size() < 1) continue;
    const auto* w = tensors->Get(in->Get(1))->shape();
    if (code == tflite::BuiltinOperator_CONV_2D && w->size() == 4) {
      macs += elems(out->Get(0)) * static_cast<uint64_t>(w->Get(1)) * w->Get(2) * w->Get(3);
    } else if (code == tflite::BuiltinOperator_DEPTHWISE_CONV_2D && w->size() == 4) {
      macs += elems(out->Get(0)) * static_cast<uint64_t>(w->Get(1)) * w->Get(2);
    } else if (code == tflite::BuiltinOperator_FULLY_CONNECTED && w->size() == 2) {
      macs += elems(out->Get(0)) * static_cast<uint64_t>(w->Get(1));
    }
  }
  return macs;
}

// Admission checks that give the host a precise code before tflite-micro is asked to plan memory.
hl_status_t Admit(const tflite::Model* model, uint8_t format) {
  if (model->version() != TFLITE_SCHEMA_VERSION || model->subgraphs() == nullptr ||
      model->subgraphs()->size() != 1) {
    return hl_core_refuse(HL_ERR_MODEL_CORRUPT, "not a single-subgraph TFLite flatbuffer of schema v3");
  }
  const auto* sg = model->subgraphs()->Get(0);
  for (const auto* op : *sg->operators()) {
    const auto* oc = model->operator_codes()->Get(op->opcode_index());
    auto code = tflite::GetBuiltinCode(oc);
    if (code == tflite::BuiltinOperator_CUSTOM) {
      if (oc->custom_code() == nullptr || std::strcmp(oc->custom_code()->c_str(), coralmicro::kCustomOp) != 0 ||
          format != HL_FMT_EDGETPU_TFLITE) {
        return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "custom op other than the Edge TPU's");
      }
      continue;
    }
    if (g_resolver.FindOp(code) == nullptr) {
      static char why[HL_CFG_TEXT_MAX + 1];
      snprintf(why, sizeof why, "op %s is not in this firmware's TFLM resolver", tflite::EnumNameBuiltinOperator(code));
      return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, why);
    }
    bool mac = code == tflite::BuiltinOperator_CONV_2D || code == tflite::BuiltinOperator_DEPTHWISE_CONV_2D ||
               code == tflite::BuiltinOperator_FULLY_CONNECTED;
    if (mac && op->inputs()->size() > 1 &&
        sg->tensors()->Get(op->inputs()->Get(1))->type() == tflite::TensorType_FLOAT32) {
      return hl_core_refuse(HL_ERR_MODEL_NOT_INT8, "a CONV_2D/DEPTHWISE_CONV_2D/FULLY_CONNECTED has float32 weights; "
                                                    "quantize the model to full INT8");
    }
  }
  return HL_OK;
}

void OnUsbData(const uint8_t* data, const uint32_t len) {
  // USB task context: only queue; a full buffer drops bytes and the host's retry recovers them
  xStreamBufferSend(g_rx, data, len, 0);
}

const hl_memory_region_t kMemory[] = {{"sdram", 64u << 20}, {"ocram", 1280u << 10}, {"nand_fs", 64u << 20}};
const uint8_t kStages[] = {HL_STAGE_CAPTURE, HL_STAGE_PREPROCESS, HL_STAGE_INFERENCE, HL_STAGE_TRANSFER};
char g_serial[33];
hl_board_info_t g_board = {
    HL_BOARD_CORALMICRO, "Google Coral Dev Board Micro", g_serial,
    {HL_CORE_VERSION_MAJOR, HL_CORE_VERSION_MINOR, HL_CORE_VERSION_PATCH},
    HL_CAP_SENSOR_CAPTURE | HL_CAP_HOST_INPUT | HL_CAP_MARKERS | HL_CAP_REALTIME | HL_CAP_EDGETPU,
    0,  // USB CDC: the board cannot know the link rate
    HL_FORMATS_TFLITE | HL_FORMATS_EDGETPU_TFLITE,
    3, kMemory, 4, kStages,
};

}  // namespace

extern "C" {

size_t hl_port_link_read(uint8_t* buf, size_t cap, uint32_t timeout_us) {
  TickType_t ticks = pdMS_TO_TICKS((timeout_us + 999u) / 1000u);
  if (cap == 0) {
    vTaskDelay(ticks);
    return 0;
  }
  return xStreamBufferReceive(g_rx, buf, cap, ticks);
}

hl_status_t hl_port_link_write(const uint8_t* data, size_t len) {
  while (len > 0) {
    size_t n = len < 512u ? len : 512u;  // CdcAcm's bulk-in buffer
    if (!g_cdc.Transmit(data, n)) return HL_ERR_INTERNAL;
    data += n;
    len -= n;
  }
  return HL_OK;
}

uint64_t hl_port_time_us(void) { return coralmicro::TimerMicros(); }

void hl_port_marker(uint8_t stage) {
  for (int bit = 0; bit < 3; ++bit) coralmicro::GpioSet(kMarkerPins[bit], (stage >> bit) & 1u);
}

hl_status_t hl_port_staging(hl_staging_op_t op, uint32_t offset, uint8_t* data, size_t len) {
  uint8_t* slot = slot_image(staging_index());
  if (op == HL_STAGING_OPEN) {
    if (len > kSlotBytes) return hl_core_refuse(HL_ERR_MODEL_TOO_LARGE, "a model slot holds 6 MiB");
    return HL_OK;
  }
  if (offset > kSlotBytes || len > kSlotBytes - offset) return HL_ERR_INTERNAL;
  if (op == HL_STAGING_WRITE) {
    std::memcpy(slot + offset, data, len);
  } else {
    std::memcpy(data, slot + offset, len);
  }
  return HL_OK;
}

hl_status_t hl_port_model_activate(hl_model_info_t* info) {
  if (!g_ops_ok) return hl_core_refuse(HL_ERR_INTERNAL, "the firmware's op resolver failed to register its ops");
  int next = staging_index();
  const tflite::Model* model = tflite::GetModel(slot_image(next));
  hl_status_t st = Admit(model, info->format);
  if (st != HL_OK) return st;
  if (info->format == HL_FMT_EDGETPU_TFLITE && !g_tpu) {
    g_tpu = coralmicro::EdgeTpuManager::GetSingleton()->OpenDevice();
    if (!g_tpu) return hl_core_refuse(HL_ERR_INTERNAL, "the Edge TPU did not come up");
  }
  Slot& s = g_slot[next];
  if (s.interpreter != nullptr) {
    s.interpreter->~MicroInterpreter();
    s.interpreter = nullptr;
  }
  // the pinned tflite-micro's constructor still takes the ErrorReporter
  s.interpreter = new (s.storage)
      tflite::MicroInterpreter(model, g_resolver, slot_arena(next), kArenaBytes, tflite::GetMicroErrorReporter());
  if (s.interpreter->AllocateTensors() != kTfLiteOk) {
    s.interpreter->~MicroInterpreter();
    s.interpreter = nullptr;
    return hl_core_refuse(HL_ERR_MODEL_ARENA_TOO_LARGE, "tflite-micro could not plan the model in the 4 MiB arena");
  }
  tflite::MicroInterpreter* it = s.interpreter;
  const auto* sg = model->subgraphs()->Get(0);
  if (it->inputs_size() > HL_CFG_MAX_INPUTS || it->outputs_size() > HL_CFG_MAX_OUTPUTS) {
    return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "more inputs or outputs than this firmware describes");
  }
  info->n_inputs = static_cast<uint8_t>(it->inputs_size());
  info->n_outputs = static_cast<uint8_t>(it->outputs_size());
  for (size_t i = 0; i < it->inputs_size(); ++i) {
    if (!Describe(model, sg->inputs()->Get(i), it->input(i), &info->inputs[i]) ||
        hl_tensor_bytes(&info->inputs[i]) > kInputBytes) {
      return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "an input tensor of a type or size this firmware cannot stage");
    }
  }
  for (size_t i = 0; i < it->outputs_size(); ++i) {
    if (!Describe(model, sg->outputs()->Get(i), it->output(i), &info->outputs[i])) {
      return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "an output tensor of a type this firmware cannot report");
    }
  }
  // one warm-up invoke on zeros: the board's own inference time, for the host's deadlines
  for (size_t i = 0; i < it->inputs_size(); ++i) std::memset(it->input(i)->data.raw, 0, it->input(i)->bytes);
  uint64_t t0 = coralmicro::TimerMicros();
  if (it->Invoke() != kTfLiteOk) return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "the warm-up inference failed");
  uint32_t infer_us = static_cast<uint32_t>(coralmicro::TimerMicros() - t0);
  info->arena_bytes = static_cast<uint32_t>(it->arena_used_bytes());
  info->macs = CountMacs(model);
  info->expected_frame_us = kCameraUs + infer_us;
  std::strncpy(info->engine, info->format == HL_FMT_EDGETPU_TFLITE ? "edge tpu + cortex-m7 tflm" : "cortex-m7 tflm",
               sizeof info->engine - 1);
  g_active = next;  // the whole activation: the old slot is untouched until the next upload
  return HL_OK;
}

hl_status_t hl_port_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t** data, size_t* len) {
  if (g_active < 0) return HL_ERR_NO_MODEL;
  tflite::MicroInterpreter* it = g_slot[g_active].interpreter;
  if (kind == HL_TENSOR_HOST_INPUT && index < it->inputs_size()) {
    *data = g_host_inputs + index * kInputBytes;
    *len = kInputBytes;
    return HL_OK;
  }
  if (kind == HL_TENSOR_OUTPUT && index < it->outputs_size()) {
    *data = it->output(index)->data.uint8;
    *len = it->output(index)->bytes;
    return HL_OK;
  }
  return HL_ERR_INTERNAL;
}

hl_status_t hl_port_camera_capture(hl_stages_t* st, uint32_t frame_index) {
  (void)frame_index;
  tflite::MicroInterpreter* it = g_slot[g_active].interpreter;
  const hl_tensor_spec_t& spec = hl_core_active_model()->inputs[0];
  uint32_t h, w, c;
  if (hl_pre_image_dims(&spec, &h, &w, &c) != 0 || static_cast<size_t>(h) * w * 3u > kInputBytes) {
    return hl_core_refuse(HL_ERR_SOURCE_UNSUPPORTED, "the model's input is not an image the camera can fill");
  }
  if (!g_camera_on) {
    g_camera_on = coralmicro::CameraTask::GetSingleton()->SetPower(true) &&
                  coralmicro::CameraTask::GetSingleton()->Enable(coralmicro::CameraMode::kTrigger);
    if (!g_camera_on) return hl_core_refuse(HL_ERR_CAMERA_FAILED, "the HM01B0 camera did not power up");
    coralmicro::CameraTask::GetSingleton()->DiscardFrames(30);  // let auto exposure settle
  }
  coralmicro::CameraFrameFormat fmt{coralmicro::CameraFormat::kRgb, coralmicro::CameraFilterMethod::kBilinear,
                                    coralmicro::CameraRotation::k270, static_cast<int>(w), static_cast<int>(h),
                                    false, g_rgb, true};
  coralmicro::CameraTask::GetSingleton()->Trigger();
  if (!coralmicro::CameraTask::GetSingleton()->GetFrame({fmt})) {
    return hl_core_refuse(HL_ERR_CAMERA_FAILED, "CameraTask::GetFrame failed");
  }
  hl_stage_enter(st, HL_STAGE_PREPROCESS);
  return hl_pre_rgb_to_tensor(g_rgb, &spec, it->input(0)->data.uint8, it->input(0)->bytes);
}

hl_status_t hl_port_invoke(hl_stages_t* st, bool from_host) {
  tflite::MicroInterpreter* it = g_slot[g_active].interpreter;
  if (from_host) {
    // the arena reuses input buffers during Invoke, so host inputs are staged outside it
    for (size_t i = 0; i < it->inputs_size(); ++i) {
      std::memcpy(it->input(i)->data.raw, g_host_inputs + i * kInputBytes, it->input(i)->bytes);
    }
  }
  if (it->Invoke() != kTfLiteOk) return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "MicroInterpreter::Invoke failed");
  hl_stage_enter(st, HL_STAGE_TRANSFER);  // the core reads the outputs straight out of the arena from here on
  return HL_OK;
}

void hl_port_reboot(uint8_t mode) {
  if (mode == HL_RESET_BOOTLOADER) coralmicro::ResetToBootloader();
}

// The protocol's CDC-ACM interface must be in the composite USB descriptor before the SDK's
// real_main() calls UsbDeviceTask::Init(), which enumerates; devices added later (from app_main)
// are never seen by the host. So this main, which replaces the SDK's weak one, adds it first and
// then runs the SDK's start-up. Its interfaces come first (ttyACM0); the SDK console follows.
int main(int argc, char** argv) {
  g_rx = xStreamBufferCreateStatic(kRxBytes, 1, g_rx_storage, &g_rx_control);
  auto* usb = coralmicro::UsbDeviceTask::GetSingleton();
  g_cdc.Init(usb->next_descriptor_value(), usb->next_descriptor_value(), usb->next_descriptor_value(),
             usb->next_interface_value(), usb->next_interface_value(), OnUsbData);
  usb->AddDevice(g_cdc.config_data(), [](class_handle_t h) { g_cdc.SetClassHandle(h); },
                 [](uint32_t event, void* param) { return g_cdc.HandleEvent(event, param); },
                 g_cdc.descriptor_data(), g_cdc.descriptor_data_size());
  return real_main(argc, argv, true, true);
}

// FreeRTOS entry point of a coralmicro app (real_main starts it as a task).
void app_main(void* param) {
  (void)param;
  for (auto pin : kMarkerPins) coralmicro::GpioSetMode(pin, coralmicro::GpioMode::kOutput);
  g_ops_ok = AddOps(g_resolver);
  std::string serial = coralmicro::GetSerialNumber();
  std::strncpy(g_serial, serial.c_str(), sizeof g_serial - 1);
  hl_core_init(&g_board);
  for (;;) hl_core_poll(10000);
}

}  // extern "C"
