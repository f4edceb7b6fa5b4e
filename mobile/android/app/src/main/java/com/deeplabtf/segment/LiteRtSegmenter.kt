package com.deeplabtf.segment

import android.content.res.AssetManager
import com.deeplabtf.segcore.Accelerator
import com.deeplabtf.segcore.ContractException
import com.deeplabtf.segcore.DType
import com.deeplabtf.segcore.InputTensor
import com.deeplabtf.segcore.LiveSegmentation
import com.deeplabtf.segcore.ModelCard
import com.deeplabtf.segcore.OutputTensor
import com.deeplabtf.segcore.PixelImage
import com.deeplabtf.segcore.Pipeline
import com.deeplabtf.segcore.ResizeMode
import com.deeplabtf.segcore.Segmentation
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.TensorBuffer

/** Wall-clock milliseconds of one frame's three stages. */
data class Timings(val preprocessMs: Double, val inferenceMs: Double, val postprocessMs: Double)

/** One segmented image: what segcore computed and how long each stage took. */
class SegmentResult(val image: PixelImage, val segmentation: Segmentation, val timings: Timings)

/** One live camera frame: the coloured mask at model resolution and the stage times. */
class LiveResult(val live: LiveSegmentation, val timings: Timings)

/**
 * One exported model compiled with the LiteRT CompiledModel API on [accelerator] (the GPU needs the litert-gpu
 * artifact; SegmentViewModel falls back to the CPU through segcore's AcceleratorFallback when it fails).
 * Everything model-specific (input size, dtype, normalization, output kind, classes) comes from [card];
 * segcore does the pre/post-processing.
 *
 * Not thread-safe: the view model calls it from its single inference thread.
 */
class LiteRtSegmenter(
    assets: AssetManager,
    val card: ModelCard,
    val accelerator: Accelerator,
    val threads: Int,
) : AutoCloseable {
    private val pipeline = Pipeline(card)
    private val model: CompiledModel = CompiledModel.create(assets, card.modelFile, options())
    private val inputs: List<TensorBuffer>
    private val outputs: List<TensorBuffer>

    init {
        val (i, o) = createBuffers()
        inputs = i
        outputs = o
    }

    /** One input and one output buffer; whatever fails, nothing created so far (nor the model) is left open. */
    private fun createBuffers(): Pair<List<TensorBuffer>, List<TensorBuffer>> {
        // ModelCatalog checked the card against the model's tensors (segcore ModelFile); here only the buffers.
        var created: List<TensorBuffer> = emptyList()
        try {
            val i = model.createInputBuffers()
            created = i
            val o = model.createOutputBuffers()
            created = i + o
            if (i.size != 1 || o.size != 1) {
                throw ContractException("${card.modelFile} has ${i.size} input(s) and ${o.size} output(s); the contract takes one image input and one scores or mask output")
            }
            return Pair(i, o)
        } catch (e: Exception) {
            created.forEach { it.close() }
            model.close()
            throw e
        }
    }

    private fun options(): CompiledModel.Options {
        val options = CompiledModel.Options(
            if (accelerator == Accelerator.GPU) com.google.ai.edge.litert.Accelerator.GPU else com.google.ai.edge.litert.Accelerator.CPU
        )
        if (accelerator == Accelerator.CPU) options.cpuOptions = CompiledModel.CpuOptions(numThreads = threads)
        return options
    }

    /** Preprocess [image], run the model, postprocess; [opacity] 0..255 for the overlay of the classes in [only] (null: all). */
    fun segment(image: PixelImage, mode: ResizeMode, opacity: Int, only: Set<Int>? = null): SegmentResult {
        val (input, raw, times) = infer(image, mode)
        val segmentation = pipeline.postprocess(image, input, raw, opacity, only)
        val done = System.nanoTime()
        return SegmentResult(image, segmentation, Timings(times.first, times.second, ms(times.third, done)))
    }

    /** For the live preview: the coloured mask at model resolution only (segcore Pipeline.postprocessLive). */
    fun segmentLive(image: PixelImage, mode: ResizeMode, opacity: Int, only: Set<Int>?): LiveResult {
        val (input, raw, times) = infer(image, mode)
        val live = pipeline.postprocessLive(input, raw, opacity, only)
        val done = System.nanoTime()
        return LiveResult(live, Timings(times.first, times.second, ms(times.third, done)))
    }

    /** Preprocess and run: the input, the raw output, and preprocess ms, inference ms, the end time (ns). */
    private fun infer(image: PixelImage, mode: ResizeMode): Triple<InputTensor, OutputTensor, Triple<Double, Double, Long>> {
        val start = System.nanoTime()
        val input = pipeline.preprocess(image, mode)
        write(input)
        val written = System.nanoTime()
        model.run(inputs, outputs)
        val raw = read(outputs[0])
        val ran = System.nanoTime()
        return Triple(input, raw, Triple(ms(start, written), ms(written, ran), ran))
    }

    private fun write(input: InputTensor) {
        when (input.dtype) {
            DType.FLOAT32 -> inputs[0].writeFloat(input.floats!!)
            // uint8 and int8 inputs are both one raw byte per value.
            DType.UINT8, DType.INT8 -> inputs[0].writeInt8(input.bytes!!)
            else -> throw ContractException("input dtype ${input.dtype.jsonName} is not supported")
        }
    }

    private fun read(buffer: TensorBuffer): OutputTensor = when (card.output.dtype) {
        DType.FLOAT32 -> OutputTensor.float32(buffer.readFloat())
        // readInt8 copies the raw bytes; segcore reads them as unsigned for a uint8 output.
        DType.UINT8 -> OutputTensor.uint8(buffer.readInt8())
        DType.INT8 -> OutputTensor.int8(buffer.readInt8())
        DType.INT32 -> OutputTensor.int32(buffer.readInt())
        DType.INT64 -> OutputTensor.int64(buffer.readLong())
    }

    override fun close() {
        inputs.forEach { it.close() }
        outputs.forEach { it.close() }
        model.close()
    }

    private fun ms(from: Long, to: Long): Double = (to - from) / 1e6
}
