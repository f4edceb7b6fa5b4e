// The few declarations of the LiteRT C API that segcore uses.
//
// The `ai-edge-litert` wheel ships libLiteRt.so without headers, so these are written from
// the public API documentation (litert/c/litert_common.h, litert_layout.h, litert_model.h,
// litert_model_types.h, litert_options.h, litert_environment.h, litert_compiled_model.h,
// litert_tensor_buffer.h, litert_tensor_buffer_requirements.h, litert_opaque_options.h of
// google-ai-edge/LiteRT).
//
// ABI PIN: checked against ai-edge-litert==2.3.* (setup.py pins the same). The struct layouts
// below are asserted; a different wheel version may change them (LiteRtLayout did change
// between releases) and must be re-checked before the pin moves.
#ifndef SEGCORE_LITERT_C_API_H_
#define SEGCORE_LITERT_C_API_H_

#include <stddef.h>
#include <stdint.h>

extern "C" {

typedef struct LiteRtEnvironmentT* LiteRtEnvironment;
typedef struct LiteRtModelT* LiteRtModel;
typedef struct LiteRtSubgraphT* LiteRtSubgraph;
typedef struct LiteRtTensorT* LiteRtTensor;
typedef struct LiteRtOptionsT* LiteRtOptions;
typedef struct LiteRtOpaqueOptionsT* LiteRtOpaqueOptions;
typedef struct LiteRtCompiledModelT* LiteRtCompiledModel;
typedef struct LiteRtTensorBufferT* LiteRtTensorBuffer;
typedef struct LiteRtTensorBufferRequirementsT* LiteRtTensorBufferRequirements;
typedef struct LiteRtAcceleratorT* LiteRtAccelerator;

typedef size_t LiteRtParamIndex;
typedef int LiteRtHwAcceleratorSet;

// litert_common.h: 0 is success; the other codes are named by segcore::status_name().
typedef int LiteRtStatus;
enum { kLiteRtStatusOk = 0 };

enum { kLiteRtHwAcceleratorCpu = 1 << 0, kLiteRtHwAcceleratorGpu = 1 << 1 };

typedef enum {
  kLiteRtTensorBufferLockModeRead = 0,
  kLiteRtTensorBufferLockModeWrite = 1,
} LiteRtTensorBufferLockMode;

// litert_model_types.h: the values of TfLiteType.
typedef enum {
  kLiteRtElementTypeNone = 0,
  kLiteRtElementTypeFloat32 = 1,
  kLiteRtElementTypeInt32 = 2,
  kLiteRtElementTypeUInt8 = 3,
  kLiteRtElementTypeInt64 = 4,
  kLiteRtElementTypeInt16 = 7,
  kLiteRtElementTypeInt8 = 9,
  kLiteRtElementTypeFloat16 = 10,
} LiteRtElementType;

typedef enum { kLiteRtRankedTensorType = 0, kLiteRtUnrankedTensorType = 1 } LiteRtTensorTypeId;

#define SEGCORE_LITERT_MAX_RANK 8
typedef struct {
  unsigned int rank : 7;
  bool has_strides : 1;
  int32_t dimensions[SEGCORE_LITERT_MAX_RANK];
  uint32_t strides[SEGCORE_LITERT_MAX_RANK];
} LiteRtLayout;

typedef struct {
  LiteRtElementType element_type;
  LiteRtLayout layout;
} LiteRtRankedTensorType;

typedef enum { kLiteRtQuantizationNone = 0, kLiteRtQuantizationPerTensor = 1 } LiteRtQuantizationTypeId;

typedef struct {
  float scale;
  int64_t zero_point;
} LiteRtQuantizationPerTensor;

// litert_any.h, litert_environment_options.h: an environment option is a tag and a tagged value.
typedef enum { kLiteRtAnyTypeString = 8 } LiteRtAnyType;
typedef struct {
  LiteRtAnyType type;
  union {
    bool bool_value;
    int64_t int_value;
    double real_value;
    const char* str_value;
    const void* ptr_value;
  };
} LiteRtAny;
// The folder LiteRT loads its accelerator libraries (the GPU one) from; 22 in this version.
typedef enum { kLiteRtEnvOptionTagRuntimeLibraryDir = 22 } LiteRtEnvOptionTag;
typedef struct {
  LiteRtEnvOptionTag tag;
  LiteRtAny value;
} LiteRtEnvOption;

static_assert(sizeof(LiteRtLayout) == 68, "LiteRtLayout differs from ai-edge-litert 2.3");
static_assert(sizeof(LiteRtRankedTensorType) == 72, "LiteRtRankedTensorType differs from ai-edge-litert 2.3");
static_assert(offsetof(LiteRtRankedTensorType, layout) == 4, "LiteRtRankedTensorType layout offset");
static_assert(sizeof(LiteRtQuantizationPerTensor) == 16, "LiteRtQuantizationPerTensor differs");
static_assert(sizeof(void*) != 8 || sizeof(LiteRtEnvOption) == 24, "LiteRtEnvOption differs from ai-edge-litert 2.3");
static_assert(sizeof(void*) != 8 || offsetof(LiteRtEnvOption, value) == 8, "LiteRtEnvOption value offset");

// Environment, options, model.
LiteRtStatus LiteRtCreateEnvironment(int num_options, const LiteRtEnvOption* options, LiteRtEnvironment* environment);
void LiteRtDestroyEnvironment(LiteRtEnvironment environment);
LiteRtStatus LiteRtCreateOptions(LiteRtOptions* options);
LiteRtStatus LiteRtSetOptionsHardwareAccelerators(LiteRtOptions options, LiteRtHwAcceleratorSet accelerators);
void LiteRtDestroyOptions(LiteRtOptions options);

// Accelerator options are a list of opaque options, each an identifier and a payload that the
// accelerator named by the identifier parses. litert_opaque_options.h, litert_options.h.
LiteRtStatus LiteRtCreateOpaqueOptions(const char* payload_identifier, void* payload_data,
                                       void (*payload_destructor)(void* payload_data), LiteRtOpaqueOptions* options);
void LiteRtDestroyOpaqueOptions(LiteRtOpaqueOptions options);  // only for options not handed to LiteRtOptions
// Takes ownership of opaque_options (and so of its payload).
LiteRtStatus LiteRtAddOpaqueOptions(LiteRtOptions options, LiteRtOpaqueOptions opaque_options);

// CPU (XNNPACK) options. The wheel's libLiteRt.so exports no LiteRtCreateCpuOptions /
// LiteRtSetCpuOptionsNumThread: in this version the client-side options library
// (litert/c/options/litert_cpu_options.cc, not part of libLiteRt.so) only serializes the options
// into an opaque option whose identifier is "xnnpack" and whose payload is a NUL-terminated TOML
// text ("num_threads = 4\n"); the CPU accelerator inside libLiteRt.so parses it
// (litert/runtime/litert_cpu_options.cc). segcore writes that payload itself.
#define SEGCORE_LITERT_CPU_OPTIONS_IDENTIFIER "xnnpack"
// Accelerators the environment registered when it was created (litert_accelerator.h).
LiteRtStatus LiteRtGetNumAccelerators(LiteRtEnvironment environment, LiteRtParamIndex* num_accelerators);
LiteRtStatus LiteRtGetAccelerator(LiteRtEnvironment environment, LiteRtParamIndex index, LiteRtAccelerator* accelerator);
LiteRtStatus LiteRtGetAcceleratorHardwareSupport(LiteRtAccelerator accelerator, LiteRtHwAcceleratorSet* supported_hardware);

LiteRtStatus LiteRtCreateModelFromFile(LiteRtEnvironment environment, const char* filename, LiteRtModel* model);
void LiteRtDestroyModel(LiteRtModel model);
LiteRtStatus LiteRtGetNumModelSubgraphs(LiteRtModel model, LiteRtParamIndex* num_subgraphs);
LiteRtStatus LiteRtGetMainModelSubgraphIndex(LiteRtModel model, LiteRtParamIndex* main_subgraph_index);
LiteRtStatus LiteRtGetModelSubgraph(LiteRtModel model, LiteRtParamIndex subgraph_index, LiteRtSubgraph* subgraph);
LiteRtStatus LiteRtGetNumSubgraphInputs(LiteRtSubgraph subgraph, LiteRtParamIndex* num_inputs);
LiteRtStatus LiteRtGetSubgraphInput(LiteRtSubgraph subgraph, LiteRtParamIndex input_index, LiteRtTensor* input);
LiteRtStatus LiteRtGetNumSubgraphOutputs(LiteRtSubgraph subgraph, LiteRtParamIndex* num_outputs);
LiteRtStatus LiteRtGetSubgraphOutput(LiteRtSubgraph subgraph, LiteRtParamIndex output_index, LiteRtTensor* output);

// Tensors of the model.
LiteRtStatus LiteRtGetTensorName(LiteRtTensor tensor, const char** name);
LiteRtStatus LiteRtGetTensorTypeId(LiteRtTensor tensor, LiteRtTensorTypeId* type_id);
LiteRtStatus LiteRtGetRankedTensorType(LiteRtTensor tensor, LiteRtRankedTensorType* ranked_tensor_type);
LiteRtStatus LiteRtGetQuantizationTypeId(LiteRtTensor tensor, LiteRtQuantizationTypeId* q_type_id);
LiteRtStatus LiteRtGetPerTensorQuantization(LiteRtTensor tensor, LiteRtQuantizationPerTensor* quantization);

// Compiled model.
LiteRtStatus LiteRtCreateCompiledModel(LiteRtEnvironment environment, LiteRtModel model, LiteRtOptions options,
                                       LiteRtCompiledModel* compiled_model);
void LiteRtDestroyCompiledModel(LiteRtCompiledModel compiled_model);
LiteRtStatus LiteRtGetCompiledModelInputBufferRequirements(LiteRtCompiledModel compiled_model,
                                                           LiteRtParamIndex signature_index,
                                                           LiteRtParamIndex input_index,
                                                           LiteRtTensorBufferRequirements* requirements);
LiteRtStatus LiteRtGetCompiledModelOutputBufferRequirements(LiteRtCompiledModel compiled_model,
                                                            LiteRtParamIndex signature_index,
                                                            LiteRtParamIndex output_index,
                                                            LiteRtTensorBufferRequirements* requirements);
// Whether the chosen accelerator took every op (none left to LiteRT's CPU reference kernels).
LiteRtStatus LiteRtCompiledModelIsFullyAccelerated(LiteRtCompiledModel compiled_model, bool* fully_accelerated);
LiteRtStatus LiteRtRunCompiledModel(LiteRtCompiledModel compiled_model, LiteRtParamIndex signature_index,
                                    size_t num_input_buffers, LiteRtTensorBuffer* input_buffers,
                                    size_t num_output_buffers, LiteRtTensorBuffer* output_buffers);

// Tensor buffers.
LiteRtStatus LiteRtCreateManagedTensorBufferFromRequirements(LiteRtEnvironment environment,
                                                             const LiteRtRankedTensorType* tensor_type,
                                                             LiteRtTensorBufferRequirements requirements,
                                                             LiteRtTensorBuffer* buffer);
LiteRtStatus LiteRtGetTensorBufferPackedSize(LiteRtTensorBuffer buffer, size_t* size);
LiteRtStatus LiteRtLockTensorBuffer(LiteRtTensorBuffer buffer, void** host_memory, LiteRtTensorBufferLockMode mode);
LiteRtStatus LiteRtUnlockTensorBuffer(LiteRtTensorBuffer buffer);
void LiteRtDestroyTensorBuffer(LiteRtTensorBuffer buffer);

}  // extern "C"

#endif  // SEGCORE_LITERT_C_API_H_
