package com.deeplabtf.segment

import android.content.Context
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.media.ExifInterface
import android.net.Uri
import android.os.Build
import androidx.camera.core.ImageProxy
import com.deeplabtf.segcore.BufferRing
import com.deeplabtf.segcore.CropRect
import com.deeplabtf.segcore.Orientation
import com.deeplabtf.segcore.PixelImage
import java.io.File
import java.io.IOException
import java.nio.ByteBuffer

/**
 * What the camera path reuses from frame to frame (segcore [BufferRing], tested there): the frame's bytes and
 * the upright image (one each: only the inference thread uses them, within a frame), and the live mask's
 * bitmaps (three in turn: one on screen, one handed over, one written). Only touched on the inference thread.
 */
class FrameBuffers {
    val sensor = BufferRing(1) { size, _ -> ByteArray(size) }
    val upright = BufferRing(1) { size, _ -> ByteArray(size) }
    val masks = BufferRing(3) { width, height -> Frames.newBitmap(width, height) }
}

/** Conversions between Android images and segcore's [PixelImage]; every turn and flip is segcore's (tested there). */
object Frames {
    /** A bitmap's pixels, not premultiplied (`getPixels` gives straight ARGB even for a premultiplied bitmap). */
    fun fromBitmap(bitmap: Bitmap): PixelImage {
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        return PixelImage.fromArgb(bitmap.width, bitmap.height, argb)
    }

    /**
     * A CameraX frame (OUTPUT_IMAGE_FORMAT_RGBA_8888) upright, as the user sees the scene: its `cropRect`
     * kept, turned by its `rotationDegrees` and, from the front camera ([mirrored]), flipped like its preview.
     * The model sees this image, so the mask needs no rotation afterwards. The frame's bytes and the upright
     * image go into [buffers], reused from frame to frame (no new arrays per frame).
     */
    fun uprightFrame(frame: ImageProxy, mirrored: Boolean, buffers: FrameBuffers): PixelImage {
        val plane = frame.planes[0]
        val buffer = plane.buffer.duplicate()
        buffer.rewind()
        val bytes = buffers.sensor.next(buffer.remaining(), 1)
        buffer.get(bytes)
        val sensor = PixelImage(frame.width, frame.height, 4, bytes, plane.rowStride)
        val crop = frame.cropRect
        return Orientation.upright(sensor, frame.imageInfo.rotationDegrees, mirrored, CropRect(crop.left, crop.top, crop.width(), crop.height())) {
            buffers.upright.next(it, 1)
        }
    }

    /**
     * RGBA bytes (segcore's overlay, alpha 255, or its premultiplied colour mask for the live preview; both
     * upright) to a bitmap, whose ARGB_8888 pixels are premultiplied RGBA bytes.
     */
    fun toBitmap(width: Int, height: Int, rgba: ByteArray): Bitmap = fill(newBitmap(width, height), rgba)

    fun newBitmap(width: Int, height: Int): Bitmap = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)

    /** [rgba] (premultiplied, [bitmap]'s size) written into [bitmap], which is returned (a reused bitmap too: the copy marks its pixels changed, so the screen draws the new ones). */
    fun fill(bitmap: Bitmap, rgba: ByteArray): Bitmap {
        bitmap.copyPixelsFromBuffer(ByteBuffer.wrap(rgba))
        return bitmap
    }

    /** [bitmap] as a PNG at [file], written under a temporary name and renamed when complete. */
    fun writePng(bitmap: Bitmap, file: File): File {
        val partial = File(file.parentFile, file.name + ".partial")
        partial.outputStream().use { if (!bitmap.compress(Bitmap.CompressFormat.PNG, 100, it)) throw IOException("cannot encode ${file.name}") }
        if (!partial.renameTo(file)) throw IOException("cannot rename ${partial.name} to ${file.name}")
        return file
    }

    /**
     * A gallery image upright (EXIF applied on every API level), its longer side at most about [maxSide]
     * pixels, alpha not premultiplied. Throws IOException or IllegalArgumentException when it cannot be read.
     */
    fun decode(context: Context, uri: Uri, maxSide: Int = 1280): PixelImage {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            val source = ImageDecoder.createSource(context.contentResolver, uri)
            // ImageDecoder applies the EXIF orientation itself.
            return fromBitmap(ImageDecoder.decodeBitmap(source) { decoder, info, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                decoder.isUnpremultipliedRequired = true
                val side = maxOf(info.size.width, info.size.height)
                if (side > maxSide) {
                    val scale = maxSide.toFloat() / side
                    decoder.setTargetSize((info.size.width * scale).toInt().coerceAtLeast(1), (info.size.height * scale).toInt().coerceAtLeast(1))
                }
            })
        }
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        context.contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        var sample = 1
        while (maxOf(bounds.outWidth, bounds.outHeight) / (sample * 2) >= maxSide) sample *= 2
        val options = BitmapFactory.Options().apply {
            inSampleSize = sample
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inPremultiplied = false
        }
        val bitmap = context.contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw IllegalArgumentException("cannot decode the image at $uri")
        // BitmapFactory ignores EXIF: turn the pixels as the tag says (android.media.ExifInterface reads streams from API 24).
        val tag = context.contentResolver.openInputStream(uri)?.use {
            ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        } ?: ExifInterface.ORIENTATION_NORMAL
        val turn = Orientation.fromExif(tag)
        return Orientation.upright(fromBitmap(bitmap), turn.degrees, turn.mirrored)
    }
}
