package com.deeplabtf.segcore

/** A class that occurs in a mask and how many pixels it covers. */
class ClassCount(val id: Int, val pixels: Int) {
    override fun equals(other: Any?): Boolean = other is ClassCount && other.id == id && other.pixels == pixels

    override fun hashCode(): Int = id * 31 + pixels

    override fun toString(): String = "ClassCount(id=$id, pixels=$pixels)"
}

/** Model output to masks, overlay and legend (contract sections 3 to 5). */
object Postprocess {
    /**
     * The class-id mask at the output's resolution: argmax over the raw stored scores (ties to the
     * lowest id), or a mask output checked to hold only ids < [numClasses].
     */
    fun maskFromOutput(spec: OutputSpec, numClasses: Int, tensor: OutputTensor): Mask {
        if (tensor.dtype != spec.dtype) {
            throw ContractException("output tensor is ${tensor.dtype.jsonName} but the card says ${spec.dtype.jsonName}")
        }
        if (tensor.size != spec.elements) {
            throw ContractException("output tensor has ${tensor.size} values, shape ${spec.shape.joinToString(prefix = "[", postfix = "]")} needs ${spec.elements}")
        }
        val hw = spec.height * spec.width
        val ids = IntArray(hw)
        if (spec.kind == OutputKind.SCORES) {
            val c = spec.depth
            if (c != numClasses) throw ContractException("scores have $c channels but there are $numClasses classes")
            when (spec.dtype) {
                DType.FLOAT32 -> argmaxFloat(tensor.floats!!, c, ids)
                DType.UINT8 -> argmaxBytes(tensor.bytes!!, c, ids, 0xFF)
                DType.INT8 -> argmaxBytes(tensor.bytes!!, c, ids, -1)
                else -> throw ContractException("scores dtype ${spec.dtype.jsonName} is not supported")
            }
        } else {
            for (i in 0 until hw) {
                val v: Long = when (spec.dtype) {
                    DType.UINT8 -> (tensor.bytes!![i].toInt() and 0xFF).toLong()
                    DType.INT32 -> tensor.ints!![i].toLong()
                    DType.INT64 -> tensor.longs!![i]
                    else -> throw ContractException("mask dtype ${spec.dtype.jsonName} is not supported")
                }
                if (v < 0 || v >= numClasses) {
                    throw ContractException("mask output holds class id $v at pixel $i; the card lists $numClasses classes")
                }
                ids[i] = v.toInt()
            }
        }
        return Mask(spec.width, spec.height, ids)
    }

    private fun argmaxFloat(v: FloatArray, c: Int, ids: IntArray) {
        var base = 0
        for (p in ids.indices) {
            var best = 0
            var bestValue = v[base]
            for (k in 1 until c) {
                val x = v[base + k]
                if (x > bestValue) { bestValue = x; best = k }
            }
            ids[p] = best
            base += c
        }
    }

    /** [mask] 0xFF reads bytes as uint8, -1 keeps them signed (int8). */
    private fun argmaxBytes(v: ByteArray, c: Int, ids: IntArray, mask: Int) {
        var base = 0
        for (p in ids.indices) {
            var best = 0
            var bestValue = v[base].toInt() and mask
            for (k in 1 until c) {
                val x = v[base + k].toInt() and mask
                if (x > bestValue) { bestValue = x; best = k }
            }
            ids[p] = best
            base += c
        }
    }

    /**
     * out = (image * (255 - a) + colour * a + 127) / 255 per channel, alpha 255; RGBA bytes at image size.
     * With a class filter [only], classes outside it are not coloured (a = 0: the image's own pixels).
     */
    fun overlay(image: PixelImage, mask: Mask, classes: List<SegClass>, opacity: Int, only: Set<Int>? = null): ByteArray {
        if (opacity < 0 || opacity > 255) throw ContractException("opacity must be in 0..255, got $opacity")
        checkSize(image, mask)
        val palette = IntArray(classes.size * 3)
        val keep = IntArray(classes.size)
        for (k in classes.indices) {
            val a = if (only == null || k in only) opacity else 0
            palette[3 * k] = classes[k].red * a
            palette[3 * k + 1] = classes[k].green * a
            palette[3 * k + 2] = classes[k].blue * a
            keep[k] = 255 - a
        }
        val data = image.data
        return perPixel(image, mask, classes.size) { s, k, out, o ->
            for (c in 0 until 3) out[o + c] = (((data[s + c].toInt() and 0xFF) * keep[k] + palette[3 * k + c] + 127) / 255).toByte()
            out[o + 3] = 255.toByte()
        }
    }

    /**
     * Background removal: the image's pixels where the class is in [keep], alpha 255; elsewhere transparent
     * (all four bytes 0). RGBA bytes at image size, e.g. "person" only for a cut-out to save or share.
     */
    fun cutout(image: PixelImage, mask: Mask, numClasses: Int, keep: Set<Int>): ByteArray {
        checkSize(image, mask)
        val kept = BooleanArray(numClasses) { it in keep }
        val data = image.data
        return perPixel(image, mask, numClasses) { s, k, out, o ->
            if (kept[k]) {
                for (c in 0 until 3) out[o + c] = data[s + c]
                out[o + 3] = 255.toByte()
            }
        }
    }

    /**
     * The mask in the card's colours with alpha [opacity] (0 for classes outside the filter [only]), RGBA
     * premultiplied (each colour byte (c * alpha + 127) / 255, what Android bitmaps and Core Graphics draw),
     * at the mask's size: a live preview lays it over the camera picture, which the display blends.
     */
    fun colourMask(mask: Mask, classes: List<SegClass>, opacity: Int, only: Set<Int>? = null): ByteArray {
        if (opacity < 0 || opacity > 255) throw ContractException("opacity must be in 0..255, got $opacity")
        val palette = ByteArray(classes.size * 4)
        for (k in classes.indices) {
            val a = if (only == null || k in only) opacity else 0
            palette[4 * k] = ((classes[k].red * a + 127) / 255).toByte()
            palette[4 * k + 1] = ((classes[k].green * a + 127) / 255).toByte()
            palette[4 * k + 2] = ((classes[k].blue * a + 127) / 255).toByte()
            palette[4 * k + 3] = a.toByte()
        }
        val out = ByteArray(mask.ids.size * 4)
        for (p in mask.ids.indices) {
            val k = mask.ids[p]
            if (k < 0 || k >= classes.size) throw ContractException("mask holds class id $k; there are ${classes.size} classes")
            System.arraycopy(palette, 4 * k, out, 4 * p, 4)
        }
        return out
    }

    private fun checkSize(image: PixelImage, mask: Mask) {
        if (mask.width != image.width || mask.height != image.height) {
            throw ContractException("mask is ${mask.width}x${mask.height} but the image is ${image.width}x${image.height}")
        }
    }

    /** RGBA output at image size; [write] gets the pixel's offset in the image, its class id, the output and its offset there. */
    private inline fun perPixel(image: PixelImage, mask: Mask, numClasses: Int, write: (Int, Int, ByteArray, Int) -> Unit): ByteArray {
        val out = ByteArray(image.width * image.height * 4)
        var o = 0
        for (y in 0 until image.height) {
            var s = y * image.rowStride
            for (x in 0 until image.width) {
                val k = mask.ids[y * image.width + x]
                if (k < 0 || k >= numClasses) throw ContractException("mask holds class id $k; there are $numClasses classes")
                write(s, k, out, o)
                s += image.channels
                o += 4
            }
        }
        return out
    }

    /** Class ids occurring in [mask], ascending, with pixel counts. */
    fun classesPresent(mask: Mask, numClasses: Int): List<ClassCount> {
        val counts = IntArray(numClasses)
        for (k in mask.ids) {
            if (k < 0 || k >= numClasses) throw ContractException("mask holds class id $k; there are $numClasses classes")
            counts[k]++
        }
        return counts.indices.filter { counts[it] > 0 }.map { ClassCount(it, counts[it]) }
    }
}
