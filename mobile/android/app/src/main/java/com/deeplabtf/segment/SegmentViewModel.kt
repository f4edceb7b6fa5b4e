package com.deeplabtf.segment

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import androidx.camera.core.ImageProxy
import androidx.lifecycle.AndroidViewModel
import com.deeplabtf.segcore.Mask
import com.deeplabtf.segcore.ModelCard
import com.deeplabtf.segcore.PixelImage
import com.deeplabtf.segcore.Postprocess
import com.deeplabtf.segcore.ResizeMode
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

enum class Mode { CAMERA, GALLERY }

/** A legend row: a class present in the current mask, its colour and share of the image. */
data class LegendEntry(val name: String, val color: Int, val fraction: Float)

/** Everything the screen shows. */
data class UiState(
    val models: List<CatalogEntry> = emptyList(),
    val selected: Int = -1,
    val mode: Mode = Mode.CAMERA,
    val backend: Backend = Backend.CPU,
    val threads: Int = 4,
    val opacity: Int = 128,
    val letterbox: Boolean = false,
    val frame: Bitmap? = null,
    val legend: List<LegendEntry> = emptyList(),
    val timings: Timings? = null,
    val error: String? = null,
) {
    val card: ModelCard? get() = models.getOrNull(selected)?.card
}

/**
 * Owns the segmenter and one inference thread. Camera frames and gallery images go through the same
 * path; changing the model, accelerator or thread count rebuilds the segmenter on that thread.
 */
class SegmentViewModel(application: Application) : AndroidViewModel(application) {
    private val assets = application.assets
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private val state = MutableStateFlow(UiState())
    val ui: StateFlow<UiState> = state.asStateFlow()

    /** Only touched on [worker]. */
    private var segmenter: LiteRtSegmenter? = null
    private var lastImage: PixelImage? = null
    private var lastMask: Mask? = null
    private var lastRotation = 0

    /** The executor CameraX delivers frames on: the inference thread itself, so frames never queue up. */
    val analysisExecutor: ExecutorService get() = worker

    init {
        worker.execute {
            val models = ModelCatalog.scan(assets)
            val first = models.indexOfFirst { it.card != null }
            val problems = models.mapNotNull { it.problem }
            state.update {
                it.copy(models = models, selected = first,
                    letterbox = models.getOrNull(first)?.card?.input?.resize == ResizeMode.LETTERBOX,
                    error = problems.firstOrNull())
            }
            rebuild()
        }
    }

    fun selectModel(index: Int) = reconfigure { it.copy(selected = index, letterbox = it.models[index].card?.input?.resize == ResizeMode.LETTERBOX) }

    fun setBackend(backend: Backend) = reconfigure { it.copy(backend = backend) }

    fun setThreads(threads: Int) = reconfigure { it.copy(threads = threads.coerceIn(1, 8)) }

    fun setMode(mode: Mode) {
        state.update { it.copy(mode = mode, frame = null, legend = emptyList(), timings = null) }
        worker.execute { lastImage = null; lastMask = null }
    }

    fun setLetterbox(letterbox: Boolean) = state.update { it.copy(letterbox = letterbox) }

    /** A new opacity redraws the overlay from the last mask, without running the model again. */
    fun setOpacity(opacity: Int) {
        state.update { it.copy(opacity = opacity.coerceIn(0, 255)) }
        worker.execute {
            val image = lastImage ?: return@execute
            val mask = lastMask ?: return@execute
            val card = state.value.card ?: return@execute
            val rgba = Postprocess.overlay(image, mask, card.classes, state.value.opacity)
            state.update { it.copy(frame = Frames.toBitmap(image.width, image.height, rgba, lastRotation)) }
        }
    }

    /** CameraX analyzer: runs on [analysisExecutor]; the frame is closed here. */
    fun onCameraFrame(frame: ImageProxy) {
        try {
            if (state.value.mode == Mode.CAMERA) segment(Frames.fromImageProxy(frame), frame.imageInfo.rotationDegrees)
        } finally {
            frame.close()
        }
    }

    fun onGalleryImage(uri: Uri) {
        worker.execute {
            val image = try {
                Frames.fromBitmap(Frames.decode(getApplication<Application>(), uri))
            } catch (e: Exception) {
                state.update { it.copy(error = "cannot open the image: ${e.message}") }
                return@execute
            }
            segment(image, 0)
        }
    }

    private fun reconfigure(change: (UiState) -> UiState) {
        state.update(change)
        worker.execute { rebuild() }
    }

    /** On [worker]: a segmenter for the current model, accelerator and thread count. */
    private fun rebuild() {
        segmenter?.close()
        segmenter = null
        val s = state.value
        val card = s.card ?: return // no usable model: the screen explains how to add one
        segmenter = try {
            LiteRtSegmenter(assets, card, s.backend, s.threads).also { state.update { it.copy(error = null) } }
        } catch (e: Exception) {
            state.update { it.copy(error = "${s.backend.label}: cannot compile ${card.modelFile}: ${e.message}") }
            null
        }
    }

    /** On [worker]: one image through the model; the result replaces what the screen shows. */
    private fun segment(image: PixelImage, rotation: Int) {
        val active = segmenter ?: return
        val s = state.value
        try {
            val mode = if (s.letterbox) ResizeMode.LETTERBOX else ResizeMode.STRETCH
            val result = active.segment(image, mode, s.opacity)
            lastImage = image
            lastMask = result.segmentation.mask
            lastRotation = rotation
            val total = (image.width * image.height).toFloat()
            val legend = result.segmentation.present.map { count ->
                val c = active.card.classes[count.id]
                LegendEntry(c.name, (0xFF shl 24) or (c.red shl 16) or (c.green shl 8) or c.blue, count.pixels / total)
            }.sortedByDescending { it.fraction }
            val bitmap = Frames.toBitmap(image.width, image.height, result.segmentation.overlay, rotation)
            state.update { it.copy(frame = bitmap, legend = legend, timings = result.timings) }
        } catch (e: Exception) {
            state.update { it.copy(error = e.message ?: e.toString()) }
        }
    }

    override fun onCleared() {
        worker.execute { segmenter?.close(); segmenter = null }
        worker.shutdown()
    }
}
