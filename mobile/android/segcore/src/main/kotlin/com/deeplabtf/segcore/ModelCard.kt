package com.deeplabtf.segcore

/** Element types that appear in the contract's tensors. */
enum class DType(val jsonName: String, val bytes: Int) {
    UINT8("uint8", 1),
    INT8("int8", 1),
    FLOAT32("float32", 4),
    INT32("int32", 4),
    INT64("int64", 8);

    companion object {
        fun of(name: String, where: String): DType =
            values().firstOrNull { it.jsonName == name }
                ?: throw ContractException(
                    "$where: unknown dtype '$name' (known: ${values().joinToString { it.jsonName }})"
                )
    }
}

/** Affine quantization of a tensor: real = scale * (stored - zeroPoint). */
class Quantization(val scale: Float, val zeroPoint: Int) {
    companion object {
        fun parse(obj: JsonObject?): Quantization? {
            if (obj == null) return null
            val scale = obj.double("scale").toFloat()
            if (!(scale > 0f) || scale.isInfinite()) throw ContractException("quantization scale must be > 0, got $scale")
            return Quantization(scale, obj.int("zero_point"))
        }
    }
}

/** What the model takes: NHWC RGB, its size, element type and, for float/int8 input, the normalization. */
class InputSpec(
    val height: Int,
    val width: Int,
    val dtype: DType,
    /** Pixel-space mean and std (0..255), parsed as double and rounded to float32. */
    val mean: FloatArray,
    val std: FloatArray,
    val quantization: Quantization?,
    /** The resize the card asks for by default ("stretch" unless it says "letterbox"). */
    val resize: ResizeMode
) {
    companion object {
        /** Parses and validates the card's `input` object. */
        fun parse(o: JsonObject): InputSpec {
            val height = o.int("height")
            val width = o.int("width")
            if (height <= 0 || width <= 0) throw ContractException("input size must be positive, got ${height}x$width")
            val channels = o.int("channels")
            if (channels != 3) throw ContractException("input.channels must be 3 (RGB), got $channels")
            val color = o.optString("color", "RGB")
            if (color != "RGB") throw ContractException("input.color must be 'RGB', got '$color'")
            val layout = o.optString("layout", "NHWC")
            if (layout != "NHWC") throw ContractException("input.layout must be 'NHWC', got '$layout'")
            val resize = ResizeMode.of(o.optString("resize", "stretch"))
            val dtype = DType.of(o.string("dtype"), "input.dtype")
            if (dtype != DType.UINT8 && dtype != DType.FLOAT32 && dtype != DType.INT8) {
                throw ContractException("input.dtype must be uint8, float32 or int8, got ${dtype.jsonName}")
            }
            val quantization = Quantization.parse(o.optObj("quantization"))
            if (dtype == DType.INT8 && quantization == null) {
                throw ContractException("input.dtype int8 needs input.quantization {scale, zero_point}")
            }
            var mean = floatArrayOf(0f, 0f, 0f)
            var std = floatArrayOf(1f, 1f, 1f)
            val norm = o.optObj("normalization")
            if (norm != null) {
                val m = norm.doubles("mean")
                val s = norm.doubles("std")
                if (m.size != 3 || s.size != 3) throw ContractException("input.normalization mean and std need 3 values each")
                if (s.any { !(it > 0.0) }) throw ContractException("input.normalization.std must be > 0, got ${s.joinToString()}")
                mean = FloatArray(3) { m[it].toFloat() }
                std = FloatArray(3) { s[it].toFloat() }
            } else if (dtype != DType.UINT8) {
                throw ContractException("input.dtype ${dtype.jsonName} needs input.normalization {mean, std}")
            }
            return InputSpec(height, width, dtype, mean, std, quantization, resize)
        }
    }
}

enum class OutputKind { SCORES, MASK }

/** What the model gives back: per-pixel class scores [1, H, W, C] or a class-id mask [1, H, W] / [1, H, W, 1]. */
class OutputSpec(
    val kind: OutputKind,
    val dtype: DType,
    val shape: IntArray,
    val quantization: Quantization?
) {
    val height: Int get() = shape[1]
    val width: Int get() = shape[2]

    /** Values per pixel: the class count for scores, 1 for a mask. */
    val depth: Int get() = if (kind == OutputKind.SCORES) shape[3] else 1

    val elements: Int get() = height * width * depth

    companion object {
        /** Validates an output tensor against the contract; [numClasses] is the card's class count. */
        fun validated(kind: OutputKind, dtype: DType, shape: IntArray, quantization: Quantization?, numClasses: Int): OutputSpec {
            val shown = shape.joinToString(prefix = "[", postfix = "]")
            if (shape.any { it <= 0 }) throw ContractException("output shape $shown has a non-positive dimension")
            when (kind) {
                OutputKind.SCORES -> {
                    if (shape.size != 4 || shape[0] != 1) {
                        throw ContractException("scores output must have shape [1, H, W, C] (rank 4), got $shown (rank ${shape.size})")
                    }
                    if (dtype != DType.FLOAT32 && dtype != DType.UINT8 && dtype != DType.INT8) {
                        throw ContractException("scores output dtype must be float32, uint8 or int8, got ${dtype.jsonName}")
                    }
                    if (shape[3] != numClasses) {
                        throw ContractException("scores output has ${shape[3]} channels but the card lists $numClasses classes")
                    }
                }
                OutputKind.MASK -> {
                    val ok = shape[0] == 1 && (shape.size == 3 || (shape.size == 4 && shape[3] == 1))
                    if (!ok) {
                        throw ContractException("mask output must have shape [1, H, W] or [1, H, W, 1], got $shown (rank ${shape.size})")
                    }
                    if (dtype != DType.UINT8 && dtype != DType.INT32 && dtype != DType.INT64) {
                        throw ContractException("mask output dtype must be uint8, int32 or int64, got ${dtype.jsonName}")
                    }
                }
            }
            return OutputSpec(kind, dtype, shape.copyOf(), quantization)
        }
    }
}

/** One class: its id (= index), name and overlay colour. */
class SegClass(val id: Int, val name: String, val red: Int, val green: Int, val blue: Int)

/**
 * The model card `<stem>.json` written beside each exported `.tflite` (format `deeplab_tf.model_card/1`).
 * Everything an app needs to run a model without code changes: input size and dtype, normalization,
 * output kind, class names and colours. [parse] validates it and names the first bad field.
 */
class ModelCard(
    val name: String,
    val version: String,
    val description: String,
    val modelFile: String,
    val labelsFile: String?,
    val input: InputSpec,
    val output: OutputSpec,
    val classes: List<SegClass>,
    val ignoreLabel: Int?
) {
    val numClasses: Int get() = classes.size

    companion object {
        const val FORMAT = "deeplab_tf.model_card/1"

        fun parse(text: String): ModelCard {
            val root = JsonObject.parse(text)
            val format = root.string("format")
            if (format != FORMAT) throw ContractException("model card format is '$format', expected '$FORMAT'")
            val classes = root.objects("classes").mapIndexed { n, c -> parseClass(c, n) }
            if (classes.isEmpty()) throw ContractException("model card lists no classes")
            return ModelCard(
                name = root.string("name"),
                version = root.optString("version", ""),
                description = root.optString("description", ""),
                modelFile = root.string("model_file"),
                labelsFile = if (root.has("labels_file")) root.string("labels_file") else null,
                input = InputSpec.parse(root.obj("input")),
                output = parseOutput(root.obj("output"), classes.size),
                classes = classes,
                ignoreLabel = root.optInt("ignore_label")
            )
        }

        private fun parseClass(c: JsonObject, n: Int): SegClass {
            val id = c.int("id")
            if (id != n) throw ContractException("classes[$n] has id $id; ids must be 0, 1, 2, ... in order")
            val rgb = c.ints("color")
            if (rgb.size != 3 || rgb.any { it < 0 || it > 255 }) {
                throw ContractException("classes[$n].color must be 3 integers in 0..255, got ${rgb.joinToString()}")
            }
            return SegClass(id, c.string("name"), rgb[0], rgb[1], rgb[2])
        }

        private fun parseOutput(o: JsonObject, numClasses: Int): OutputSpec {
            val kind = when (val k = o.string("kind")) {
                "scores" -> OutputKind.SCORES
                "mask" -> OutputKind.MASK
                else -> throw ContractException("output.kind must be 'scores' or 'mask', got '$k'")
            }
            val dtype = DType.of(o.string("dtype"), "output.dtype")
            return OutputSpec.validated(kind, dtype, o.ints("shape"), Quantization.parse(o.optObj("quantization")), numClasses)
        }
    }
}
