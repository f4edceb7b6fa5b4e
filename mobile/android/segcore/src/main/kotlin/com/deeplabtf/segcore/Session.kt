package com.deeplabtf.segcore

/**
 * A mask kept with the model that made it ([card]) and the upright image it was made for, so that a
 * redraw after a model switch can never colour one model's class ids with another model's classes.
 */
class LabelledMask(val card: ModelCard, val image: PixelImage, val mask: Mask, val present: List<ClassCount>) {
    init {
        if (mask.width != image.width || mask.height != image.height) {
            throw ContractException("mask is ${mask.width}x${mask.height} but the image is ${image.width}x${image.height}")
        }
    }

    /**
     * The overlay at [opacity] with [card]'s colours, or [Overlay.Refused] when [card] is not the model that
     * made this mask (the caller should run the new model instead). Never throws for a model switch.
     */
    fun recolour(card: ModelCard, opacity: Int, only: Set<Int>? = null): Overlay {
        if (!sameModel(card, this.card)) {
            return Overlay.Refused("the mask on screen was made by ${this.card.name} (${this.card.modelFile}), not by ${card.name} (${card.modelFile}): run the model again")
        }
        return Overlay.Drawn(Postprocess.overlay(image, mask, this.card.classes, opacity, only))
    }

    /**
     * The mask itself, to save or share: each pixel its class's colour in the card that made it, opaque
     * (RGBA at image size, every class: [Postprocess.colourMask] at opacity 255).
     */
    fun maskColours(): ByteArray = Postprocess.colourMask(mask, card.classes, 255)

    /** The image where the mask holds a class of [keep], transparent elsewhere (background removal). */
    fun cutout(keep: Set<Int>): ByteArray = Postprocess.cutout(image, mask, card.numClasses, keep)

    companion object {
        /** The same model file described by the same classes (names and colours): its class ids mean the same. */
        fun sameModel(a: ModelCard, b: ModelCard): Boolean =
            a === b || (a.modelFile == b.modelFile && a.numClasses == b.numClasses &&
                a.classes.indices.all { k ->
                    val x = a.classes[k]
                    val y = b.classes[k]
                    x.name == y.name && x.red == y.red && x.green == y.green && x.blue == y.blue
                })
    }
}

/** A redraw's outcome: the RGBA overlay at image size, or why there is none. */
sealed class Overlay {
    class Drawn(val rgba: ByteArray) : Overlay()

    class Refused(val reason: String) : Overlay()
}

/** Where a model runs. */
enum class Accelerator(val label: String) { CPU("CPU"), GPU("GPU") }

/**
 * What the screen's controls choose; [modelFile] identifies the selected model (null: none usable);
 * [only] is the class filter (null: every class coloured).
 */
data class Settings(
    val modelFile: String?,
    val letterbox: Boolean,
    val accelerator: Accelerator,
    val threads: Int,
    val opacity: Int,
    val only: Set<Int>? = null
)

/**
 * The class filter of each model (class ids mean different things in different models, so a filter
 * chosen for one never applies to another): toggling a class, and what the legend's switch shows.
 */
class ClassFilters {
    private val byModel = HashMap<String, Set<Int>>()

    /** The filter of [card], or null when every class is coloured. */
    fun of(card: ModelCard): Set<Int>? = byModel[card.modelFile]

    /**
     * [classId] switched on or off for [card]: from "every class", switching one off keeps the others;
     * switching the last hidden one back on returns to "every class". Returns the new filter.
     */
    fun toggle(card: ModelCard, classId: Int): Set<Int>? {
        if (classId < 0 || classId >= card.numClasses) throw ContractException("class id $classId; ${card.name} has ${card.numClasses} classes")
        val all = (0 until card.numClasses).toSet()
        val current = byModel[card.modelFile] ?: all
        val next = if (classId in current) current - classId else current + classId
        if (next == all) byModel.remove(card.modelFile) else byModel[card.modelFile] = next
        return of(card)
    }

    /**
     * The classes a cut-out keeps: the filter, or without one every class but those the card names
     * "background" (PASCAL VOC's class 0), so that a person stays on a transparent background.
     */
    fun cutoutClasses(card: ModelCard): Set<Int> =
        of(card) ?: card.classes.filter { it.name.toLowerCase() != "background" }.map { it.id }.toSet()
}

/** What a change of [Settings] requires: compile another segmenter, run the model again on the still image, or only redraw. */
class Redo(val recompile: Boolean, val rerun: Boolean, val redraw: Boolean) {
    override fun toString(): String = "Redo(recompile=$recompile, rerun=$rerun, redraw=$redraw)"

    companion object {
        /**
         * From [before] to [after] with [still] = a gallery image on screen (camera frames rerun by themselves).
         * Model, accelerator or thread count: recompile; those or letterbox, with a still image: rerun it, so
         * overlay, legend and timings are never stale; only opacity or the class filter: redraw the mask already there.
         */
        fun of(before: Settings, after: Settings, still: Boolean): Redo {
            val recompile = before.modelFile != after.modelFile || before.accelerator != after.accelerator ||
                (after.accelerator == Accelerator.CPU && before.threads != after.threads)
            val rerun = still && after.modelFile != null && (recompile || before.letterbox != after.letterbox)
            val redraw = !rerun && still && (before.opacity != after.opacity || before.only != after.only)
            return Redo(recompile, rerun, redraw)
        }
    }
}

/** A compiled segmenter, the accelerator it runs on, and what the screen must say about it (a fallback). */
class Compiled<T>(val segmenter: T, val accelerator: Accelerator, val notice: String?)

/** Thrown when no accelerator could compile the model; the message says what each one answered. */
class CompileException(message: String, cause: Throwable?) : Exception(message, cause)

object AcceleratorFallback {
    /**
     * [compile] on [requested]; when the GPU fails (no delegate, unsupported ops, driver error), on the CPU,
     * with a notice for the screen. A model or card outside the contract ([ContractException]) fails on every
     * accelerator alike, so it is not retried. Throws [CompileException] when nothing compiled.
     */
    fun <T> compile(requested: Accelerator, modelFile: String, compile: (Accelerator) -> T): Compiled<T> {
        val first = try {
            return Compiled(compile(requested), requested, null)
        } catch (e: ContractException) {
            throw CompileException("$modelFile: ${e.message}", e)
        } catch (e: Exception) {
            e
        }
        if (requested == Accelerator.CPU) throw CompileException("CPU: cannot compile $modelFile: ${reason(first)}", first)
        return try {
            Compiled(compile(Accelerator.CPU), Accelerator.CPU, "GPU unavailable (${reason(first)}): running on the CPU")
        } catch (e: Exception) {
            throw CompileException("cannot compile $modelFile: GPU: ${reason(first)}; CPU: ${reason(e)}", e)
        }
    }

    private fun reason(e: Exception): String = e.message ?: e.javaClass.simpleName
}

/**
 * Frames per second and mean inference time over the last [window] frames, for the live preview's
 * caption. [add] takes the frame's end time (ns, any monotonic clock) and its inference time.
 */
class RateMeter(private val window: Int = 30) {
    private val ends = LongArray(window)
    private val inference = DoubleArray(window)
    private var count = 0
    private var next = 0

    init {
        if (window < 2) throw ContractException("a rate needs a window of 2 frames or more, got $window")
    }

    fun add(endNanos: Long, inferenceMs: Double) {
        ends[next] = endNanos
        inference[next] = inferenceMs
        next = (next + 1) % window
        if (count < window) count++
    }

    /** Frames per second between the oldest and the newest frame of the window; null before 2 frames. */
    val fps: Double?
        get() {
            if (count < 2) return null
            val newest = ends[(next - 1 + window) % window]
            val oldest = ends[(next - count + window) % window]
            return if (newest > oldest) (count - 1) * 1e9 / (newest - oldest) else null
        }

    /** Mean inference milliseconds of the frames in the window; null before any. */
    val meanInferenceMs: Double?
        get() = if (count == 0) null else (0 until count).sumByDouble { inference[(next - 1 - it + 2 * window) % window] } / count

    fun reset() {
        count = 0
        next = 0
    }
}
