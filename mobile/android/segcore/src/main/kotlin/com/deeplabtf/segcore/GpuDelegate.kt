package com.deeplabtf.segcore

/** An operator the GPU delegate would leave to the CPU: its index in the graph, its name, and why. */
class CpuOp(val index: Int, val name: String, val reason: String)

/**
 * Whether a model runs whole on LiteRT's GPU delegate ([onCpu] empty) or which of its [ops] stay on the CPU.
 * The Android app shows [caption] while it runs on the GPU (issue 21, bug 6).
 */
class GpuSupport(val ops: Int, val onCpu: List<CpuOp>) {
    val whole: Boolean get() = onCpu.isEmpty()

    /**
     * What the screen says when the model runs on [running]: null on the CPU; on the GPU, "GPU: the whole model
     * (87 ops)" or "GPU: ARG_MAX, CAST run on the CPU (2 of 6 ops)" (an op found more than once: "RESHAPE x2").
     */
    fun caption(running: Accelerator): String? {
        if (running != Accelerator.GPU) return null
        if (whole) return "GPU: the whole model ($ops ops)"
        val counts = LinkedHashMap<String, Int>()
        onCpu.forEach { counts[it.name] = (counts[it.name] ?: 0) + 1 }
        val names = counts.entries.joinToString(", ") { (name, n) -> if (n == 1) name else "$name x$n" }
        val verb = if (onCpu.size == 1) "runs" else "run"
        return "GPU: $names $verb on the CPU (${onCpu.size} of $ops ops)"
    }
}

/**
 * Which operators of a .tflite the LiteRT GPU delegate would take, decided from the model file alone.
 *
 * Why offline: LiteRT's C, C++, Swift and Python APIs ask the compiled model (LiteRtCompiledModelIsFullyAccelerated,
 * which mobile/native's runner uses for iOS), but its Kotlin CompiledModel has no such query (LiteRT
 * litert/kotlin/src/main/kotlin/com/google/ai/edge/litert/Model.kt and its JNI, litert_compiled_model_jni.h,
 * at f67457790c9c, 2026-08-21: create, buffers, run, tensor types only).
 *
 * What is checked, as read in LiteRT's tflite/delegates/gpu/common/model_builder.cc (NewOperationParser: the
 * builtin ops that have a parser; its parsers' input counts) and tflite/tools/versioning/gpu_compatibility.cc
 * (CheckGpuDelegateCompatibility: casts, tensor types): the op list, tensors of rank at most 4, tensors
 * computed in float (8-bit ones only with a quantization scale, in a quantized model), the casts it has, a
 * DEQUANTIZE of fp16 weights or in a quantized model, the number of computed inputs of ADD, MUL, RESHAPE, the
 * resizes, TRANSPOSE and the two-operand ops, the paddings' shape, SLICE ranks, and the op versions of older
 * delegates. The same op list and rules as the Python check `deeplab-bench tflite` prints
 * (deeplab_tf/export/gpu_delegate.py; tests/mobile/test_android.py checks both name the same ops), which
 * further reads op options (fused activations, strides, MEAN axes, slice masks, softmax beta) that this one
 * does not; custom ops are counted as CPU ops.
 */
object GpuDelegate {
    // Builtin ops with a parser in model_builder.cc's NewOperationParser.
    private val OPS = """ABS ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS CUMSUM DENSIFY
        DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV ELU EQUAL EXP FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED
        GATHER GELU GREATER GREATER_EQUAL HARD_SWISH LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGISTIC LSTM
        MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD PADV2 POW PRELU QUANTIZE
        REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR
        RSQRT SELECT SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE
        STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE TRANSPOSE_CONV UNPACK""".split(Regex("\\s+")).toSet()

    /** The op list, for the test that compares it with the Python check's. */
    val supportedOps: Set<String> get() = OPS

    // Highest version older delegates took for float models (the TFLite GPU guide: DEPTHWISE_CONV_2D v1-2, RESIZE_BILINEAR v1-3).
    private val MAX_VERSIONS = mapOf("DEPTHWISE_CONV_2D" to 2, "RESIZE_BILINEAR" to 3)

    // TensorType codes of schema.fbs.
    private const val FLOAT32 = 0
    private const val FLOAT16 = 1
    private const val INT32 = 2
    private const val UINT8 = 3
    private const val BOOL = 6
    private const val INT8 = 9
    private val FLOATS = setOf(FLOAT32, FLOAT16)
    private val BYTES = setOf(UINT8, INT8)

    // The delegate's casts: bool <-> float, and between float32 and int32.
    private val CASTS = setOf(BOOL to FLOAT32, BOOL to FLOAT16, FLOAT32 to BOOL, FLOAT16 to BOOL,
        FLOAT32 to INT32, INT32 to FLOAT32, FLOAT32 to FLOAT32, INT32 to INT32)
    private val TWO_OPERANDS = setOf("DIV", "SUB", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "FLOOR_DIV", "FLOOR_MOD")
    private val ONE_COMPUTED = setOf("RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "TRANSPOSE")

    /** Every operator of [model]'s main subgraph checked; the ones the GPU delegate would not take, with their reason. */
    fun check(model: ModelFile): GpuSupport {
        val graph = model.graph
        val produced = graph.operators.flatMap { it.outputs }.toSet()
        val quantized = graph.tensors.any { it.typeCode in BYTES && it.scaled }
        fun tensor(index: Int): Operand = graph.tensors.getOrNull(index)?.let {
            Operand(it, computed = index in produced || index in graph.inputs)
        } ?: throw ContractException("${model.fileName}: an operator names tensor $index of ${graph.tensors.size}")
        val onCpu = graph.operators.withIndex().mapNotNull { (i, op) ->
            val inputs = op.inputs.filter { it >= 0 }.map(::tensor)
            val outputs = op.outputs.filter { it >= 0 }.map(::tensor)
            problem(op, inputs, outputs, quantized)?.let { CpuOp(i, op.name, it) }
        }
        return GpuSupport(graph.operators.size, onCpu)
    }

    private class Operand(val kind: TensorKind, val computed: Boolean) {
        val type: Int get() = kind.typeCode
        val rank: Int get() = kind.shape.size
    }

    private fun typeName(code: Int) = ModelFile.TYPE_NAMES.getOrNull(code)?.toUpperCase() ?: "type $code"

    private fun problem(op: OpFacts, inputs: List<Operand>, outputs: List<Operand>, quantized: Boolean): String? {
        val name = op.name
        if (name !in OPS) return "not an op of the GPU delegate"
        if (inputs.isEmpty() || outputs.isEmpty()) return "no input or no output tensor"
        val maxVersion = MAX_VERSIONS[name]
        if (!quantized && maxVersion != null && op.version > maxVersion) return "version ${op.version} (the GPU delegate lists v1-$maxVersion)"
        val computed = inputs.filter { it.computed }
        if ((inputs + outputs).any { it.rank > 4 }) return "a tensor of rank > 4"
        if (name == "DEQUANTIZE") {
            val fp16Weights = inputs[0].type == FLOAT16 && !inputs[0].computed
            return if (fp16Weights || quantized) null else "DEQUANTIZE of an integer tensor in a float model"
        }
        if (name == "CAST") {
            val from = inputs[0].type
            val to = outputs[0].type
            return if ((from to to) in CASTS) null else "${typeName(from)} -> ${typeName(to)} is not among its casts"
        }
        val allowed = if (quantized) FLOATS + BYTES else FLOATS
        val bad = (computed + outputs).filter { it.type !in allowed || (it.type in BYTES && !it.kind.scaled) }
            .map { typeName(it.type) }.toSortedSet()
        if (bad.isNotEmpty()) return "${bad.joinToString("/")} tensors (the delegate computes in float)"
        if ((name == "PAD" || name == "PADV2" || name == "MIRROR_PAD")) {
            val paddings = inputs.getOrNull(1)?.kind?.shape ?: IntArray(0)
            if (computed.size != 1 || paddings.size != 2 || paddings[0] !in 3..4 || paddings[1] != 2) {
                return "padding of shape ${shapeString(paddings)} (needs one computed input and 3x2 or 4x2 paddings)"
            }
        }
        if ((name == "SLICE" || name == "STRIDED_SLICE") && inputs[0].rank !in 3..4) return "$name of a rank-${inputs[0].rank} tensor (3 or 4 only)"
        if ((name == "ADD" || name == "MUL") && inputs.size != 2) return "$name of ${inputs.size} inputs"
        if (name in TWO_OPERANDS && !(inputs.size == 2 && computed.isNotEmpty())) return "$name needs two operands, at most one constant"
        if (name in ONE_COMPUTED && computed.size != 1) return "$name with ${computed.size} computed inputs"
        return null
    }
}

/** Names of TFLite's builtin operators by code (schema.fbs, enum BuiltinOperator). */
object BuiltinOps {
    const val CUSTOM = 32

    // In code order from 0; tests/mobile/test_android.py checks it against ai_edge_litert's schema.
    private val NAMES = """ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE
        EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D LOCAL_RESPONSE_NORMALIZATION
        LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX
        SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD
        UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE
        UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE
        BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL
        SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW
        ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN
        FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU
        SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS WHERE RANK ELU
        REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE NON_MAX_SUPPRESSION_V4
        NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES
        CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT
        HASHTABLE_SIZE REDUCE_ALL CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS
        RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1
        UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST
        BITWISE_XOR RIGHT_SHIFT""".split(Regex("\\s+"))

    /** The name of builtin [code]; the StableHLO codes after RIGHT_SHIFT and newer ones: "BUILTIN_<code>". */
    fun name(code: Int): String = NAMES.getOrNull(code) ?: "BUILTIN_$code"
}
