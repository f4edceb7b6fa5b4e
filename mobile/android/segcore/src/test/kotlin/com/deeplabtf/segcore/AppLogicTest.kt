package com.deeplabtf.segcore

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNotSame
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** The decisions the apps take (rotation, model checks, mask-to-model pairing, redo, GPU fallback), here where they run. */
class AppLogicTest {
    /** A w x h RGB image whose pixel (x, y) is (x, y, 7). */
    private fun coordinates(w: Int, h: Int): PixelImage {
        val data = ByteArray(w * h * 3)
        for (y in 0 until h) for (x in 0 until w) {
            data[(y * w + x) * 3] = x.toByte()
            data[(y * w + x) * 3 + 1] = y.toByte()
            data[(y * w + x) * 3 + 2] = 7
        }
        return PixelImage(w, h, 3, data)
    }

    /** The source (x, y) at each output pixel, row by row. */
    private fun sources(image: PixelImage): List<Pair<Int, Int>> =
        (0 until image.height).flatMap { y -> (0 until image.width).map { x -> Pair(image.get(x, y, 0), image.get(x, y, 1)) } }

    @Test
    fun uprightRotatesClockwiseThenMirrors() {
        // A 3x2 frame: row 0 = a b c, row 1 = d e f, (x, y) below.
        val frame = coordinates(3, 2)
        val p = { x: Int, y: Int -> Pair(x, y) }
        // Clockwise 90: the left column, bottom to top, becomes the top row.
        val expected = mapOf(
            Pair(0, false) to listOf(p(0, 0), p(1, 0), p(2, 0), p(0, 1), p(1, 1), p(2, 1)),
            Pair(90, false) to listOf(p(0, 1), p(0, 0), p(1, 1), p(1, 0), p(2, 1), p(2, 0)),
            Pair(180, false) to listOf(p(2, 1), p(1, 1), p(0, 1), p(2, 0), p(1, 0), p(0, 0)),
            Pair(270, false) to listOf(p(2, 0), p(2, 1), p(1, 0), p(1, 1), p(0, 0), p(0, 1)),
            Pair(0, true) to listOf(p(2, 0), p(1, 0), p(0, 0), p(2, 1), p(1, 1), p(0, 1)),
            Pair(90, true) to listOf(p(0, 0), p(0, 1), p(1, 0), p(1, 1), p(2, 0), p(2, 1)),
            Pair(180, true) to listOf(p(0, 1), p(1, 1), p(2, 1), p(0, 0), p(1, 0), p(2, 0)),
            Pair(270, true) to listOf(p(2, 1), p(2, 0), p(1, 1), p(1, 0), p(0, 1), p(0, 0))
        )
        for ((key, pixels) in expected) {
            val (degrees, mirrored) = key
            val up = Orientation.upright(frame, degrees, mirrored)
            val (w, h) = if (degrees % 180 == 0) Pair(3, 2) else Pair(2, 3)
            assertEquals("$degrees mirrored=$mirrored width", w, up.width)
            assertEquals("$degrees mirrored=$mirrored height", h, up.height)
            assertEquals("$degrees mirrored=$mirrored", pixels, sources(up))
        }
    }

    @Test
    fun uprightKeepsRgbaRowStrideAndCrop() {
        // 4x3 RGBA frame with 4 bytes of row padding; crop columns 1..3, rows 1..2, then 90 degrees.
        val stride = 4 * 4 + 4
        val data = ByteArray(stride * 3)
        for (y in 0 until 3) for (x in 0 until 4) {
            val o = y * stride + x * 4
            data[o] = x.toByte(); data[o + 1] = y.toByte(); data[o + 2] = 9; data[o + 3] = 200.toByte()
        }
        val frame = PixelImage(4, 3, 4, data, stride)
        val up = Orientation.upright(frame, 90, false, CropRect(1, 1, 3, 2))
        assertEquals(4, up.channels)
        assertEquals(2, up.width)
        assertEquals(3, up.height)
        assertEquals(listOf(Pair(1, 2), Pair(1, 1), Pair(2, 2), Pair(2, 1), Pair(3, 2), Pair(3, 1)), sources(up))
        assertEquals(200, up.get(0, 0, 3))
        expectContractError("rotation must be 0, 90, 180 or 270") { Orientation.upright(frame, 45, false) }
        expectContractError("is not inside the 4x3 frame") { Orientation.upright(frame, 0, false, CropRect(2, 0, 3, 3)) }
    }

    @Test
    fun exifOrientationsTurnPhotosUpright() {
        // A 3x2 photo (x, y) and, per EXIF tag, where the stored pixel (0, 0) must appear when shown.
        val photo = coordinates(3, 2)
        val corner = mapOf(1 to Pair(0, 0), 2 to Pair(2, 0), 3 to Pair(2, 1), 4 to Pair(0, 1),
            5 to Pair(0, 0), 6 to Pair(1, 0), 7 to Pair(1, 2), 8 to Pair(0, 2))
        for ((tag, at) in corner) {
            val turn = Orientation.fromExif(tag)
            val shown = Orientation.upright(photo, turn.degrees, turn.mirrored)
            assertEquals("EXIF $tag", Pair(0, 0), Pair(shown.get(at.first, at.second, 0), shown.get(at.first, at.second, 1)))
            assertEquals("EXIF $tag width", if (tag >= 5) 2 else 3, shown.width)
        }
        // Transposed (5): the shown (x, y) is the stored (y, x).
        val transposed = Orientation.upright(photo, Orientation.fromExif(5).degrees, Orientation.fromExif(5).mirrored)
        assertEquals(listOf(Pair(0, 0), Pair(1, 0), Pair(0, 1), Pair(1, 1), Pair(0, 2), Pair(1, 2)).map { Pair(it.second, it.first) }, sources(transposed))
        assertEquals(Turn(0, false), Orientation.fromExif(0))
    }

    /**
     * The golden scene seen by a sensor at each of the 4 rotations, back and front (mirrored) camera:
     * turned upright before preprocessing, the input tensor is the golden one byte for byte, so the
     * mask is the one Python gives. Without the turn (the old Android path) it is not.
     */
    @Test
    fun sensorFramesTurnedUprightGiveTheGoldenInput() {
        val case = JsonObject.parse(GoldenTest.contractFile("cases/int8_rgba_letterbox/case.json").readText())
        val card = ModelCard.parse(GoldenTest.contractFile(case.string("card")).readText())
        val png = GoldenTest.readPng(GoldenTest.contractFile(case.obj("image").string("file")), 4)
        val scene = PixelImage(png.width, png.height, 4, png.data)
        val golden = GoldenTest.contractFile(case.obj("input").string("file")).readBytes()
        val mode = ResizeMode.of(case.obj("preprocess").string("resize"))
        for (degrees in intArrayOf(0, 90, 180, 270)) for (mirrored in booleanArrayOf(false, true)) {
            // What the sensor delivers: the scene mirrored (front camera), then turned back counter-clockwise.
            val sensor = Orientation.upright(Orientation.upright(scene, 0, mirrored), (360 - degrees) % 360, false)
            val input = Preprocess.run(Orientation.upright(sensor, degrees, mirrored), card.input, mode).bytes!!
            assertEquals("$degrees mirrored=$mirrored: first differing input byte", -1, firstDifference(golden, input))
            if (degrees != 0) {
                val sideways = Preprocess.run(sensor, card.input, mode).bytes!!
                assertNotEquals("$degrees: the sensor frame as it is differs", -1, firstDifference(golden, sideways))
            }
        }
        println("rotation: 4 angles x back/front camera give the golden input tensor")
    }

    private fun firstDifference(a: ByteArray, b: ByteArray): Int {
        if (a.size != b.size) return minOf(a.size, b.size)
        for (i in a.indices) if (a[i] != b[i]) return i
        return -1
    }

    @Test
    fun contractBadModelsAreRefusedWithItsMessages() {
        val index = JsonObject.parse(GoldenTest.contractFile("bad_models.json").readText())
        for (bad in index.objects("models")) {
            expectContractError(bad.string("message")) { ModelFile.read(GoldenTest.contractFile(bad.string("file"))).checkContract() }
        }
        for (pair in index.objects("cards")) {
            val card = ModelCard.parse(GoldenTest.contractFile(pair.string("card")).readText())
            expectContractError(pair.string("message")) { ModelFile.read(GoldenTest.contractFile(pair.string("model"))).checkCard(card) }
        }
        for (pair in index.objects("good")) {
            val card = ModelCard.parse(GoldenTest.contractFile(pair.string("card")).readText())
            val model = ModelFile.read(GoldenTest.contractFile(pair.string("model")))
            model.checkCard(card)
            assertArrayEquals(card.output.shape, model.outputs[0].shape)
            assertEquals(card.output.dtype, model.outputs[0].dtype)
            assertEquals(card.input.dtype, model.inputs[0].dtype)
            assertEquals(card.output.quantization?.scale, model.outputs[0].quantization?.scale)
            assertEquals(card.output.quantization?.zeroPoint, model.outputs[0].quantization?.zeroPoint)
        }
        // A card consistent in itself that lists one class fewer than the model scores.
        val json = GoldenTest.contractFile("models/smoke_float.json").readText()
        val full = ModelCard.parse(json)
        val fewer = ModelCard(full.name, full.version, full.description, full.modelFile, full.labelsFile, full.input,
            OutputSpec.validated(OutputKind.SCORES, DType.FLOAT32, intArrayOf(1, 65, 81, 5), null, 5), full.classes.dropLast(1), null)
        expectContractError("output shape: card [1, 65, 81, 5], model [1, 65, 81, 6]; the model scores 6 classes, the card lists 5;") {
            ModelFile.read(GoldenTest.contractFile("models/smoke_float.tflite")).checkCard(fewer)
        }
        expectContractError("is not a .tflite model") { ModelFile.read("card.json", json.toByteArray()) }
        expectContractError("is not a valid .tflite flatbuffer") {
            val head = GoldenTest.contractFile("models/smoke_int8.tflite").readBytes().copyOf(64)
            ModelFile.read("truncated.tflite", head).checkContract()
        }
    }

    private fun card(name: String) = ModelCard.parse(GoldenTest.contractFile("models/$name.json").readText())

    @Test
    fun aMaskStaysWithItsModelAndAnotherCardIsRefused() {
        val mask6 = Mask(3, 2, intArrayOf(0, 5, 5, 1, 2, 3))
        val image = coordinates(3, 2)
        val float = card("smoke_float")
        val shown = LabelledMask(float, image, mask6, Postprocess.classesPresent(mask6, 6))
        // The same model (its card parsed again): the overlay of the contract.
        val drawn = shown.recolour(card("smoke_float"), 100)
        assertTrue(drawn is Overlay.Drawn)
        assertArrayEquals(Postprocess.overlay(image, mask6, float.classes, 100), (drawn as Overlay.Drawn).rgba)
        // After a switch to another model: refused with a reason, not thrown (even where ids fit).
        val refused = shown.recolour(card("tiny_int8_mask"), 100)
        assertTrue(refused is Overlay.Refused)
        assertTrue((refused as Overlay.Refused).reason, refused.reason.contains("made by"))
        assertTrue(refused.reason, refused.reason.contains("tiny_int8_mask.tflite"))
        expectContractError("mask is 3x2 but the image is 2x3") { LabelledMask(float, coordinates(2, 3), mask6, emptyList()) }
    }

    @Test
    fun classFilterColoursOnlyItsClassesAndCutoutRemovesTheBackground() {
        val image = coordinates(3, 2)
        val mask = Mask(3, 2, intArrayOf(0, 5, 5, 1, 2, 3))
        val classes = card("smoke_float").classes
        val all = Postprocess.overlay(image, mask, classes, 200)
        val five = Postprocess.overlay(image, mask, classes, 200, setOf(5))
        for (p in 0 until 6) for (c in 0 until 4) {
            val expected = when {
                c == 3 -> 255.toByte()
                mask.ids[p] == 5 -> all[4 * p + c]
                else -> image.data[3 * p + c] // not coloured: the image itself
            }
            assertEquals("pixel $p channel $c", expected, five[4 * p + c])
        }
        assertArrayEquals(all, Postprocess.overlay(image, mask, classes, 200, (0..5).toSet()))
        val cut = Postprocess.cutout(image, mask, 6, setOf(5, 1))
        val kept = listOf(1, 2, 3)
        for (p in 0 until 6) {
            val pixel = cut.copyOfRange(4 * p, 4 * p + 4).toList()
            val expected = if (p in kept) listOf(image.data[3 * p], image.data[3 * p + 1], image.data[3 * p + 2], 255.toByte()) else listOf<Byte>(0, 0, 0, 0)
            assertEquals("cutout pixel $p", expected, pixel)
        }
        expectContractError("mask holds class id 5; there are 4 classes") { Postprocess.cutout(image, mask, 4, setOf(1)) }
        // The mask to share: every pixel its class's card colour, opaque.
        val colours = LabelledMask(card("smoke_float"), image, mask, emptyList()).maskColours()
        assertEquals(6 * 4, colours.size)
        for (p in 0 until 6) {
            val k = classes[mask.ids[p]]
            assertEquals("mask pixel $p", listOf(k.red, k.green, k.blue, 255), colours.copyOfRange(4 * p, 4 * p + 4).map { it.toInt() and 0xFF })
        }
    }

    @Test
    fun classFiltersAreKeptPerModel() {
        val scores = card("smoke_float")
        val other = card("tiny_int8_mask")
        val filters = ClassFilters()
        assertNull(filters.of(scores))
        assertEquals(setOf(0, 1, 2, 4, 5), filters.toggle(scores, 3))
        assertNull("another model's filter is its own", filters.of(other))
        assertEquals(setOf(0, 1, 3, 4, 5), filters.toggle(other, 2))
        assertEquals(setOf(0, 1, 2, 4, 5), filters.of(scores))
        assertNull("back to every class", filters.toggle(scores, 3))
        assertEquals(setOf(0, 1, 3, 4, 5), filters.cutoutClasses(other))
        assertNull(filters.toggle(other, 2))
        assertEquals("without a filter, every class but background", setOf(1, 2, 3, 4, 5), filters.cutoutClasses(card("deeplabv3_257_mv_gpu")).minus((6..20).toSet()))
        assertEquals(20, filters.cutoutClasses(card("deeplabv3_257_mv_gpu")).size)
        expectContractError("class id 6; smoke") { filters.toggle(scores, 6) }
        // A filter change redraws a still image, like opacity.
        val base = Settings("a.tflite", false, Accelerator.CPU, 4, 128)
        assertEquals("Redo(recompile=false, rerun=false, redraw=true)", Redo.of(base, base.copy(only = setOf(1)), true).toString())
    }

    /** The live preview's mask (the model's, cropped to the content box) scaled to the image is the golden mask_image. */
    @Test
    fun livePreviewMaskIsTheGoldenMaskAtModelResolution() {
        for (name in listOf("int8_rgba_letterbox", "int8mask_rgb_letterbox", "int8_rgb_stretch")) {
            val case = JsonObject.parse(GoldenTest.contractFile("cases/$name/case.json").readText())
            val card = ModelCard.parse(GoldenTest.contractFile(case.string("card")).readText())
            val b = case.obj("preprocess").obj("content")
            val box = ContentBox(b.int("top"), b.int("left"), b.int("height"), b.int("width"))
            val input = InputTensor(card.input.dtype, ByteArray(0), null, box)
            val output = case.obj("output")
            val raw = OutputTensor.fromLittleEndian(card.output.dtype, GoldenTest.contractFile(output.string("file")).readBytes())
            val live = Pipeline(card).postprocessLive(input, raw, 255)
            val png = GoldenTest.readPng(GoldenTest.contractFile(case.obj("mask_image").string("file")), 1)
            val scaled = Resize.maskToImage(live.mask, ContentBox(0, 0, live.mask.height, live.mask.width),
                live.mask.height, live.mask.width, png.height, png.width)
            val golden = IntArray(png.data.size) { png.data[it].toInt() and 0xFF }
            assertArrayEquals("$name: preview mask at image size", golden, scaled.ids)
            assertEquals("$name: content box rows at model resolution", if (name.endsWith("stretch")) card.output.height else box.height * card.output.height / card.input.height, live.mask.height)
            assertEquals(live.mask.ids.size * 4, live.rgba.size)
            println("live $name: ${live.mask.width}x${live.mask.height} mask = golden mask_image ${png.width}x${png.height} when scaled")
        }
    }

    @Test
    fun colourMaskIsPremultipliedAndFiltered() {
        val classes = card("smoke_float").classes
        val mask = Mask(2, 1, intArrayOf(1, 5))
        val rgba = Postprocess.colourMask(mask, classes, 128, setOf(1))
        val c = classes[1]
        val expected = byteArrayOf(((c.red * 128 + 127) / 255).toByte(), ((c.green * 128 + 127) / 255).toByte(),
            ((c.blue * 128 + 127) / 255).toByte(), 128.toByte(), 0, 0, 0, 0)
        assertArrayEquals(expected, rgba)
        val full = Postprocess.colourMask(mask, classes, 255)
        assertArrayEquals(byteArrayOf(classes[5].red.toByte(), classes[5].green.toByte(), classes[5].blue.toByte(), 255.toByte()), full.copyOfRange(4, 8))
        expectContractError("opacity must be in 0..255") { Postprocess.colourMask(mask, classes, 256) }
    }

    @Test
    fun rateMeterGivesFramesPerSecondAndMeanInference() {
        val meter = RateMeter(4)
        assertNull(meter.fps)
        assertNull(meter.meanInferenceMs)
        meter.add(0L, 10.0)
        assertNull(meter.fps)
        for (i in 1..5) meter.add(i * 100_000_000L, 10.0 + i) // 10 frames per second
        assertEquals(10.0, meter.fps!!, 1e-9)
        assertEquals((12.0 + 13.0 + 14.0 + 15.0) / 4, meter.meanInferenceMs!!, 1e-9) // the last 4 frames only
        meter.reset()
        assertNull(meter.meanInferenceMs)
        expectContractError("a window of 2 frames or more") { RateMeter(1) }
    }

    @Test
    fun changesRerunTheStillImageAndOpacityOnlyRedraws() {
        val base = Settings("a.tflite", false, Accelerator.CPU, 4, 128)
        fun redo(after: Settings, still: Boolean = true) = Redo.of(base, after, still).toString()
        assertEquals("Redo(recompile=true, rerun=true, redraw=false)", redo(base.copy(modelFile = "b.tflite")))
        assertEquals("Redo(recompile=true, rerun=true, redraw=false)", redo(base.copy(accelerator = Accelerator.GPU)))
        assertEquals("Redo(recompile=true, rerun=true, redraw=false)", redo(base.copy(threads = 2)))
        assertEquals("Redo(recompile=false, rerun=true, redraw=false)", redo(base.copy(letterbox = true)))
        assertEquals("Redo(recompile=false, rerun=false, redraw=true)", redo(base.copy(opacity = 10)))
        assertEquals("Redo(recompile=false, rerun=false, redraw=false)", redo(base))
        // Camera mode: the next frame reruns by itself.
        assertEquals("Redo(recompile=true, rerun=false, redraw=false)", redo(base.copy(modelFile = "b.tflite"), still = false))
        // The GPU ignores the thread count; no model: nothing to rerun.
        val gpu = base.copy(accelerator = Accelerator.GPU)
        assertFalse(Redo.of(gpu, gpu.copy(threads = 2), true).recompile)
        assertFalse(Redo.of(base, base.copy(modelFile = null), true).rerun)
    }

    @Test
    fun aFailingGpuFallsBackToTheCpuAndSaysSo() {
        val tried = ArrayList<Accelerator>()
        val fallback = AcceleratorFallback.compile(Accelerator.GPU, "m.tflite") {
            tried.add(it)
            if (it == Accelerator.GPU) throw IllegalStateException("no OpenCL") else "cpu segmenter"
        }
        assertEquals(listOf(Accelerator.GPU, Accelerator.CPU), tried)
        assertEquals("cpu segmenter", fallback.segmenter)
        assertEquals(Accelerator.CPU, fallback.accelerator)
        assertEquals("GPU unavailable (no OpenCL): running on the CPU", fallback.notice)

        val gpu = AcceleratorFallback.compile(Accelerator.GPU, "m.tflite") { "on $it" }
        assertEquals("on GPU", gpu.segmenter)
        assertNull(gpu.notice)

        // A model outside the contract fails everywhere alike: not retried on the CPU.
        tried.clear()
        try {
            AcceleratorFallback.compile(Accelerator.GPU, "m.tflite") { tried.add(it); throw ContractException("has dtype int16") }
            fail("expected a CompileException")
        } catch (e: CompileException) {
            assertEquals("m.tflite: has dtype int16", e.message)
        }
        assertEquals(listOf(Accelerator.GPU), tried)
        try {
            AcceleratorFallback.compile<String>(Accelerator.GPU, "m.tflite") { throw IllegalStateException("$it broken") }
            fail("expected a CompileException")
        } catch (e: CompileException) {
            assertEquals("cannot compile m.tflite: GPU: GPU broken; CPU: CPU broken", e.message)
        }
        try {
            AcceleratorFallback.compile<String>(Accelerator.CPU, "m.tflite") { throw IllegalStateException("out of memory") }
            fail("expected a CompileException")
        } catch (e: CompileException) {
            assertEquals("CPU: cannot compile m.tflite: out of memory", e.message)
        }
    }

    @Test
    fun cameraBuffersAreReusedUntilTheSizeChanges() {
        // One buffer (the frame's bytes, the upright image): the same array every frame of the same size.
        val one = BufferRing(1) { w, h -> ByteArray(w * h) }
        val first = one.next(12, 1)
        for (frame in 0 until 5) assertSame(first, one.next(12, 1))
        assertEquals(1, one.created)
        val bigger = one.next(20, 1)
        assertEquals(20, bigger.size)
        assertNotSame(first, bigger)
        assertSame(bigger, one.next(20, 1))
        assertEquals(2, one.created)
        // Three mask bitmaps in turn: the one written is neither of the two handed to the screen before it.
        val masks = BufferRing(3) { w, h -> IntArray(w * h) }
        val made = (0 until 3).map { masks.next(4, 3) }
        assertEquals(3, made.map { System.identityHashCode(it) }.toSet().size)
        for (frame in 3 until 30) assertSame(made[frame % 3], masks.next(4, 3))
        assertEquals(3, masks.created)
        // Another size (a camera switch, a crop): each buffer made again once, then reused.
        val turned = (0 until 6).map { masks.next(3, 4) }
        assertEquals(6, masks.created)
        assertSame(turned[0], turned[3])
        assertEquals(12, turned[0].size)
        expectContractError("at least one buffer") { BufferRing(0) { _, _ -> 0 } }
        expectContractError("buffer size must be positive") { one.next(0, 1) }
    }

    @Test
    fun uprightWritesIntoTheBufferItIsGiven() {
        val frame = coordinates(3, 2)
        val ring = BufferRing(1) { w, h -> ByteArray(w * h) }
        val a = Orientation.upright(frame, 90, true, null) { ring.next(it, 1) }
        val b = Orientation.upright(frame, 90, true, null) { ring.next(it, 1) }
        assertSame(a.data, b.data)
        assertEquals(sources(Orientation.upright(frame, 90, true)), sources(b))
        expectContractError("upright image buffer has 5 bytes, 2x3x3 needs 18") { Orientation.upright(frame, 90, false, null) { ByteArray(5) } }
    }
}
