package com.deeplabtf.segcore

/** How the image is fitted to the model input: see mobile/contract/README.md section 1. */
enum class ResizeMode(val jsonName: String) {
    /** The whole image to H x W; aspect ratio not kept (what the official demos do). */
    STRETCH("stretch"),

    /** Aspect ratio kept; the rest of the input is padding. */
    LETTERBOX("letterbox");

    companion object {
        fun of(name: String): ResizeMode =
            values().firstOrNull { it.jsonName == name }
                ?: throw ContractException("resize must be 'stretch' or 'letterbox', got '$name'")
    }
}

/** Where the image content sits inside the model input (rows [top, top + height), columns [left, left + width)). */
class ContentBox(val top: Int, val left: Int, val height: Int, val width: Int) {
    override fun equals(other: Any?): Boolean =
        other is ContentBox && other.top == top && other.left == left && other.height == height && other.width == width

    override fun hashCode(): Int = ((top * 31 + left) * 31 + height) * 31 + width

    override fun toString(): String = "ContentBox(top=$top, left=$left, height=$height, width=$width)"

    companion object {
        /** The box of an [imageHeight] x [imageWidth] image in an [inputHeight] x [inputWidth] input. */
        fun of(mode: ResizeMode, imageHeight: Int, imageWidth: Int, inputHeight: Int, inputWidth: Int): ContentBox {
            if (mode == ResizeMode.STRETCH) return ContentBox(0, 0, inputHeight, inputWidth)
            val ih = imageHeight.toLong()
            val iw = imageWidth.toLong()
            val h = inputHeight.toLong()
            val w = inputWidth.toLong()
            val ch: Long
            val cw: Long
            if (w * ih <= h * iw) {
                cw = w
                ch = maxOf(1L, (ih * w + iw / 2) / iw)
            } else {
                ch = h
                cw = maxOf(1L, (iw * h + ih / 2) / ih)
            }
            return ContentBox(((h - ch) / 2).toInt(), ((w - cw) / 2).toInt(), ch.toInt(), cw.toInt())
        }
    }
}

/** Bilinear resize with half-pixel centres in 11-bit fixed point, bit-exact with mobile/native and Python. */
object Resize {
    private const val Q = 2048L
    private const val SHIFT = 22
    private const val ROUND = 1 shl 21

    /** Source index pairs and weights for one axis: [i0], [i1], weight of i1 in [frac] (0..Q-1). */
    private class Axis(val i0: IntArray, val i1: IntArray, val frac: IntArray)

    private fun axis(inSize: Int, outSize: Int): Axis {
        val i0 = IntArray(outSize)
        val i1 = IntArray(outSize)
        val frac = IntArray(outSize)
        val n = inSize.toLong()
        val m = outSize.toLong()
        for (o in 0 until outSize) {
            val t = maxOf(0L, (2L * o + 1) * n * Q - m * Q)
            val s = t / (2 * m)
            val a = minOf(s / Q, n - 1).toInt()
            i0[o] = a
            i1[o] = minOf(a + 1, inSize - 1)
            frac[o] = (s % Q).toInt()
        }
        return Axis(i0, i1, frac)
    }

    /**
     * Resizes the RGB channels of [src] to [outHeight] x [outWidth] and writes them into [dst]
     * (3 bytes per pixel, rows of [dstRowStride] bytes) starting at row [top], column [left].
     */
    fun bilinearRgb(
        src: PixelImage,
        outHeight: Int,
        outWidth: Int,
        dst: ByteArray,
        dstRowStride: Int,
        top: Int,
        left: Int
    ) {
        if (outHeight <= 0 || outWidth <= 0) throw ContractException("resize target must be positive, got ${outHeight}x$outWidth")
        val ys = axis(src.height, outHeight)
        val xs = axis(src.width, outWidth)
        val q = Q.toInt()
        val data = src.data
        val cs = src.channels
        for (y in 0 until outHeight) {
            val row0 = ys.i0[y] * src.rowStride
            val row1 = ys.i1[y] * src.rowStride
            val fy = ys.frac[y]
            var o = (top + y) * dstRowStride + left * 3
            for (x in 0 until outWidth) {
                val c0 = xs.i0[x] * cs
                val c1 = xs.i1[x] * cs
                val fx = xs.frac[x]
                for (c in 0 until 3) {
                    val topValue = (data[row0 + c0 + c].toInt() and 0xFF) * (q - fx) + (data[row0 + c1 + c].toInt() and 0xFF) * fx
                    val bottomValue = (data[row1 + c0 + c].toInt() and 0xFF) * (q - fx) + (data[row1 + c1 + c].toInt() and 0xFF) * fx
                    dst[o + c] = ((topValue * (q - fy) + bottomValue * fy + ROUND) ushr SHIFT).toByte()
                }
                o += 3
            }
        }
    }

    /** [src] resized into an [inputHeight] x [inputWidth] RGB buffer per [mode]; outside the box every byte is [pad]. */
    fun toInput(src: PixelImage, mode: ResizeMode, inputHeight: Int, inputWidth: Int, pad: Int = 0): Pair<ByteArray, ContentBox> {
        if (pad < 0 || pad > 255) throw ContractException("pad must be in 0..255, got $pad")
        val box = ContentBox.of(mode, src.height, src.width, inputHeight, inputWidth)
        val out = ByteArray(inputHeight * inputWidth * 3)
        if (pad != 0 && (box.height != inputHeight || box.width != inputWidth)) out.fill(pad.toByte())
        bilinearRgb(src, box.height, box.width, out, inputWidth * 3, box.top, box.left)
        return Pair(out, box)
    }

    /**
     * Nearest-neighbour resize of [mask] (pixel centres) to [outHeight] x [outWidth], after cropping
     * it to [box] (given in model-input coordinates of [inputHeight] x [inputWidth]) scaled to the mask's size.
     */
    fun maskToImage(mask: Mask, box: ContentBox, inputHeight: Int, inputWidth: Int, outHeight: Int, outWidth: Int): Mask {
        val crop = boxInMask(mask, box, inputHeight, inputWidth)
        val top = crop.top.toLong()
        val left = crop.left.toLong()
        val cropH = crop.height.toLong()
        val cropW = crop.width.toLong()
        val cols = IntArray(outWidth)
        for (x in 0 until outWidth) {
            cols[x] = (left + minOf(((2L * x + 1) * cropW) / (2L * outWidth), cropW - 1)).toInt()
        }
        val out = IntArray(outHeight * outWidth)
        val src = mask.ids
        for (y in 0 until outHeight) {
            val sy = (top + minOf(((2L * y + 1) * cropH) / (2L * outHeight), cropH - 1)).toInt()
            val rowBase = sy * mask.width
            val o = y * outWidth
            for (x in 0 until outWidth) out[o + x] = src[rowBase + cols[x]]
        }
        return Mask(outWidth, outHeight, out)
    }

    /**
     * The part of [mask] that shows the image: [box] (model-input coordinates of [inputHeight] x [inputWidth])
     * scaled to the mask's size as [maskToImage] scales it, at the mask's own resolution. What a live preview
     * draws over the camera picture, scaled there by the GPU.
     */
    fun maskCrop(mask: Mask, box: ContentBox, inputHeight: Int, inputWidth: Int): Mask {
        val crop = boxInMask(mask, box, inputHeight, inputWidth)
        // At the crop's own size the nearest-neighbour resize picks each pixel of the crop once.
        return maskToImage(mask, box, inputHeight, inputWidth, crop.height, crop.width)
    }

    /** [box] (model-input coordinates) scaled to [mask]'s size: top and left rounded down, bottom and right up. */
    private fun boxInMask(mask: Mask, box: ContentBox, inputHeight: Int, inputWidth: Int): ContentBox {
        val mh = mask.height.toLong()
        val mw = mask.width.toLong()
        val top = box.top * mh / inputHeight
        val bottom = ((box.top + box.height) * mh + inputHeight - 1) / inputHeight
        val left = box.left * mw / inputWidth
        val right = ((box.left + box.width) * mw + inputWidth - 1) / inputWidth
        val height = maxOf(1L, minOf(bottom, mh) - top)
        val width = maxOf(1L, minOf(right, mw) - left)
        return ContentBox(top.toInt(), left.toInt(), height.toInt(), width.toInt())
    }
}
