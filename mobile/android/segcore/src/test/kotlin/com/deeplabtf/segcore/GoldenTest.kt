package com.deeplabtf.segcore

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assume
import org.junit.Test
import org.junit.runner.RunWith
import org.junit.runners.Parameterized
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import javax.imageio.ImageIO

/**
 * The golden vectors of mobile/contract (made by Python): preprocessing must give the same bytes,
 * the masks from the raw model output, the mask at image size, the overlay and the legend must match.
 *
 * The contract folder comes from the system property `segcore.contract` (run_tests.sh sets it).
 */
@RunWith(Parameterized::class)
class GoldenTest(private val name: String) {
    private val case = JsonObject.parse(contractFile("cases/$name/case.json").readText())

    private fun card(): ModelCard = ModelCard.parse(contractFile(case.string("card")).readText())

    /** The card's input; a preprocessing-only case may carry just the card's `input` object. */
    private fun inputSpec(): InputSpec {
        val root = JsonObject.parse(contractFile(case.string("card")).readText())
        return if (root.has("format")) card().input else InputSpec.parse(root.obj("input"))
    }

    private fun image(): PixelImage {
        val info = case.obj("image")
        val png = readPng(located(info), info.int("channels"))
        assertEquals(info.int("width"), png.width)
        assertEquals(info.int("height"), png.height)
        return PixelImage(png.width, png.height, png.channels, png.data)
    }

    /** A file named by [info]: relative to the contract folder, or to ../shared when `"root": "shared"`. */
    private fun located(info: JsonObject): File {
        if (info.optString("root", "contract") != "shared") return contractFile(info.string("file"))
        val shared = File(System.getProperty("segcore.shared") ?: File(contractDir(), "../../../shared").path)
        val file = File(shared, info.string("file"))
        Assume.assumeTrue("$file is absent (the shared folder is not here)", file.isFile)
        return file
    }

    private fun box(): ContentBox {
        val b = case.obj("preprocess").obj("content")
        return ContentBox(b.int("top"), b.int("left"), b.int("height"), b.int("width"))
    }

    private fun readMask(key: String): Mask {
        val info = case.obj(key)
        val img = readPng(contractFile(info.string("file")), 1)
        assertEquals(info.int("height"), img.height)
        assertEquals(info.int("width"), img.width)
        return Mask(img.width, img.height, IntArray(img.width * img.height) { img.data[it].toInt() and 0xFF })
    }

    /** Fraction of identical ids; prints it so the run shows the agreement, then asserts [minimum]. */
    private fun agreement(what: String, expected: Mask, actual: Mask, minimum: Double) {
        assertEquals("$what width", expected.width, actual.width)
        assertEquals("$what height", expected.height, actual.height)
        var same = 0
        for (i in expected.ids.indices) if (expected.ids[i] == actual.ids[i]) same++
        val fraction = same.toDouble() / expected.ids.size
        println("golden $name: $what agreement ${"%.5f".format(fraction * 100)}% ($same of ${expected.ids.size} pixels)")
        assertTrue("$what: only $same of ${expected.ids.size} pixels agree", fraction >= minimum)
    }

    @Test
    fun preprocessingIsBitExact() {
        val input = inputSpec()
        val pre = case.obj("preprocess")
        val tensorInfo = case.obj("input")
        assertEquals("case and card disagree on the input dtype", tensorInfo.string("dtype"), input.dtype.jsonName)
        assertArrayEquals(intArrayOf(1, input.height, input.width, 3), tensorInfo.ints("shape"))
        val tensor = Preprocess.run(image(), input, ResizeMode.of(pre.string("resize")), pre.optInt("pad") ?: 0)
        assertEquals(box(), tensor.box)
        val actual = tensor.bytes ?: littleEndian(tensor.floats!!)
        assertEquals("input tensor size", input.height * input.width * 3 * input.dtype.bytes, actual.size)
        if (!tensorInfo.has("file")) {
            // Large tensors are not committed; their digest is, when the case gives one.
            if (tensorInfo.has("sha256")) {
                assertEquals("sha256 of the input tensor", tensorInfo.string("sha256"), sha256(actual))
            } else {
                println("golden $name: no input.bin committed; content box and size checked")
            }
            return
        }
        val expected = contractFile(tensorInfo.string("file")).readBytes()
        assertEquals("input tensor size", expected.size, actual.size)
        var first = -1
        for (i in expected.indices) if (expected[i] != actual[i]) { first = i; break }
        assertEquals("first differing byte of the input tensor", -1, first)
    }

    @Test
    fun maskFromRawOutputMatches() {
        val output = case.optObj("output")
        if (output == null || !output.has("file")) {
            println("golden $name: no output.bin (model not run here), postprocessing checked from the golden masks")
            return
        }
        val card = card()
        val spec = OutputSpec.validated(
            if (output.string("kind") == "mask") OutputKind.MASK else OutputKind.SCORES,
            DType.of(output.string("dtype"), "case output.dtype"),
            output.ints("shape"),
            Quantization.parse(output.optObj("quantization")),
            card.numClasses
        )
        assertEquals("case and card disagree on the output kind", card.output.kind, spec.kind)
        assertEquals("case and card disagree on the output dtype", card.output.dtype, spec.dtype)
        assertArrayEquals("case and card disagree on the output shape", card.output.shape, spec.shape)
        val raw = OutputTensor.fromLittleEndian(spec.dtype, contractFile(output.string("file")).readBytes())
        val modelMask = Postprocess.maskFromOutput(spec, card.numClasses, raw)
        agreement("mask_model from output.bin", readMask("mask_model"), modelMask, 1.0)
        val imageMask = Resize.maskToImage(modelMask, box(), card.input.height, card.input.width,
            case.obj("image").int("height"), case.obj("image").int("width"))
        agreement("mask_image from output.bin", readMask("mask_image"), imageMask, 1.0)
    }

    @Test
    fun maskToImageOverlayAndLegendMatch() {
        if (!case.has("mask_model")) return
        val card = card()
        val image = image()
        val imageMask = Resize.maskToImage(readMask("mask_model"), box(), card.input.height, card.input.width, image.height, image.width)
        val expectedMask = readMask("mask_image")
        agreement("mask_image from mask_model", expectedMask, imageMask, 1.0)

        val overlayInfo = case.optObj("overlay")
        if (overlayInfo != null) {
            val expectedOverlay = readPng(contractFile(overlayInfo.string("file")), 4)
            val actual = Postprocess.overlay(image, expectedMask, card.classes, overlayInfo.int("opacity"))
            assertArrayEquals("overlay RGBA bytes", expectedOverlay.data, actual)
        }

        val present = case.objects("classes_present").map { ClassCount(it.int("id"), it.int("pixels")) }
        assertEquals(present, Postprocess.classesPresent(expectedMask, card.numClasses))
    }

    companion object {
        /** Paths in case.json are relative to the contract folder. */
        fun contractFile(path: String): File = File(contractDir(), path)

        fun contractDir(): File {
            val path = System.getProperty("segcore.contract")
                ?: throw IllegalStateException("set -Dsegcore.contract=<repo>/mobile/contract (run_tests.sh does)")
            return File(path)
        }

        @JvmStatic
        @Parameterized.Parameters(name = "{0}")
        fun cases(): Collection<Array<Any>> {
            val index = File(contractDir(), "golden.json")
            if (!index.isFile) throw IllegalStateException("no golden index at $index: run python mobile/contract/make_golden.py")
            val names = JsonObject.parse(index.readText()).list("cases")
            if (names.isEmpty()) throw IllegalStateException("$index lists no cases")
            return names.map { arrayOf<Any>(it as String) }
        }

        /** Decoded PNG: 8-bit samples as they are in the file (no colour conversion), interleaved. */
        class Png(val width: Int, val height: Int, val channels: Int, val data: ByteArray)

        fun readPng(file: File, channels: Int): Png {
            val img = ImageIO.read(file) ?: throw IllegalStateException("cannot decode $file")
            val raster = img.raster
            if (raster.numBands != channels || raster.sampleModel.getSampleSize(0) != 8) {
                throw IllegalStateException("$file has ${raster.numBands} bands of ${raster.sampleModel.getSampleSize(0)} bits, expected $channels of 8")
            }
            val samples = raster.getPixels(0, 0, img.width, img.height, null as IntArray?)
            return Png(img.width, img.height, channels, ByteArray(samples.size) { samples[it].toByte() })
        }

        fun sha256(bytes: ByteArray): String =
            java.security.MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

        fun littleEndian(values: FloatArray): ByteArray {
            val buf = ByteBuffer.allocate(values.size * 4).order(ByteOrder.LITTLE_ENDIAN)
            for (v in values) buf.putFloat(v)
            return buf.array()
        }
    }
}
