package com.deeplabtf.segment

import android.content.Context
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.net.Uri
import android.os.Build
import androidx.camera.core.ImageProxy
import com.deeplabtf.segcore.PixelImage
import java.nio.ByteBuffer

/** Conversions between Android images and segcore's [PixelImage] (RGBA bytes, no copies of pixels beyond one). */
object Frames {
    /** An ARGB_8888 bitmap's pixels: Android stores them as R, G, B, A bytes. */
    fun fromBitmap(bitmap: Bitmap): PixelImage {
        val argb = if (bitmap.config == Bitmap.Config.ARGB_8888) bitmap else bitmap.copy(Bitmap.Config.ARGB_8888, false)
        val buffer = ByteBuffer.allocate(argb.rowBytes * argb.height)
        argb.copyPixelsToBuffer(buffer)
        return PixelImage(argb.width, argb.height, 4, buffer.array(), argb.rowBytes)
    }

    /** A CameraX frame in OUTPUT_IMAGE_FORMAT_RGBA_8888: one plane, 4 bytes per pixel, rows of rowStride bytes. */
    fun fromImageProxy(frame: ImageProxy): PixelImage {
        val plane = frame.planes[0]
        val buffer = plane.buffer.duplicate()
        buffer.rewind()
        val bytes = ByteArray(buffer.remaining())
        buffer.get(bytes)
        return PixelImage(frame.width, frame.height, 4, bytes, plane.rowStride)
    }

    /** RGBA bytes (segcore's overlay) to a bitmap, rotated clockwise by [rotationDegrees] for display. */
    fun toBitmap(width: Int, height: Int, rgba: ByteArray, rotationDegrees: Int = 0): Bitmap {
        val bitmap = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
        bitmap.copyPixelsFromBuffer(ByteBuffer.wrap(rgba))
        if (rotationDegrees % 360 == 0) return bitmap
        val matrix = Matrix().apply { postRotate(rotationDegrees.toFloat()) }
        return Bitmap.createBitmap(bitmap, 0, 0, width, height, matrix, true)
    }

    /** A gallery image, upright (EXIF applied on API 28+), its longer side at most [maxSide] pixels. */
    fun decode(context: Context, uri: Uri, maxSide: Int = 1280): Bitmap {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            val source = ImageDecoder.createSource(context.contentResolver, uri)
            return ImageDecoder.decodeBitmap(source) { decoder, info, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                val side = maxOf(info.size.width, info.size.height)
                if (side > maxSide) {
                    val scale = maxSide.toFloat() / side
                    decoder.setTargetSize((info.size.width * scale).toInt().coerceAtLeast(1), (info.size.height * scale).toInt().coerceAtLeast(1))
                }
            }
        }
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        context.contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        var sample = 1
        while (maxOf(bounds.outWidth, bounds.outHeight) / (sample * 2) >= maxSide) sample *= 2
        val options = BitmapFactory.Options().apply {
            inSampleSize = sample
            inPreferredConfig = Bitmap.Config.ARGB_8888
        }
        return context.contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw IllegalArgumentException("cannot decode the image at $uri")
    }
}
