package com.deeplabtf.segcore

/**
 * A model input tensor [1, H, W, 3] in NHWC order: [bytes] for uint8/int8 input, [floats] for float32.
 * [box] says where the image content is (the whole input for stretch).
 */
class InputTensor(val dtype: DType, val bytes: ByteArray?, val floats: FloatArray?, val box: ContentBox)

/** A raw model output as the runtime gives it; exactly one of the arrays is set, matching [dtype]. */
class OutputTensor private constructor(
    val dtype: DType,
    val bytes: ByteArray?,
    val floats: FloatArray?,
    val ints: IntArray?,
    val longs: LongArray?
) {
    val size: Int
        get() = bytes?.size ?: floats?.size ?: ints?.size ?: longs!!.size

    companion object {
        fun float32(values: FloatArray) = OutputTensor(DType.FLOAT32, null, values, null, null)
        fun uint8(values: ByteArray) = OutputTensor(DType.UINT8, values, null, null, null)
        fun int8(values: ByteArray) = OutputTensor(DType.INT8, values, null, null, null)
        fun int32(values: IntArray) = OutputTensor(DType.INT32, null, null, values, null)
        fun int64(values: LongArray) = OutputTensor(DType.INT64, null, null, null, values)

        /** From raw little-endian bytes (e.g. a golden `output.bin`). */
        fun fromLittleEndian(dtype: DType, raw: ByteArray): OutputTensor {
            if (raw.size % dtype.bytes != 0) throw ContractException("${raw.size} bytes is not a whole number of ${dtype.jsonName} values")
            val buf = java.nio.ByteBuffer.wrap(raw).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            val n = raw.size / dtype.bytes
            return when (dtype) {
                DType.UINT8 -> uint8(raw)
                DType.INT8 -> int8(raw)
                DType.FLOAT32 -> float32(FloatArray(n) { buf.getFloat(4 * it) })
                DType.INT32 -> int32(IntArray(n) { buf.getInt(4 * it) })
                DType.INT64 -> int64(LongArray(n) { buf.getLong(8 * it) })
            }
        }
    }
}

/** Pixels to the model input tensor (contract section 2). */
object Preprocess {
    /**
     * Resizes [image] per [mode] and converts it to the input tensor that [input] describes.
     *
     * uint8: the pixels as they are; float32: (pixel - mean) / std in float32;
     * int8: the float32 value divided by the input scale, rounded half away from zero, plus the zero point.
     */
    fun run(image: PixelImage, input: InputSpec, mode: ResizeMode, pad: Int = 0): InputTensor {
        val resized = Resize.toInput(image, mode, input.height, input.width, pad)
        val pixels = resized.first
        val box = resized.second
        return when (input.dtype) {
            DType.UINT8 -> InputTensor(DType.UINT8, pixels, null, box)
            DType.FLOAT32 -> InputTensor(DType.FLOAT32, null, normalize(pixels, input), box)
            DType.INT8 -> {
                val q = input.quantization ?: throw ContractException("int8 input needs a quantization")
                val x = normalize(pixels, input)
                val out = ByteArray(x.size)
                for (i in x.indices) out[i] = quantizeInt8(x[i], q).toByte()
                InputTensor(DType.INT8, out, null, box)
            }
            else -> throw ContractException("input dtype ${input.dtype.jsonName} is not supported")
        }
    }

    private fun normalize(pixels: ByteArray, input: InputSpec): FloatArray {
        val out = FloatArray(pixels.size)
        val mean = input.mean
        val std = input.std
        for (i in pixels.indices) {
            val c = i % 3
            out[i] = ((pixels[i].toInt() and 0xFF).toFloat() - mean[c]) / std[c]
        }
        return out
    }

    /** clamp(round_half_away_from_zero(x / scale) + zero_point, -128, 127); x / scale in float32. */
    fun quantizeInt8(x: Float, q: Quantization): Int {
        val r = (x / q.scale).toDouble()
        val rounded = if (r >= 0.0) Math.floor(r + 0.5) else -Math.floor(-r + 0.5)
        val v = rounded + q.zeroPoint
        return if (v < -128.0) -128 else if (v > 127.0) 127 else v.toInt()
    }
}
