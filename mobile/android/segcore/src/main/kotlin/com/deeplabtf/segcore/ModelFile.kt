package com.deeplabtf.segcore

/** One tensor of a .tflite model as its flatbuffer stores it. [dtypeName] is the TFLite type in lower case ("int16"). */
class TensorFacts(val name: String, val dtypeName: String, val typeCode: Int, val shape: IntArray, val quantization: Quantization?) {
    /** The contract's dtype, or null for a type outside it (int16, float16, bool, ...). */
    val dtype: DType? get() = DType.values().firstOrNull { it.jsonName == dtypeName }
}

/**
 * The input and output tensors of a .tflite file's main subgraph, read from its flatbuffer (schema.fbs:
 * Model.subgraphs[0], SubGraph.tensors/inputs/outputs, Tensor.shape/type/name/quantization).
 *
 * The app reads them before compiling, so a model outside the contract or a card that describes another
 * model is refused with the same messages as mobile/native's runner (runner.cpp), whatever LiteRT would do.
 */
class ModelFile(val fileName: String, val inputs: List<TensorFacts>, val outputs: List<TensorFacts>, val graph: Graph = Graph(emptyList(), emptyList(), emptyList())) {
    companion object {
        // TensorType of TFLite's schema.fbs, by code.
        internal val TYPE_NAMES = arrayOf(
            "float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16", "complex64", "int8",
            "float64", "complex128", "uint64", "resource", "variant", "uint32", "uint16", "int4", "bfloat16"
        )

        /** Reads the .tflite at [file]; a missing file is refused as mobile/native refuses it. */
        fun read(file: java.io.File): ModelFile {
            if (!file.isFile || !file.canRead()) throw unreadable(file.path)
            return read(file.path, file.readBytes())
        }

        /** The error for a model file that is not there (an app's asset as well as a path). */
        fun unreadable(fileName: String) = ContractException("model file $fileName does not exist or cannot be read")

        /** Reads [bytes] (the whole .tflite); [fileName] names it in errors. */
        fun read(fileName: String, bytes: ByteArray): ModelFile {
            val fb = Flatbuffer(bytes, fileName)
            if (bytes.size < 8 || String(bytes, 4, 4, Charsets.US_ASCII) != "TFL3") {
                throw ContractException("$fileName is not a .tflite model (no TFL3 flatbuffer identifier)")
            }
            val model = fb.root()
            val subgraphs = fb.tables(model, 2)
            if (subgraphs.isEmpty()) throw ContractException("$fileName has no subgraph")
            val graph = subgraphs[0]
            val tensors = fb.tables(graph, 0)
            fun pick(field: Int) = fb.ints(graph, field).map { index ->
                if (index < 0 || index >= tensors.size) throw ContractException("$fileName names tensor $index of ${tensors.size}")
                tensor(fb, tensors[index])
            }
            return ModelFile(fileName, pick(1), pick(2), graph(fileName, fb, model, graph, tensors))
        }

        /** Every tensor and operator of the main subgraph (schema.fbs: Model.operator_codes, SubGraph.operators). */
        private fun graph(fileName: String, fb: Flatbuffer, model: Int, graph: Int, tensors: List<Int>): Graph {
            val codes = fb.tables(model, 1).map { code ->
                // OperatorCode: the builtin is the larger of deprecated_builtin_code (byte) and builtin_code (int).
                val builtin = maxOf(fb.byteField(code, 0), fb.intField(code, 3, 0))
                val name = if (builtin == BuiltinOps.CUSTOM) "CUSTOM ${fb.string(code, 1) ?: ""}".trim() else BuiltinOps.name(builtin)
                Pair(name, fb.intField(code, 2, 1))
            }
            val operators = fb.tables(graph, 3).map { op ->
                val index = fb.intField(op, 0, 0)
                val (name, version) = codes.getOrNull(index) ?: throw ContractException("$fileName names operator code $index of ${codes.size}")
                OpFacts(name, version, fb.ints(op, 1), fb.ints(op, 2))
            }
            val kinds = tensors.map { t ->
                val q = fb.table(t, 4)
                TensorKind(fb.byteField(t, 1), fb.ints(t, 0).toIntArray(), q != null && fb.floats(q, 2).isNotEmpty())
            }
            return Graph(kinds, fb.ints(graph, 1), operators)
        }

        private fun tensor(fb: Flatbuffer, t: Int): TensorFacts {
            val code = fb.byteField(t, 1)
            val name = fb.string(t, 3) ?: ""
            val q = fb.table(t, 4)
            var quantization: Quantization? = null
            if (q != null) {
                val scales = fb.floats(q, 2)
                val zeros = fb.longs(q, 3)
                if (scales.size == 1) quantization = Quantization(scales[0], if (zeros.isEmpty()) 0 else zeros[0].toInt())
                else if (scales.size > 1) throw ContractException("the model's tensor \"$name\" is quantized per channel; the contract takes per-tensor quantization")
            }
            val typeName = TYPE_NAMES.getOrNull(code) ?: "an unknown type"
            return TensorFacts(name, typeName, code, fb.ints(t, 0).toIntArray(), quantization)
        }
    }

    /**
     * Throws [ContractException] unless the model has one input [1, H, W, 3] (uint8, int8, float32) and one
     * output, scores [1, H, W, C] (float32, uint8, int8) or a mask [1, H, W] / [1, H, W, 1] (uint8, int32, int64).
     */
    fun checkContract() {
        if (inputs.size != 1 || outputs.size != 1) {
            throw ContractException("$fileName has ${inputs.size} input(s) and ${outputs.size} output(s); the contract takes one image input and one scores or mask output")
        }
        check(inputs[0], "input")
        check(outputs[0], "output")
    }

    private fun check(t: TensorFacts, role: String) {
        val what = "the model's $role tensor \"${t.name}\""
        val shape = shapeString(t.shape)
        val dtype = t.dtype ?: throw ContractException(
            "$what has dtype ${t.dtypeName} (TFLite type ${t.typeCode}); the contract takes uint8, int8 or float32" +
                if (role == "output") " scores, or a uint8/int32/int64 mask" else " images"
        )
        if (t.shape.any { it < 1 }) throw ContractException("$what has a dynamic or empty dimension: $shape")
        if (role == "input") {
            if (t.shape.size != 4 || t.shape[0] != 1 || t.shape[3] != 3) throw ContractException("$what has shape $shape; the contract takes one image [1, H, W, 3]")
            if (dtype != DType.UINT8 && dtype != DType.INT8 && dtype != DType.FLOAT32) {
                throw ContractException("$what is ${dtype.jsonName}; the contract takes uint8, int8 or float32 images")
            }
        } else {
            if ((t.shape.size != 3 && t.shape.size != 4) || t.shape[0] != 1) {
                throw ContractException("$what has rank ${t.shape.size} $shape; the contract takes scores [1, H, W, C] or a mask [1, H, W]")
            }
            val mask = isMask(t.shape)
            val ok = if (mask) dtype == DType.UINT8 || dtype == DType.INT32 || dtype == DType.INT64 else dtype != DType.INT32 && dtype != DType.INT64
            if (!ok) throw ContractException("$what is ${dtype.jsonName} $shape" + if (mask) "; a mask output is uint8, int32 or int64" else "; scores are float32, uint8 or int8")
        }
    }

    /**
     * Throws [ContractException] listing every disagreement between [card] and this model (input shape and
     * dtype, output kind, shape and dtype, class count), as mobile/native's Runner::check_card does: an app
     * that trusted a wrong card would read the output buffer with the wrong element size.
     */
    fun checkCard(card: ModelCard) {
        checkContract()
        val input = inputs[0]
        val output = outputs[0]
        val problems = ArrayList<String>()
        val cardIn = intArrayOf(1, card.input.height, card.input.width, 3)
        if (!cardIn.contentEquals(input.shape)) problems.add("input shape: card ${shapeString(cardIn)}, model ${shapeString(input.shape)}")
        if (input.dtype != card.input.dtype) problems.add("input dtype: card ${card.input.dtype.jsonName}, model ${input.dtypeName}")
        val kind = if (isMask(output.shape)) "mask" else "scores"
        val cardKind = if (card.output.kind == OutputKind.MASK) "mask" else "scores"
        if (kind != cardKind) problems.add("output kind: card $cardKind, model $kind")
        if (!card.output.shape.contentEquals(output.shape)) problems.add("output shape: card ${shapeString(card.output.shape)}, model ${shapeString(output.shape)}")
        if (output.dtype != card.output.dtype) problems.add("output dtype: card ${card.output.dtype.jsonName}, model ${output.dtypeName}")
        if (kind == "scores" && output.shape[3] != card.numClasses) {
            problems.add("the model scores ${output.shape[3]} classes, the card lists ${card.numClasses}")
        }
        if (problems.isNotEmpty()) {
            throw ContractException("the model card does not describe this model:" + problems.joinToString("") { " $it;" })
        }
    }

    private fun isMask(shape: IntArray) = shape.size == 3 || shape[3] == 1
}

/** What the GPU check needs of any tensor: its TFLite type code, shape, and whether it has a quantization scale. */
class TensorKind(val typeCode: Int, val shape: IntArray, val scaled: Boolean)

/** One operator: its builtin name ("ARG_MAX"; "CUSTOM name" for a custom op), version and tensor indices (-1: omitted). */
class OpFacts(val name: String, val version: Int, val inputs: List<Int>, val outputs: List<Int>)

/** The main subgraph: all its tensors, the indices of its inputs, its operators in execution order. */
class Graph(val tensors: List<TensorKind>, val inputs: List<Int>, val operators: List<OpFacts>)

/** "[1, 8, 8, 3]", as mobile/native writes shapes. */
fun shapeString(shape: IntArray): String = shape.joinToString(prefix = "[", postfix = "]")

/** Just enough of the FlatBuffers wire format to read tables, vectors and strings, every offset bounds-checked. */
private class Flatbuffer(private val b: ByteArray, private val fileName: String) {
    private fun bad(): Nothing = throw ContractException("$fileName is not a valid .tflite flatbuffer")

    private fun u8(at: Int): Int = if (at < 0 || at >= b.size) bad() else b[at].toInt() and 0xFF

    private fun u16(at: Int): Int = u8(at) or (u8(at + 1) shl 8)

    private fun i32(at: Int): Int = u8(at) or (u8(at + 1) shl 8) or (u8(at + 2) shl 16) or (u8(at + 3) shl 24)

    private fun i64(at: Int): Long = (i32(at).toLong() and 0xFFFFFFFFL) or (i32(at + 4).toLong() shl 32)

    fun root(): Int = i32(0).also { if (it < 0 || it >= b.size) bad() }

    /** Absolute position of field [n] of the table at [t], or -1 when absent. */
    private fun field(t: Int, n: Int): Int {
        val vtable = t - i32(t)
        val size = u16(vtable)
        if (4 + 2 * n >= size) return -1
        val offset = u16(vtable + 4 + 2 * n)
        return if (offset == 0) -1 else t + offset
    }

    private fun indirect(at: Int): Int = (at + i32(at)).also { if (it < 0 || it >= b.size) bad() }

    fun byteField(t: Int, n: Int): Int = field(t, n).let { if (it < 0) 0 else u8(it) }

    fun intField(t: Int, n: Int, default: Int): Int = field(t, n).let { if (it < 0) default else i32(it) }

    fun table(t: Int, n: Int): Int? = field(t, n).let { if (it < 0) null else indirect(it) }

    /** (start of the elements, count) of the vector in field [n], or null. */
    private fun vector(t: Int, n: Int): Pair<Int, Int>? {
        val at = field(t, n)
        if (at < 0) return null
        val v = indirect(at)
        val count = i32(v)
        if (count < 0 || count > b.size) bad()
        return Pair(v + 4, count)
    }

    fun tables(t: Int, n: Int): List<Int> {
        val (start, count) = vector(t, n) ?: return emptyList()
        return (0 until count).map { indirect(start + 4 * it) }
    }

    fun ints(t: Int, n: Int): List<Int> {
        val (start, count) = vector(t, n) ?: return emptyList()
        return (0 until count).map { i32(start + 4 * it) }
    }

    fun floats(t: Int, n: Int): FloatArray {
        val (start, count) = vector(t, n) ?: return FloatArray(0)
        return FloatArray(count) { java.lang.Float.intBitsToFloat(i32(start + 4 * it)) }
    }

    fun longs(t: Int, n: Int): LongArray {
        val (start, count) = vector(t, n) ?: return LongArray(0)
        return LongArray(count) { i64(start + 8 * it) }
    }

    fun string(t: Int, n: Int): String? {
        val (start, count) = vector(t, n) ?: return null
        if (start + count > b.size) bad()
        return String(b, start, count, Charsets.UTF_8)
    }
}
