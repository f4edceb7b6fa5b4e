package com.deeplabtf.segcore

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

/** Hand-worked cases of the contract's algorithms (mobile/contract/README.md). */
class AlgorithmsTest {
    private fun rgb(width: Int, height: Int, vararg values: Int): PixelImage =
        PixelImage(width, height, 3, ByteArray(values.size) { values[it].toByte() })

    private fun u8(bytes: ByteArray): IntArray = IntArray(bytes.size) { bytes[it].toInt() and 0xFF }

    @Test
    fun sameSizeResizeIsIdentity() {
        val values = IntArray(4 * 3 * 3) { (it * 37 + 11) % 256 }
        val src = rgb(4, 3, *values)
        val (out, box) = Resize.toInput(src, ResizeMode.STRETCH, 3, 4)
        assertEquals(ContentBox(0, 0, 3, 4), box)
        assertArrayEquals(values, u8(out))
    }

    @Test
    fun upscalingTwoPixelsInterpolatesAtHalfPixelCentres() {
        // 1x2 -> 1x4: source x = (x + 0.5) / 2 - 0.5 = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped to 1).
        val src = rgb(2, 1, 0, 100, 255, 200, 100, 0)
        val (out, _) = Resize.toInput(src, ResizeMode.STRETCH, 1, 4)
        // R: 0, 0.75*0+0.25*200 = 50, 150, 200; G: 100, 100, 100, 100; B: 255, 191.25 -> 191, 63.75 -> 64, 0.
        assertArrayEquals(intArrayOf(0, 100, 255, 50, 100, 191, 150, 100, 64, 200, 100, 0), u8(out))
    }

    @Test
    fun rgbaAlphaIsIgnoredAndRowStrideHonoured() {
        // 2x1 RGBA with 3 bytes of row padding; alpha values must not leak into the result.
        val data = byteArrayOf(10, 20, 30, 0, 40, 50, 60, 99, 7, 7, 7)
        val src = PixelImage(2, 1, 4, data, rowStride = 11)
        val (out, _) = Resize.toInput(src, ResizeMode.STRETCH, 1, 2)
        assertArrayEquals(intArrayOf(10, 20, 30, 40, 50, 60), u8(out))
    }

    @Test
    fun letterboxBoxes() {
        // 97x131 image in 65x65: width-limited, 48 rows tall, centred vertically.
        assertEquals(ContentBox(8, 0, 48, 65), ContentBox.of(ResizeMode.LETTERBOX, 97, 131, 65, 65))
        // Tall image: height-limited.
        assertEquals(ContentBox(0, 16, 65, 33), ContentBox.of(ResizeMode.LETTERBOX, 200, 100, 65, 65))
        // Extreme aspect: never an empty box.
        assertEquals(ContentBox(32, 0, 1, 65), ContentBox.of(ResizeMode.LETTERBOX, 1, 1000, 65, 65))
    }

    @Test
    fun letterboxPadsOutsideTheBox() {
        val src = rgb(2, 1, 200, 200, 200, 200, 200, 200)
        val (out, box) = Resize.toInput(src, ResizeMode.LETTERBOX, 4, 4, pad = 7)
        assertEquals(ContentBox(1, 0, 2, 4), box)
        val v = u8(out)
        for (y in 0 until 4) for (x in 0 until 4) for (c in 0 until 3) {
            val expected = if (y in 1..2) 200 else 7
            assertEquals("pixel ($x, $y)", expected, v[(y * 4 + x) * 3 + c])
        }
    }

    @Test
    fun floatNormalizationIsOneSubtractionAndOneDivision() {
        val card = InputSpec(1, 1, DType.FLOAT32, floatArrayOf(127.5f, 127.5f, 127.5f),
            floatArrayOf(127.5f, 127.5f, 127.5f), null, ResizeMode.STRETCH)
        val t = Preprocess.run(rgb(1, 1, 0, 255, 128), card, ResizeMode.STRETCH)
        assertArrayEquals(floatArrayOf(-1f, 1f, (128f - 127.5f) / 127.5f), t.floats!!, 0f)
    }

    @Test
    fun int8QuantizationRoundsHalfAwayFromZeroAndClamps() {
        val q = Quantization(0.5f, -3)
        assertEquals(-3 + 3, Preprocess.quantizeInt8(1.25f, q))     // 2.5 -> 3
        assertEquals(-3 - 3, Preprocess.quantizeInt8(-1.25f, q))    // -2.5 -> -3
        assertEquals(-3 + 2, Preprocess.quantizeInt8(1.2f, q))      // 2.4 -> 2
        assertEquals(127, Preprocess.quantizeInt8(1000f, q))
        assertEquals(-128, Preprocess.quantizeInt8(-1000f, q))
        // Just below one half must not round up (a float32 x + 0.5f would give 1.0 here).
        assertEquals(0, Preprocess.quantizeInt8(0.49999997f, Quantization(1f, 0)))
    }

    private fun scoresSpec(h: Int, w: Int, c: Int, dtype: DType) =
        OutputSpec.validated(OutputKind.SCORES, dtype, intArrayOf(1, h, w, c), null, c)

    @Test
    fun argmaxTiesGoToTheLowestIdForEveryDtype() {
        val floats = floatArrayOf(1f, 3f, 3f, /**/ 5f, 5f, 0f)
        val m1 = Postprocess.maskFromOutput(scoresSpec(1, 2, 3, DType.FLOAT32), 3, OutputTensor.float32(floats))
        assertArrayEquals(intArrayOf(1, 0), m1.ids)
        // uint8: 200 > 100 (unsigned); int8: the same bytes are -56 < 100.
        val bytes = byteArrayOf(100, 200.toByte(), 0, /**/ 9, 9, 9)
        val m2 = Postprocess.maskFromOutput(scoresSpec(1, 2, 3, DType.UINT8), 3, OutputTensor.uint8(bytes))
        assertArrayEquals(intArrayOf(1, 0), m2.ids)
        val m3 = Postprocess.maskFromOutput(scoresSpec(1, 2, 3, DType.INT8), 3, OutputTensor.int8(bytes))
        assertArrayEquals(intArrayOf(0, 0), m3.ids)
    }

    @Test
    fun maskOutputPassesThroughAndRejectsUnknownIds() {
        val spec = OutputSpec.validated(OutputKind.MASK, DType.INT32, intArrayOf(1, 1, 3), null, 4)
        assertArrayEquals(intArrayOf(3, 0, 2), Postprocess.maskFromOutput(spec, 4, OutputTensor.int32(intArrayOf(3, 0, 2))).ids)
        expectContractError("class id 4") { Postprocess.maskFromOutput(spec, 4, OutputTensor.int32(intArrayOf(0, 4, 0))) }
        expectContractError("class id -1") { Postprocess.maskFromOutput(spec, 4, OutputTensor.int32(intArrayOf(-1, 0, 0))) }
        expectContractError("needs 3") { Postprocess.maskFromOutput(spec, 4, OutputTensor.int32(intArrayOf(0, 0))) }
        expectContractError("card says int32") { Postprocess.maskFromOutput(spec, 4, OutputTensor.uint8(byteArrayOf(0, 0, 0))) }
    }

    @Test
    fun unsupportedOutputsAreRefusedWithTheReason() {
        expectContractError("rank 5") {
            OutputSpec.validated(OutputKind.SCORES, DType.FLOAT32, intArrayOf(1, 2, 2, 3, 1), null, 3)
        }
        expectContractError("4 channels but the card lists 3") {
            OutputSpec.validated(OutputKind.SCORES, DType.FLOAT32, intArrayOf(1, 2, 2, 4), null, 3)
        }
        expectContractError("dtype must be float32, uint8 or int8") {
            OutputSpec.validated(OutputKind.SCORES, DType.INT32, intArrayOf(1, 2, 2, 3), null, 3)
        }
        expectContractError("rank 4") { OutputSpec.validated(OutputKind.MASK, DType.UINT8, intArrayOf(1, 2, 2, 3), null, 3) }
    }

    @Test
    fun maskBackToTheImageCropsTheLetterboxAndUsesPixelCentres() {
        // 4x4 mask whose rows 1..2 hold the content (box top 1, height 2); outside rows must never show.
        val ids = intArrayOf(9, 9, 9, 9, /**/ 0, 1, 2, 3, /**/ 4, 5, 6, 7, /**/ 9, 9, 9, 9)
        val mask = Mask(4, 4, ids)
        val out = Resize.maskToImage(mask, ContentBox(1, 0, 2, 4), 4, 4, 4, 2)
        // Rows: floor((y + 0.5) * 2 / 4) -> 0, 0, 1, 1; columns: floor((x + 0.5) * 4 / 2) -> 1, 3.
        assertArrayEquals(intArrayOf(1, 3, 1, 3, 5, 7, 5, 7), out.ids)
        // An output at half the input size: the box scales to rows [0, 1) -> [1*2/4, ceil(3*2/4)) = [0, 2).
        val half = Mask(2, 2, intArrayOf(1, 2, 3, 4))
        assertArrayEquals(intArrayOf(1, 2, 3, 4), Resize.maskToImage(half, ContentBox(1, 0, 2, 4), 4, 4, 2, 2).ids)
    }

    @Test
    fun overlayBlendsWithRoundingAndCountsClasses() {
        val classes = listOf(SegClass(0, "bg", 0, 0, 0), SegClass(1, "road", 255, 0, 100))
        val image = rgb(2, 1, 100, 100, 100, 10, 20, 30)
        val mask = Mask(2, 1, intArrayOf(0, 1))
        val out = u8(Postprocess.overlay(image, mask, classes, 128))
        // (100 * 127 + 0 + 127) / 255 = 50; (10 * 127 + 255 * 128 + 127) / 255 = 133; (20*127+127)/255 = 10;
        // (30 * 127 + 100 * 128 + 127) / 255 = 65.
        assertArrayEquals(intArrayOf(50, 50, 50, 255, 133, 10, 65, 255), out)
        assertArrayEquals(intArrayOf(100, 100, 100, 255, 10, 20, 30, 255), u8(Postprocess.overlay(image, mask, classes, 0)))
        assertEquals(listOf(ClassCount(0, 1), ClassCount(1, 1)), Postprocess.classesPresent(mask, 2))
        assertEquals(listOf(ClassCount(1, 3)), Postprocess.classesPresent(Mask(3, 1, intArrayOf(1, 1, 1)), 2))
        expectContractError("opacity") { Postprocess.overlay(image, mask, classes, 256) }
    }

    @Test
    fun badImagesAreRefused() {
        expectContractError("3 (RGB) or 4 (RGBA)") { PixelImage(1, 1, 2, ByteArray(2)) }
        expectContractError("needs 12") { PixelImage(2, 2, 3, ByteArray(11)) }
        expectContractError("positive") { PixelImage(0, 2, 3, ByteArray(0)) }
    }
}
