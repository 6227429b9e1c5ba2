// engine_tflm.cc: tflite-micro (CMSIS-NN kernels) as the qemu image's inference engine.
//
// Built by `make -C firmware qemu-tflm` against the library firmware/tflm/build.sh makes.
//   admission  the flatbuffer is verified, then checked as hostlink.models.admission checks it
//              (INT8 activations, the TFLM op set the emulator's board profiles admit), then an
//              interpreter is built in the candidate slot's own arena and its tensors allocated
//   A/B        each model slot has its own arena and interpreter, so building the candidate
//              never touches the running model; activation switches one index
//   inputs     host INPUT bytes are staged in their own buffers, outside the arena, and copied
//              into the input tensors just before Invoke: TFLM plans the arena so that later
//              layers reuse the input tensor's memory, which would corrupt a staged input that a
//              second CAPTURE runs again
#include <cstdio>
#include <cstring>
#include <new>

#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tensorflow/lite/schema/schema_utils.h"

extern "C" {
#include "engine.h"
#include "hl_core.h"
uint64_t hl_port_time_us(void);
}

#ifndef HL_MPS2_ARENA_BYTES
#define HL_MPS2_ARENA_BYTES (640u * 1024u)
#endif
#ifndef HL_MPS2_INPUT_BYTES
#define HL_MPS2_INPUT_BYTES (128u * 1024u)
#endif
#ifndef HL_TFLM_COMMIT
#define HL_TFLM_COMMIT "unknown"
#endif

extern "C" const bool hl_engine_present = true;

namespace {

// The builtins of hostlink's TFLM boards (TFLM_OPS in hostlink/emulator/profiles.py), so the
// image admits what the emulator admits. 42 entries; the resolver has room for exactly those.
constexpr int kOps = 42;
using Resolver = tflite::MicroMutableOpResolver<kOps>;

struct Slot {
  alignas(tflite::MicroInterpreter) unsigned char storage[sizeof(tflite::MicroInterpreter)];
  tflite::MicroInterpreter* interpreter;
};

uint8_t g_arenas[2][HL_MPS2_ARENA_BYTES] __attribute__((section(".model_slots"), aligned(16)));
uint8_t g_inputs[HL_CFG_MAX_INPUTS][HL_MPS2_INPUT_BYTES] __attribute__((aligned(16)));
size_t g_input_bytes[HL_CFG_MAX_INPUTS];
Slot g_slot[2];
int g_active = -1;
// built in place on first use: a static-duration resolver would register its destructor with
// __cxa_atexit, which a bare-metal image that never exits has no use for
alignas(Resolver) unsigned char g_resolver_storage[sizeof(Resolver)];
Resolver* g_resolver;
bool g_resolver_ok;
char g_log[160];  // the last line tflite-micro logged: the reason for a refused model
char g_msg[HL_CFG_TEXT_MAX + 1];

void OnLog(const char* s) {
  // MicroPrintf lines end in "\n"; keep the first line of the latest message
  size_t n = 0;
  while (s[n] != '\0' && s[n] != '\n' && n + 1 < sizeof g_log) {
    g_log[n] = s[n];
    n++;
  }
  if (n > 0) g_log[n] = '\0';
}

bool AddOps(Resolver& r) {
  const TfLiteStatus s[kOps] = {
      r.AddAdd(), r.AddAveragePool2D(), r.AddConcatenation(), r.AddConv2D(), r.AddDepthwiseConv2D(),
      r.AddDequantize(), r.AddFullyConnected(), r.AddHardSwish(), r.AddLogistic(), r.AddMaxPool2D(),
      r.AddMean(), r.AddMul(), r.AddPad(), r.AddQuantize(), r.AddRelu(), r.AddRelu6(), r.AddReshape(),
      r.AddResizeNearestNeighbor(), r.AddResizeBilinear(), r.AddSoftmax(), r.AddSub(), r.AddTanh(),
      r.AddTransposeConv(), r.AddStridedSlice(), r.AddSplit(), r.AddPack(), r.AddUnpack(), r.AddSqueeze(),
      r.AddLeakyRelu(), r.AddPrelu(), r.AddMaximum(), r.AddMinimum(), r.AddTranspose(), r.AddShape(),
      r.AddGather(), r.AddArgMax(), r.AddExpandDims(), r.AddCast(), r.AddSpaceToDepth(),
      r.AddDepthToSpace(), r.AddBatchToSpaceNd(), r.AddSpaceToBatchNd(),
  };
  for (TfLiteStatus x : s) {
    if (x != kTfLiteOk) return false;
  }
  return true;
}

hl_status_t Refuse(hl_status_t code, const char* fmt, const char* a, const char* b = "") {
  std::snprintf(g_msg, sizeof g_msg, fmt, a, b);
  return hl_core_refuse(code, g_msg);
}

const char* OpName(const tflite::OperatorCode* oc) {
  tflite::BuiltinOperator code = tflite::GetBuiltinCode(oc);
  if (code == tflite::BuiltinOperator_CUSTOM) {
    return oc->custom_code() != nullptr ? oc->custom_code()->c_str() : "custom";
  }
  return tflite::EnumNameBuiltinOperator(code);
}

bool IsFloat(tflite::TensorType t) {
  return t == tflite::TensorType_FLOAT32 || t == tflite::TensorType_FLOAT16 ||
         t == tflite::TensorType_FLOAT64 || t == tflite::TensorType_BFLOAT16;
}

// hostlink.models.tflite's rule: an op other than QUANTIZE/DEQUANTIZE and the data-movement ops
// computes in float when any of its non-constant inputs or outputs is a float tensor.
bool ComputesInFloat(const tflite::Model* m, const tflite::SubGraph* sg, const tflite::Operator* op) {
  static const char* const kExempt[] = {"QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SHAPE",
                                        "TRANSPOSE", "PACK", "UNPACK", "CONCATENATION", "SPLIT", "SPLIT_V",
                                        "SLICE", "STRIDED_SLICE", "GATHER", "GATHER_ND", "BROADCAST_TO", "TILE"};
  const char* name = OpName(m->operator_codes()->Get(op->opcode_index()));
  for (const char* e : kExempt) {
    if (std::strcmp(name, e) == 0) return false;
  }
  auto is_float_activation = [&](int32_t i) {
    if (i < 0 || static_cast<uint32_t>(i) >= sg->tensors()->size()) return false;
    const auto* t = sg->tensors()->Get(i);
    const auto* buf = m->buffers()->Get(t->buffer());
    bool is_const = buf != nullptr && buf->data() != nullptr && buf->data()->size() > 0;
    return !is_const && IsFloat(t->type());
  };
  if (op->inputs() != nullptr) {
    for (int32_t i : *op->inputs()) {
      if (is_float_activation(i)) return true;
    }
  }
  if (op->outputs() != nullptr) {
    for (int32_t i : *op->outputs()) {
      if (is_float_activation(i)) return true;
    }
  }
  return false;
}

// Appends "NAME" to list (", " separated) unless it is there already.
void AddName(char* list, size_t cap, const char* name) {
  size_t n = std::strlen(name);
  for (const char* p = list; (p = std::strstr(p, name)) != nullptr; p += n) {
    if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ',')) return;
  }
  size_t used = std::strlen(list);
  std::snprintf(list + used, cap - used, "%s%s", used ? ", " : "", name);
}

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

bool Describe(const tflite::SubGraph* sg, int32_t index, const TfLiteTensor* t, hl_tensor_spec_t* s) {
  std::memset(s, 0, sizeof *s);
  const auto* fb = sg->tensors()->Get(index);
  if (fb->name() != nullptr) std::strncpy(s->name, fb->name()->c_str(), sizeof s->name - 1);
  s->dtype = DType(t->type);
  if (s->dtype == 0 || t->dims->size > static_cast<int>(HL_CFG_MAX_DIMS)) return false;
  s->ndim = static_cast<uint8_t>(t->dims->size);
  for (int i = 0; i < t->dims->size; ++i) s->shape[i] = static_cast<uint32_t>(t->dims->data[i]);
  s->scale = t->params.scale;
  s->zero_point = t->params.zero_point;
  return true;
}

// Multiply-accumulates of the ops that dominate vision models, from the flatbuffer's shapes: the
// same count hostlink.models.tflite makes for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.
uint64_t CountMacs(const tflite::Model* m, const tflite::SubGraph* sg) {
  auto elems = [&](int32_t i) -> uint64_t {
    uint64_t n = 1;
    const auto* shape = sg->tensors()->Get(i)->shape();
    if (shape != nullptr) {
      for (int32_t d : *shape) n *= static_cast<uint64_t>(d > 0 ? d : 1);
    }
    return n;
  };
  uint64_t macs = 0;
  for (const auto* op : *sg->operators()) {
    auto code = tflite::GetBuiltinCode(m->operator_codes()->Get(op->opcode_index()));
    if (op->inputs() == nullptr || op->outputs() == nullptr || op->inputs()->size() < 2 || op->outputs()->size() < 1) {
      continue;
    }
    const auto* w = sg->tensors()->Get(op->inputs()->Get(1))->shape();
    if (w == nullptr) continue;
    uint64_t out = elems(op->outputs()->Get(0));
    if (code == tflite::BuiltinOperator_CONV_2D && w->size() == 4) {
      macs += out * static_cast<uint64_t>(w->Get(1)) * w->Get(2) * w->Get(3);
    } else if (code == tflite::BuiltinOperator_DEPTHWISE_CONV_2D && w->size() == 4) {
      macs += out * static_cast<uint64_t>(w->Get(1)) * w->Get(2);
    } else if (code == tflite::BuiltinOperator_FULLY_CONNECTED && w->size() == 2) {
      macs += out * static_cast<uint64_t>(w->Get(1));
    }
  }
  return macs;
}

void Drop(int slot) {
  if (g_slot[slot].interpreter != nullptr) {
    g_slot[slot].interpreter->~MicroInterpreter();
    g_slot[slot].interpreter = nullptr;
  }
}

}  // namespace

extern "C" hl_status_t hl_engine_admit(uint8_t slot, const uint8_t* image, size_t size, hl_model_info_t* info) {
  if (g_resolver == nullptr) {
    RegisterDebugLogCallback(OnLog);
    g_resolver = new (g_resolver_storage) Resolver();
    g_resolver_ok = AddOps(*g_resolver);
  }
  if (!g_resolver_ok) {
    return hl_core_refuse(HL_ERR_INTERNAL, "the op resolver cannot hold the board's op set");
  }
  flatbuffers::Verifier verifier(image, size);
  if (size < 8u || !tflite::VerifyModelBuffer(verifier)) {
    return hl_core_refuse(HL_ERR_MODEL_CORRUPT, "not a valid TFLite flatbuffer (the schema verifier refused it)");
  }
  const tflite::Model* m = tflite::GetModel(image);
  if (m->version() != TFLITE_SCHEMA_VERSION || m->subgraphs() == nullptr || m->subgraphs()->size() == 0 ||
      m->operator_codes() == nullptr || m->buffers() == nullptr) {
    return hl_core_refuse(HL_ERR_MODEL_CORRUPT, "TFLite schema version or subgraph missing; export the model again");
  }
  char float_ops[HL_CFG_TEXT_MAX / 2] = "";
  char missing[HL_CFG_TEXT_MAX / 2] = "";
  for (const auto* sg : *m->subgraphs()) {
    if (sg->operators() == nullptr || sg->tensors() == nullptr) continue;
    for (const auto* op : *sg->operators()) {
      if (op->opcode_index() >= m->operator_codes()->size()) {
        return hl_core_refuse(HL_ERR_MODEL_CORRUPT, "an operator names an opcode the model does not define");
      }
      const auto* oc = m->operator_codes()->Get(op->opcode_index());
      tflite::BuiltinOperator code = tflite::GetBuiltinCode(oc);
      bool have = code == tflite::BuiltinOperator_CUSTOM
                      ? (oc->custom_code() != nullptr && g_resolver->FindOp(oc->custom_code()->c_str()) != nullptr)
                      : g_resolver->FindOp(code) != nullptr;
      if (!have) AddName(missing, sizeof missing, OpName(oc));
      if (ComputesInFloat(m, sg, op)) AddName(float_ops, sizeof float_ops, OpName(oc));
    }
  }
  if (float_ops[0] != '\0') {
    return Refuse(HL_ERR_MODEL_NOT_INT8,
                  "this board runs INT8 models only; these ops compute in float: %s (convert with full-integer "
                  "quantization)%s",
                  float_ops);
  }
  if (missing[0] != '\0') {
    return Refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "this board cannot run op(s) %s%s", missing);
  }

  Drop(slot);  // the candidate slot's previous interpreter served a model that is no longer active
  g_log[0] = '\0';
  auto* interp = new (g_slot[slot].storage) tflite::MicroInterpreter(m, *g_resolver, g_arenas[slot], HL_MPS2_ARENA_BYTES);
  g_slot[slot].interpreter = interp;
  if (interp->AllocateTensors() != kTfLiteOk) {
    Drop(slot);
    bool memory = std::strstr(g_log, "emory") != nullptr || std::strstr(g_log, "llocate") != nullptr;
    char arena[24];
    std::snprintf(arena, sizeof arena, "%u", static_cast<unsigned>(HL_MPS2_ARENA_BYTES));
    return memory ? Refuse(HL_ERR_MODEL_ARENA_TOO_LARGE, "tensor arena of %s bytes too small: %s", arena, g_log)
                  : Refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "tflite-micro cannot prepare the model: %s%s",
                           g_log[0] ? g_log : "no reason given");
  }
  const tflite::SubGraph* sg = m->subgraphs()->Get(0);
  if (interp->inputs_size() > HL_CFG_MAX_INPUTS || interp->outputs_size() > HL_CFG_MAX_OUTPUTS) {
    Drop(slot);
    return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "the model has more inputs or outputs than this port handles");
  }
  info->n_inputs = static_cast<uint8_t>(interp->inputs_size());
  info->n_outputs = static_cast<uint8_t>(interp->outputs_size());
  for (size_t i = 0; i < interp->inputs_size() + interp->outputs_size(); i++) {
    bool in = i < interp->inputs_size();
    size_t k = in ? i : i - interp->inputs_size();
    const TfLiteTensor* t = in ? interp->input(k) : interp->output(k);
    int32_t index = in ? sg->inputs()->Get(k) : sg->outputs()->Get(k);
    hl_tensor_spec_t* s = in ? &info->inputs[k] : &info->outputs[k];
    if (t == nullptr || !Describe(sg, index, t, s) || hl_tensor_bytes(s) != t->bytes) {
      Drop(slot);
      return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "a model input or output has a type or rank this port cannot carry");
    }
    if (in && t->bytes > HL_MPS2_INPUT_BYTES) {
      Drop(slot);
      std::snprintf(g_msg, sizeof g_msg, "input %u is %u bytes; this image stages inputs of at most %u bytes",
                    static_cast<unsigned>(k), static_cast<unsigned>(t->bytes), static_cast<unsigned>(HL_MPS2_INPUT_BYTES));
      return hl_core_refuse(HL_ERR_MODEL_ARENA_TOO_LARGE, g_msg);
    }
  }
  info->arena_bytes = static_cast<uint32_t>(interp->arena_used_bytes());
  info->macs = CountMacs(m, sg);
  // one timed run on zeroed inputs: what a frame takes on this image
  for (size_t i = 0; i < interp->inputs_size(); i++) std::memset(interp->input(i)->data.raw, 0, interp->input(i)->bytes);
  uint64_t t0 = hl_port_time_us();
  if (interp->Invoke() != kTfLiteOk) {
    Drop(slot);
    return Refuse(HL_ERR_INFERENCE_FAILED, "the model failed its first run: %s%s", g_log[0] ? g_log : "no reason given");
  }
  uint64_t dt = hl_port_time_us() - t0;
  info->expected_frame_us = dt > 0 ? static_cast<uint32_t>(dt) : 1u;
  std::snprintf(info->engine, sizeof info->engine, "tflite-micro %.12s + CMSIS-NN (qemu)", HL_TFLM_COMMIT);
  return HL_OK;
}

extern "C" void hl_engine_activate(uint8_t slot) {
  g_active = slot;
  std::memset(g_input_bytes, 0, sizeof g_input_bytes);
  tflite::MicroInterpreter* interp = g_slot[slot].interpreter;
  for (size_t i = 0; i < interp->inputs_size(); i++) g_input_bytes[i] = interp->input(i)->bytes;
}

extern "C" hl_status_t hl_engine_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t** data, size_t* len) {
  *data = nullptr;
  *len = 0;
  if (g_active < 0) return hl_core_refuse(HL_ERR_NO_MODEL, "no model is active");
  tflite::MicroInterpreter* interp = g_slot[g_active].interpreter;
  if (kind == HL_TENSOR_HOST_INPUT) {
    if (index >= interp->inputs_size()) return hl_core_refuse(HL_ERR_INPUT_MISMATCH, "no such input");
    *data = g_inputs[index];
    *len = g_input_bytes[index];
    return HL_OK;
  }
  if (index >= interp->outputs_size()) return hl_core_refuse(HL_ERR_INPUT_MISMATCH, "no such output");
  TfLiteTensor* t = interp->output(index);
  *data = t->data.uint8;
  *len = t->bytes;
  return HL_OK;
}

extern "C" hl_status_t hl_engine_invoke(void) {
  if (g_active < 0) return hl_core_refuse(HL_ERR_NO_MODEL, "no model is active");
  tflite::MicroInterpreter* interp = g_slot[g_active].interpreter;
  for (size_t i = 0; i < interp->inputs_size(); i++) {
    std::memcpy(interp->input(i)->data.raw, g_inputs[i], g_input_bytes[i]);
  }
  g_log[0] = '\0';
  if (interp->Invoke() != kTfLiteOk) {
    return Refuse(HL_ERR_INFERENCE_FAILED, "tflite-micro Invoke failed: %s%s", g_log[0] ? g_log : "no reason given");
  }
  return HL_OK;
}
