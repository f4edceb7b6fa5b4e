#include "segcore/runner.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "litert_c_api.h"

namespace segcore {
namespace {

// litert_common.h status codes (libLiteRt.so exports no LiteRtGetStatusString).
std::string status_name(LiteRtStatus status) {
  switch (status) {
    case 1: return "invalid argument";
    case 2: return "memory allocation failure";
    case 3: return "runtime failure";
    case 4: return "missing input tensor";
    case 5: return "unsupported";
    case 6: return "not found";
    case 500: return "file I/O error";
    case 501: return "invalid flatbuffer";
    case 504: return "compilation failed";
    default: return "LiteRT status " + std::to_string(status);
  }
}

void check(LiteRtStatus status, const std::string& what) {
  if (status != kLiteRtStatusOk) throw Error(what + " failed: " + status_name(status));
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

const char* element_type_name(int type) {
  switch (type) {
    case kLiteRtElementTypeFloat32: return "float32";
    case kLiteRtElementTypeInt32: return "int32";
    case kLiteRtElementTypeUInt8: return "uint8";
    case kLiteRtElementTypeInt64: return "int64";
    case kLiteRtElementTypeInt16: return "int16";
    case kLiteRtElementTypeInt8: return "int8";
    case kLiteRtElementTypeFloat16: return "float16";
    case 6: return "bool";
    case 5: return "string";
    default: return "an unknown type";
  }
}

// The tensor's facts, checked against the contract; `role` is "input" or "output".
TensorInfo describe(LiteRtTensor tensor, const std::string& role, LiteRtRankedTensorType* type) {
  TensorInfo info;
  const char* name = nullptr;
  if (LiteRtGetTensorName(tensor, &name) == kLiteRtStatusOk && name) info.name = name;
  const std::string what = "the model's " + role + " tensor \"" + info.name + "\"";
  LiteRtTensorTypeId type_id;
  check(LiteRtGetTensorTypeId(tensor, &type_id), "reading the type of " + what);
  if (type_id != kLiteRtRankedTensorType) throw Error(what + " has no fixed rank; the contract needs static shapes");
  check(LiteRtGetRankedTensorType(tensor, type), "reading the type of " + what);
  const unsigned rank = type->layout.rank;
  if (rank > SEGCORE_LITERT_MAX_RANK) throw Error(what + " reports rank " + std::to_string(rank));
  for (unsigned i = 0; i < rank; ++i) info.shape.push_back(type->layout.dimensions[i]);
  const int element = type->element_type;
  switch (element) {
    case kLiteRtElementTypeFloat32: info.dtype = DType::kFloat32; break;
    case kLiteRtElementTypeUInt8: info.dtype = DType::kUInt8; break;
    case kLiteRtElementTypeInt8: info.dtype = DType::kInt8; break;
    case kLiteRtElementTypeInt32: info.dtype = DType::kInt32; break;
    case kLiteRtElementTypeInt64: info.dtype = DType::kInt64; break;
    default:
      throw Error(what + " has dtype " + element_type_name(element) + " (LiteRT element type " +
                  std::to_string(element) + "); the contract takes uint8, int8 or float32" +
                  (role == "output" ? " scores, or a uint8/int32/int64 mask" : " images"));
  }
  LiteRtQuantizationTypeId q_type = kLiteRtQuantizationNone;
  check(LiteRtGetQuantizationTypeId(tensor, &q_type), "reading the quantization of " + what);
  if (q_type == kLiteRtQuantizationPerTensor) {
    LiteRtQuantizationPerTensor q;
    check(LiteRtGetPerTensorQuantization(tensor, &q), "reading the quantization of " + what);
    info.quantization = Quantization{q.scale, q.zero_point};
  } else if (q_type != kLiteRtQuantizationNone) {
    throw Error(what + " is quantized per channel; the contract takes per-tensor quantization");
  }
  for (int64_t d : info.shape)
    if (d < 1) throw Error(what + " has a dynamic or empty dimension: " + shape_string(info.shape));
  if (role == "input") {
    if (info.shape.size() != 4 || info.shape[0] != 1 || info.shape[3] != 3)
      throw Error(what + " has shape " + shape_string(info.shape) + "; the contract takes one image [1, H, W, 3]");
    if (info.dtype != DType::kUInt8 && info.dtype != DType::kInt8 && info.dtype != DType::kFloat32)
      throw Error(what + " is " + dtype_name(info.dtype) + "; the contract takes uint8, int8 or float32 images");
  } else {
    if ((info.shape.size() != 3 && info.shape.size() != 4) || info.shape[0] != 1)
      throw Error(what + " has rank " + std::to_string(info.shape.size()) + " " + shape_string(info.shape) +
                  "; the contract takes scores [1, H, W, C] or a mask [1, H, W]");
    bool mask = info.shape.size() == 3 || info.shape[3] == 1;
    if (mask ? (info.dtype != DType::kUInt8 && info.dtype != DType::kInt32 && info.dtype != DType::kInt64)
             : (info.dtype == DType::kInt32 || info.dtype == DType::kInt64))
      throw Error(what + " is " + dtype_name(info.dtype) + " " + shape_string(info.shape) +
                  (mask ? "; a mask output is uint8, int32 or int64" : "; scores are float32, uint8 or int8"));
  }
  return info;
}

// The CPU accelerator's options as libLiteRt.so 2.3 reads them: an opaque option "xnnpack" whose
// payload is TOML text (see litert_c_api.h). `options` takes ownership of it.
void add_cpu_threads(LiteRtOptions options, int threads) {
  const std::string toml = "num_threads = " + std::to_string(threads) + "\n";
  char* payload = static_cast<char*>(std::malloc(toml.size() + 1));
  if (!payload) throw Error("out of memory for the CPU options");
  std::memcpy(payload, toml.c_str(), toml.size() + 1);
  LiteRtOpaqueOptions cpu = nullptr;
  const LiteRtStatus created = LiteRtCreateOpaqueOptions(SEGCORE_LITERT_CPU_OPTIONS_IDENTIFIER, payload, std::free, &cpu);
  if (created != kLiteRtStatusOk) std::free(payload);
  check(created, "creating the CPU options");
  const LiteRtStatus added = LiteRtAddOpaqueOptions(options, cpu);
  if (added != kLiteRtStatusOk) LiteRtDestroyOpaqueOptions(cpu);
  check(added, "setting " + std::to_string(threads) + " CPU threads");
}

// Whether the environment registered an accelerator for `hardware` (LiteRT loads the GPU one from a
// library of its own when it finds it: libLiteRtMetalAccelerator.dylib on iOS).
bool has_accelerator(LiteRtEnvironment environment, LiteRtHwAcceleratorSet hardware) {
  LiteRtParamIndex count = 0;
  check(LiteRtGetNumAccelerators(environment, &count), "listing the LiteRT accelerators");
  for (LiteRtParamIndex i = 0; i < count; ++i) {
    LiteRtAccelerator accelerator = nullptr;
    LiteRtHwAcceleratorSet supported = 0;
    if (LiteRtGetAccelerator(environment, i, &accelerator) == kLiteRtStatusOk &&
        LiteRtGetAcceleratorHardwareSupport(accelerator, &supported) == kLiteRtStatusOk && (supported & hardware))
      return true;
  }
  return false;
}

}  // namespace

size_t TensorInfo::bytes() const {
  size_t count = dtype_size(dtype);
  for (int64_t d : shape) count *= static_cast<size_t>(d);
  return count;
}

struct Runner::Handles {
  std::string library_dir;  // the environment's option points at it: kept as long as the environment
  LiteRtEnvironment environment = nullptr;
  LiteRtModel model = nullptr;
  LiteRtOptions options = nullptr;
  LiteRtCompiledModel compiled = nullptr;
  LiteRtTensorBuffer input = nullptr, output = nullptr;
  ~Handles() {
    if (input) LiteRtDestroyTensorBuffer(input);
    if (output) LiteRtDestroyTensorBuffer(output);
    if (compiled) LiteRtDestroyCompiledModel(compiled);
    if (options) LiteRtDestroyOptions(options);
    if (model) LiteRtDestroyModel(model);
    if (environment) LiteRtDestroyEnvironment(environment);
  }
};

Runner::Runner(std::unique_ptr<Handles> handles, TensorInfo input, TensorInfo output)
    : handles_(std::move(handles)), input_(std::move(input)), output_(std::move(output)) {}

Runner::~Runner() = default;

std::unique_ptr<Runner> Runner::open(const std::string& model_path, Accelerator accelerator,
                                     std::optional<int> cpu_threads, const std::string& library_dir) {
  if (cpu_threads.value_or(1) < 1)
    throw Error("CPU thread count " + std::to_string(*cpu_threads) +
                ": give 1 or more threads, or none to let LiteRT choose");
  if (!std::ifstream(model_path, std::ios::binary))
    throw Error("model file " + model_path + " does not exist or cannot be read");
  auto h = std::make_unique<Handles>();
  h->library_dir = library_dir;
  LiteRtEnvOption library_option{kLiteRtEnvOptionTagRuntimeLibraryDir, {}};
  library_option.value.type = kLiteRtAnyTypeString;
  library_option.value.str_value = h->library_dir.c_str();
  check(LiteRtCreateEnvironment(library_dir.empty() ? 0 : 1, &library_option, &h->environment),
        "creating the LiteRT environment");
  if (accelerator == Accelerator::kGpu && !has_accelerator(h->environment, kLiteRtHwAcceleratorGpu))
    throw Error("LiteRT has no GPU accelerator here: its GPU library (libLiteRtMetalAccelerator.dylib on iOS, "
                "libLiteRtOpenClAccelerator.so or libLiteRtWebGpuAccelerator.so elsewhere) was not found in " +
                (library_dir.empty() ? std::string("the loader's search path") : library_dir) +
                " or found no usable GPU; run on the CPU");
  check(LiteRtCreateModelFromFile(h->environment, model_path.c_str(), &h->model), "loading " + model_path + " as a .tflite model");
  LiteRtParamIndex subgraphs = 0, main_index = 0;
  check(LiteRtGetNumModelSubgraphs(h->model, &subgraphs), "reading the subgraphs of " + model_path);
  if (subgraphs < 1) throw Error(model_path + " has no subgraph");
  check(LiteRtGetMainModelSubgraphIndex(h->model, &main_index), "finding the main subgraph of " + model_path);
  LiteRtSubgraph subgraph = nullptr;
  check(LiteRtGetModelSubgraph(h->model, main_index, &subgraph), "reading the main subgraph of " + model_path);
  LiteRtParamIndex inputs = 0, outputs = 0;
  check(LiteRtGetNumSubgraphInputs(subgraph, &inputs), "counting the inputs of " + model_path);
  check(LiteRtGetNumSubgraphOutputs(subgraph, &outputs), "counting the outputs of " + model_path);
  if (inputs != 1 || outputs != 1)
    throw Error(model_path + " has " + std::to_string(inputs) + " input(s) and " + std::to_string(outputs) +
                " output(s); the contract takes one image input and one scores or mask output");
  LiteRtTensor in_tensor = nullptr, out_tensor = nullptr;
  check(LiteRtGetSubgraphInput(subgraph, 0, &in_tensor), "reading the input of " + model_path);
  check(LiteRtGetSubgraphOutput(subgraph, 0, &out_tensor), "reading the output of " + model_path);
  LiteRtRankedTensorType in_type, out_type;
  TensorInfo input = describe(in_tensor, "input", &in_type);
  TensorInfo output = describe(out_tensor, "output", &out_type);

  check(LiteRtCreateOptions(&h->options), "creating compilation options");
  check(LiteRtSetOptionsHardwareAccelerators(
            h->options, accelerator == Accelerator::kGpu ? kLiteRtHwAcceleratorGpu : kLiteRtHwAcceleratorCpu),
        "selecting the accelerator");
  if (cpu_threads) add_cpu_threads(h->options, *cpu_threads);
  check(LiteRtCreateCompiledModel(h->environment, h->model, h->options, &h->compiled), "compiling " + model_path);
  bool fully_accelerated = false;
  check(LiteRtCompiledModelIsFullyAccelerated(h->compiled, &fully_accelerated), "asking which ops the accelerator runs");
  LiteRtTensorBufferRequirements in_req = nullptr, out_req = nullptr;  // owned by the compiled model
  check(LiteRtGetCompiledModelInputBufferRequirements(h->compiled, 0, 0, &in_req), "input buffer requirements");
  check(LiteRtGetCompiledModelOutputBufferRequirements(h->compiled, 0, 0, &out_req), "output buffer requirements");
  check(LiteRtCreateManagedTensorBufferFromRequirements(h->environment, &in_type, in_req, &h->input),
        "creating the input buffer");
  check(LiteRtCreateManagedTensorBufferFromRequirements(h->environment, &out_type, out_req, &h->output),
        "creating the output buffer");
  for (auto [buffer, info] : {std::pair{h->input, &input}, std::pair{h->output, &output}}) {
    size_t packed = 0;
    check(LiteRtGetTensorBufferPackedSize(buffer, &packed), "reading a buffer size");
    if (packed != info->bytes())
      throw Error("LiteRT made a " + std::to_string(packed) + "-byte buffer for tensor \"" + info->name + "\" " +
                  shape_string(info->shape) + " " + dtype_name(info->dtype) + " (" + std::to_string(info->bytes()) +
                  " bytes): libLiteRt.so does not match the ABI this was built for (ai-edge-litert 2.3)");
  }
  std::unique_ptr<Runner> runner(new Runner(std::move(h), std::move(input), std::move(output)));
  runner->fully_accelerated_ = fully_accelerated;
  return runner;
}

std::string Runner::output_kind() const {
  return output_.shape.size() == 3 || output_.shape[3] == 1 ? "mask" : "scores";
}

void Runner::check_card(const ModelCard& card) const {
  std::vector<std::string> problems;
  const std::vector<int64_t> in_shape{1, card.input.height, card.input.width, 3};
  if (input_.shape != in_shape)
    problems.push_back("input shape: card " + shape_string(in_shape) + ", model " + shape_string(input_.shape));
  if (input_.dtype != card.input.dtype)
    problems.push_back(std::string("input dtype: card ") + dtype_name(card.input.dtype) + ", model " +
                       dtype_name(input_.dtype));
  if (card.output.kind != output_kind())
    problems.push_back("output kind: card " + card.output.kind + ", model " + output_kind());
  if (output_.shape != card.output.shape)
    problems.push_back("output shape: card " + shape_string(card.output.shape) + ", model " +
                       shape_string(output_.shape));
  if (output_.dtype != card.output.dtype)
    problems.push_back(std::string("output dtype: card ") + dtype_name(card.output.dtype) + ", model " +
                       dtype_name(output_.dtype));
  if (output_kind() == "scores" && output_.shape[3] != static_cast<int64_t>(card.classes.size()))
    problems.push_back("the model scores " + std::to_string(output_.shape[3]) + " classes, the card lists " +
                       std::to_string(card.classes.size()));
  if (problems.empty()) return;
  std::string message = "the model card does not describe this model:";
  for (const std::string& p : problems) message += " " + p + ";";
  throw Error(message);
}

std::vector<uint8_t> Runner::run(const std::vector<uint8_t>& input) {
  if (input.size() != input_.bytes())
    throw Error("input tensor holds " + std::to_string(input.size()) + " bytes, the model's " +
                shape_string(input_.shape) + " " + dtype_name(input_.dtype) + " input needs " +
                std::to_string(input_.bytes()));
  void* host = nullptr;
  check(LiteRtLockTensorBuffer(handles_->input, &host, kLiteRtTensorBufferLockModeWrite), "locking the input");
  std::memcpy(host, input.data(), input.size());
  check(LiteRtUnlockTensorBuffer(handles_->input), "unlocking the input");
  check(LiteRtRunCompiledModel(handles_->compiled, 0, 1, &handles_->input, 1, &handles_->output), "running the model");
  check(LiteRtLockTensorBuffer(handles_->output, &host, kLiteRtTensorBufferLockModeRead), "locking the output");
  std::vector<uint8_t> out(static_cast<const uint8_t*>(host), static_cast<const uint8_t*>(host) + output_.bytes());
  check(LiteRtUnlockTensorBuffer(handles_->output), "unlocking the output");
  return out;
}

Segmenter::Segmenter(const std::string& card_path, const std::string& model_path, Accelerator accelerator,
                     std::optional<int> cpu_threads, const std::string& library_dir)
    : card_(read_model_card(card_path)) {
  std::string path = model_path;
  if (path.empty()) {
    size_t slash = card_path.find_last_of('/');
    path = (slash == std::string::npos ? std::string() : card_path.substr(0, slash + 1)) + card_.model_file;
  }
  runner_ = Runner::open(path, accelerator, cpu_threads, library_dir);
  runner_->check_card(card_);
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

Segmenter::Inferred Segmenter::infer(const ImageView& image, Resize resize) {
  Inferred inferred;
  const auto t0 = Clock::now();
  Resized resized = resize_pixels(image, card_.input.height, card_.input.width, resize);
  std::vector<uint8_t> tensor = to_input_tensor(resized.rgb, card_.input);
  const auto t1 = Clock::now();
  std::vector<uint8_t> output = runner_->run(tensor);
  inferred.ran = Clock::now();
  inferred.box = resized.box;
  inferred.mask_model = output_to_mask(output.data(), output.size(), runner_->output().dtype,
                                       runner_->output().shape, card_.output.kind,
                                       static_cast<int>(card_.classes.size()));
  inferred.preprocess_ms = ms_between(t0, t1);
  inferred.inference_ms = ms_between(t1, inferred.ran);
  return inferred;
}

Segmentation Segmenter::segment(const ImageView& image, Resize resize, int opacity,
                               const std::optional<std::vector<int>>& only) {
  Inferred inferred = infer(image, resize);
  Segmentation result;
  result.mask_model = std::move(inferred.mask_model);
  result.mask_image = mask_to_image(result.mask_model, inferred.box, card_.input.height, card_.input.width,
                                    image.height, image.width);
  result.overlay_rgba = overlay(image, result.mask_image, card_.classes, opacity, only);
  result.classes = classes_present(result.mask_image);
  result.preprocess_ms = inferred.preprocess_ms;
  result.inference_ms = inferred.inference_ms;
  result.postprocess_ms = ms_between(inferred.ran, Clock::now());
  return result;
}

LiveSegmentation Segmenter::segment_live(const ImageView& image, Resize resize, int opacity,
                                         const std::optional<std::vector<int>>& only) {
  Inferred inferred = infer(image, resize);
  LiveSegmentation result;
  result.mask = mask_crop(inferred.mask_model, inferred.box, card_.input.height, card_.input.width);
  result.rgba = colour_mask(result.mask, card_.classes, opacity, only);
  result.classes = classes_present(result.mask);
  result.preprocess_ms = inferred.preprocess_ms;
  result.inference_ms = inferred.inference_ms;
  result.postprocess_ms = ms_between(inferred.ran, Clock::now());
  return result;
}

OpenedSegmenter open_segmenter(const std::string& card_path, Accelerator requested, std::optional<int> cpu_threads,
                               const std::string& library_dir) {
  OpenedSegmenter opened;
  if (requested == Accelerator::kGpu) {
    try {
      opened.segmenter = std::make_unique<Segmenter>(card_path, "", Accelerator::kGpu, std::nullopt, library_dir);
      opened.accelerator = Accelerator::kGpu;
      if (!opened.segmenter->fully_accelerated())
        opened.notice = "GPU: part of the model runs on the CPU (ops the GPU delegate does not have, such as a mask "
                        "output's ARG_MAX)";
      return opened;
    } catch (const Error& e) {
      opened.notice = std::string("GPU unavailable (") + e.what() + "): running on the CPU";
    }
  }
  opened.segmenter = std::make_unique<Segmenter>(card_path, "", Accelerator::kCpu, cpu_threads, library_dir);
  opened.accelerator = Accelerator::kCpu;
  return opened;
}

}  // namespace segcore
