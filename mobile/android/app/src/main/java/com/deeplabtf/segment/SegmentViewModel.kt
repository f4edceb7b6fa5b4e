package com.deeplabtf.segment

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import androidx.camera.core.ImageProxy
import androidx.lifecycle.AndroidViewModel
import com.deeplabtf.segcore.Accelerator
import com.deeplabtf.segcore.AcceleratorFallback
import com.deeplabtf.segcore.ClassCount
import com.deeplabtf.segcore.ClassFilters
import com.deeplabtf.segcore.CompileException
import com.deeplabtf.segcore.LabelledMask
import com.deeplabtf.segcore.ModelCard
import com.deeplabtf.segcore.Overlay
import com.deeplabtf.segcore.RateMeter
import com.deeplabtf.segcore.PixelImage
import com.deeplabtf.segcore.Redo
import com.deeplabtf.segcore.ResizeMode
import com.deeplabtf.segcore.Settings
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

enum class Mode { CAMERA, GALLERY }

/** A legend row: a class present in the current mask, its colour, share of the image and whether the filter colours it. */
data class LegendEntry(val id: Int, val name: String, val color: Int, val fraction: Float, val coloured: Boolean)

/** Everything the screen shows. */
data class UiState(
    val models: List<CatalogEntry> = emptyList(),
    val selected: Int = -1,
    val mode: Mode = Mode.CAMERA,
    /** The accelerator the user chose. */
    val accelerator: Accelerator = Accelerator.CPU,
    /** Where the model runs now (the CPU after a GPU failure); null without a segmenter. */
    val running: Accelerator? = null,
    /** Said on screen when the chosen accelerator could not be used (segcore AcceleratorFallback). */
    val notice: String? = null,
    val threads: Int = 4,
    val opacity: Int = 128,
    val letterbox: Boolean = false,
    val frontCamera: Boolean = false,
    /** The current model's class filter (segcore ClassFilters; null: every class coloured). */
    val only: Set<Int>? = null,
    /** Gallery: the overlay at image resolution. */
    val frame: Bitmap? = null,
    /** Camera: the coloured mask at model resolution, drawn over the live preview and scaled by the GPU. */
    val liveMask: Bitmap? = null,
    /** Camera: frames per second and mean inference milliseconds of the last frames (segcore RateMeter). */
    val fps: Double? = null,
    val meanInferenceMs: Double? = null,
    val legend: List<LegendEntry> = emptyList(),
    val timings: Timings? = null,
    val error: String? = null,
    /** PNG files (overlay, mask, cut-out) ready for the share sheet; the screen clears it once shown. */
    val shareFiles: List<java.io.File>? = null,
) {
    val card: ModelCard? get() = models.getOrNull(selected)?.card

    /** On the GPU: whether the model runs there whole, or which ops stay on the CPU (null on the CPU). */
    val gpuCaption: String? get() = running?.let { models.getOrNull(selected)?.gpu?.caption(it) }

    val settings: Settings get() = Settings(card?.modelFile, letterbox, accelerator, threads, opacity, only)

    val resizeMode: ResizeMode get() = if (letterbox) ResizeMode.LETTERBOX else ResizeMode.STRETCH

    /** Cards in the assets that cannot be used, and why (a card that does not describe its model, ...). */
    val problems: List<String> get() = models.mapNotNull { it.problem }
}

/**
 * Owns the segmenter and one inference thread. Camera frames and gallery images go through the same
 * path. What a change needs (recompile, rerun the gallery image, redraw), where a mask may be redrawn
 * and the GPU's fallback to the CPU are decided by segcore (Redo, LabelledMask, AcceleratorFallback),
 * where JUnit checks them; every error on the worker ends in [UiState.error], never in a crash.
 */
class SegmentViewModel(application: Application) : AndroidViewModel(application) {
    private val assets = application.assets
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private val state = MutableStateFlow(UiState())
    val ui: StateFlow<UiState> = state.asStateFlow()

    /** Only touched on [worker]. */
    private var segmenter: LiteRtSegmenter? = null
    /** The gallery image on screen (null in camera mode): rerun when the model or a setting changes. */
    private var still: PixelImage? = null
    /** The mask on screen, kept with the model that made it. */
    private var shown: LabelledMask? = null
    /** Class filters per model; only touched on the main thread. */
    private val filters = ClassFilters()
    /** Frame rate of the live preview; only touched on [worker]. */
    private val rate = RateMeter()
    /** The camera path's buffers and mask bitmaps, reused from frame to frame; only touched on [worker]. */
    private val buffers = FrameBuffers()

    /** The executor CameraX delivers frames on: the inference thread itself, so frames never queue up. */
    val analysisExecutor: ExecutorService get() = worker

    init {
        onWorker {
            val models = ModelCatalog.scan(assets)
            val first = models.indexOfFirst { it.card != null }
            state.update {
                it.copy(models = models, selected = first,
                    letterbox = models.getOrNull(first)?.card?.input?.resize == ResizeMode.LETTERBOX)
            }
            rebuild()
        }
    }

    fun selectModel(index: Int) = change {
        val card = it.models[index].card
        it.copy(selected = index, letterbox = card?.input?.resize == ResizeMode.LETTERBOX, only = card?.let { c -> filters.of(c) })
    }

    /** A legend entry tapped: its class coloured or not (the current model's filter). */
    fun toggleClass(classId: Int) {
        val card = state.value.card ?: return
        val only = filters.toggle(card, classId)
        change { it.copy(only = only) }
    }

    /** The overlay, the mask and the cut-out of the image on screen as PNG files for the share sheet ([UiState.shareFiles]). */
    fun share() {
        val keep = state.value.card?.let { filters.cutoutClasses(it) } ?: return
        onWorker { writeShareFiles(keep) }
    }

    /** On [worker]: the PNGs of the mask on screen, if it is the current model's. */
    private fun writeShareFiles(keep: Set<Int>) {
        val mask = shown ?: return
        val card = segmenter?.card ?: return
        val overlay = mask.recolour(card, state.value.opacity, state.value.only) as? Overlay.Drawn ?: return
        val folder = java.io.File(getApplication<Application>().cacheDir, "shared").apply { mkdirs() }
        val files = listOf(
            Frames.writePng(Frames.toBitmap(mask.image.width, mask.image.height, overlay.rgba), java.io.File(folder, "overlay.png")),
            Frames.writePng(Frames.toBitmap(mask.image.width, mask.image.height, mask.maskColours()), java.io.File(folder, "mask.png")),
            Frames.writePng(Frames.toBitmap(mask.image.width, mask.image.height, mask.cutout(keep)), java.io.File(folder, "cutout.png")),
        )
        state.update { it.copy(shareFiles = files) }
    }

    /** The share sheet was shown. */
    fun shared() = state.update { it.copy(shareFiles = null) }

    fun setAccelerator(accelerator: Accelerator) = change { it.copy(accelerator = accelerator) }

    fun setThreads(threads: Int) = change { it.copy(threads = threads.coerceIn(1, 8)) }

    fun setLetterbox(letterbox: Boolean) = change { it.copy(letterbox = letterbox) }

    /** A new opacity redraws the mask on screen without running the model again. */
    fun setOpacity(opacity: Int) = change { it.copy(opacity = opacity.coerceIn(0, 255)) }

    fun setFrontCamera(front: Boolean) {
        state.update { it.copy(frontCamera = front, liveMask = null) }
        onWorker { rate.reset() }
    }

    fun setMode(mode: Mode) {
        state.update { it.copy(mode = mode, frame = null, liveMask = null, legend = emptyList(), timings = null, fps = null, meanInferenceMs = null) }
        onWorker { still = null; shown = null; rate.reset() }
    }

    /** CameraX analyzer: runs on [analysisExecutor]; the frame is closed here. */
    fun onCameraFrame(frame: ImageProxy) {
        try {
            val s = state.value
            if (s.mode == Mode.CAMERA) guarded { segmentLive(Frames.uprightFrame(frame, mirrored = s.frontCamera, buffers)) }
        } finally {
            frame.close()
        }
    }

    fun onGalleryImage(uri: Uri) = onWorker {
        val image = try {
            Frames.decode(getApplication<Application>(), uri)
        } catch (e: Exception) {
            state.update { it.copy(error = "cannot open the image: ${e.message}") }
            return@onWorker
        }
        still = image
        segment(image)
    }

    /** Applies [update] now; on the worker, does what segcore's [Redo] says the change needs. */
    private fun change(update: (UiState) -> UiState) {
        val before = state.value.settings
        state.update(update)
        val after = state.value.settings
        onWorker {
            val redo = Redo.of(before, after, still != null)
            if (redo.recompile) rebuild()
            if (redo.rerun) still?.let { segment(it) }
            if (redo.redraw) redraw()
        }
    }

    /** On [worker]: a segmenter for the current model, accelerator and thread count; the CPU if the GPU fails. */
    private fun rebuild() {
        segmenter?.close()
        segmenter = null
        val s = state.value
        val card = s.card ?: return // no usable model: the screen explains how to add one
        try {
            val compiled = AcceleratorFallback.compile(s.accelerator, card.modelFile) { LiteRtSegmenter(assets, card, it, s.threads) }
            segmenter = compiled.segmenter
            state.update { it.copy(running = compiled.accelerator, notice = compiled.notice, error = null) }
        } catch (e: CompileException) {
            state.update { it.copy(running = null, notice = null, error = e.message) }
        }
    }

    /** On [worker]: the mask on screen at the new opacity, if it is the current model's; else the image runs again. */
    private fun redraw() {
        val mask = shown ?: return
        val card = segmenter?.card ?: return
        val s = state.value
        when (val overlay = mask.recolour(card, s.opacity, s.only)) {
            is Overlay.Drawn -> state.update { current ->
                val legend = current.legend.map { it.copy(coloured = s.only == null || it.id in s.only) }
                current.copy(frame = Frames.toBitmap(mask.image.width, mask.image.height, overlay.rgba), legend = legend)
            }
            is Overlay.Refused -> still?.let { segment(it) }
        }
    }

    /** On [worker]: one upright image through the model; the result replaces what the screen shows. */
    private fun segment(image: PixelImage) {
        val active = segmenter ?: return
        val s = state.value
        val result = active.segment(image, s.resizeMode, s.opacity, s.only)
        val segmentation = result.segmentation
        shown = LabelledMask(active.card, image, segmentation.mask, segmentation.present)
        val legend = legendOf(active.card, segmentation.present, image.width * image.height, s.only)
        val bitmap = Frames.toBitmap(image.width, image.height, segmentation.overlay)
        state.update { it.copy(frame = bitmap, legend = legend, timings = result.timings, error = null) }
    }

    /**
     * On [worker]: one upright camera frame for the live preview: only the coloured mask at model resolution
     * (no image-size mask or blend here); the preview shows the camera picture at camera rate beneath it.
     */
    private fun segmentLive(image: PixelImage) {
        val active = segmenter ?: return
        val s = state.value
        val result = active.segmentLive(image, s.resizeMode, s.opacity, s.only)
        rate.add(System.nanoTime(), result.timings.inferenceMs)
        val live = result.live
        shown = null
        val legend = legendOf(active.card, live.present, live.mask.width * live.mask.height, s.only)
        val bitmap = Frames.fill(buffers.masks.next(live.mask.width, live.mask.height), live.rgba)
        state.update {
            it.copy(liveMask = bitmap, legend = legend, timings = result.timings, fps = rate.fps,
                meanInferenceMs = rate.meanInferenceMs, error = null)
        }
    }

    private fun legendOf(card: ModelCard, present: List<ClassCount>, pixels: Int, only: Set<Int>?): List<LegendEntry> =
        present.map { count ->
            val c = card.classes[count.id]
            val colour = (0xFF shl 24) or (c.red shl 16) or (c.green shl 8) or c.blue
            LegendEntry(c.id, c.name, colour, count.pixels / pixels.toFloat(), only == null || count.id in only)
        }.sortedByDescending { it.fraction }

    /** Runs [block] on the worker; whatever it throws is shown, not a crash of the app. */
    private fun onWorker(block: () -> Unit) = worker.execute { guarded(block) }

    private fun guarded(block: () -> Unit) {
        try {
            block()
        } catch (e: Exception) {
            state.update { it.copy(error = e.message ?: e.toString()) }
        } catch (e: OutOfMemoryError) {
            state.update { it.copy(error = "out of memory: ${e.message}") }
        }
    }

    override fun onCleared() {
        worker.execute { segmenter?.close(); segmenter = null }
        worker.shutdown()
    }
}
