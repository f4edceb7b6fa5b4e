package com.deeplabtf.segcore

/**
 * An 8-bit RGB or RGBA image in row-major order (alpha ignored, not premultiplied).
 *
 * [rowStride] is the byte distance between rows (>= width * channels), so a camera plane or a
 * bitmap buffer with padding at the end of each row can be used as it is.
 */
class PixelImage(
    val width: Int,
    val height: Int,
    val channels: Int,
    val data: ByteArray,
    val rowStride: Int = width * channels
) {
    init {
        if (width <= 0 || height <= 0) throw ContractException("image size must be positive, got ${width}x$height")
        if (channels != 3 && channels != 4) throw ContractException("image must have 3 (RGB) or 4 (RGBA) channels, got $channels")
        if (rowStride < width * channels) throw ContractException("row stride $rowStride < width * channels = ${width * channels}")
        val needed = rowStride.toLong() * (height - 1) + width.toLong() * channels
        if (data.size < needed) throw ContractException("image buffer has ${data.size} bytes, ${width}x${height}x$channels needs $needed")
    }

    /** Channel [c] (0 = R, 1 = G, 2 = B) of pixel ([x], [y]), 0..255. */
    fun get(x: Int, y: Int, c: Int): Int = data[y * rowStride + x * channels + c].toInt() and 0xFF

    companion object {
        /** From packed 0xAARRGGBB ints (what `Bitmap.getPixels` returns) to an RGB image. */
        fun fromArgb(width: Int, height: Int, argb: IntArray): PixelImage {
            if (argb.size < width * height) throw ContractException("${argb.size} pixels for a ${width}x$height image")
            val out = ByteArray(width * height * 3)
            for (i in 0 until width * height) {
                val p = argb[i]
                out[3 * i] = (p shr 16).toByte()
                out[3 * i + 1] = (p shr 8).toByte()
                out[3 * i + 2] = p.toByte()
            }
            return PixelImage(width, height, 3, out)
        }
    }
}

/** Class id per pixel, row-major. */
class Mask(val width: Int, val height: Int, val ids: IntArray) {
    init {
        if (ids.size != width * height) throw ContractException("mask of ${width}x$height needs ${width * height} ids, got ${ids.size}")
    }

    fun get(x: Int, y: Int): Int = ids[y * width + x]
}
