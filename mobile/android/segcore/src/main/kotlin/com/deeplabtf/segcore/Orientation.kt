package com.deeplabtf.segcore

/** A clockwise turn, then (if [mirrored]) a flip left to right: what makes an image upright. */
class Turn(val degrees: Int, val mirrored: Boolean) {
    override fun equals(other: Any?): Boolean = other is Turn && other.degrees == degrees && other.mirrored == mirrored

    override fun hashCode(): Int = degrees * 2 + if (mirrored) 1 else 0

    override fun toString(): String = "Turn($degrees, mirrored=$mirrored)"
}

/** A rectangle of a camera frame in sensor pixels: columns [left, left + width), rows [top, top + height). */
class CropRect(val left: Int, val top: Int, val width: Int, val height: Int)

/**
 * Camera frames upright before inference (what both official LiteRT segmentation samples do, and what the
 * iOS app's capture connection delivers): the model sees the scene the way the user does, so Android, iOS
 * and Python give the same mask for the same scene, and the overlay needs no rotation afterwards.
 */
object Orientation {
    /**
     * [frame] (sensor orientation) cropped to [crop] (CameraX's `cropRect`; null: the whole frame), then
     * rotated clockwise by [rotationDegrees] (CameraX's `imageInfo.rotationDegrees`: 0, 90, 180 or 270)
     * and, for a front camera ([mirrored]), flipped left to right as its preview shows it. RGB(A) kept.
     * The pixels go into [into] (size in bytes), by default a new array; a camera path passes a reused one.
     */
    fun upright(
        frame: PixelImage,
        rotationDegrees: Int,
        mirrored: Boolean,
        crop: CropRect? = null,
        into: (Int) -> ByteArray = { ByteArray(it) }
    ): PixelImage {
        val turns = when (rotationDegrees) {
            0, 90, 180, 270 -> rotationDegrees / 90
            else -> throw ContractException("rotation must be 0, 90, 180 or 270 degrees, got $rotationDegrees")
        }
        val c = crop ?: CropRect(0, 0, frame.width, frame.height)
        if (c.width <= 0 || c.height <= 0 || c.left < 0 || c.top < 0 || c.left + c.width > frame.width || c.top + c.height > frame.height) {
            throw ContractException("crop ${c.left},${c.top} ${c.width}x${c.height} is not inside the ${frame.width}x${frame.height} frame")
        }
        val w = c.width
        val h = c.height
        val outW = if (turns % 2 == 0) w else h
        val outH = if (turns % 2 == 0) h else w
        val ch = frame.channels
        val out = into(outW * outH * ch)
        if (out.size != outW * outH * ch) throw ContractException("upright image buffer has ${out.size} bytes, ${outW}x${outH}x$ch needs ${outW * outH * ch}")
        var o = 0
        for (y in 0 until outH) {
            for (xo in 0 until outW) {
                val x = if (mirrored) outW - 1 - xo else xo
                // The source pixel (sx, sy) of the crop that a clockwise turn puts at (x, y).
                val sx: Int
                val sy: Int
                when (turns) {
                    0 -> { sx = x; sy = y }
                    1 -> { sx = y; sy = h - 1 - x }
                    2 -> { sx = w - 1 - x; sy = h - 1 - y }
                    else -> { sx = w - 1 - y; sy = x }
                }
                System.arraycopy(frame.data, (c.top + sy) * frame.rowStride + (c.left + sx) * ch, out, o, ch)
                o += ch
            }
        }
        return PixelImage(outW, outH, ch, out)
    }

    /**
     * The turn that makes a photo upright from its EXIF orientation tag (1..8; 0 or unknown: as stored),
     * for the gallery on Android 7-8, where the decoder does not apply it.
     */
    fun fromExif(orientation: Int): Turn = when (orientation) {
        2 -> Turn(0, true) // flipped left to right
        3 -> Turn(180, false)
        4 -> Turn(180, true) // flipped top to bottom
        5 -> Turn(90, true) // transposed
        6 -> Turn(90, false)
        7 -> Turn(270, true) // transversed
        8 -> Turn(270, false)
        else -> Turn(0, false)
    }
}
