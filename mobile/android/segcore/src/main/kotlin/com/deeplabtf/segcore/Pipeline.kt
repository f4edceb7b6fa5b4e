package com.deeplabtf.segcore

/** What an app shows for one image: the mask at image size, the RGBA overlay and the legend. */
class Segmentation(
    val mask: Mask,
    val overlay: ByteArray,
    val present: List<ClassCount>,
    /** Milliseconds spent in [Pipeline.postprocess]. */
    val postprocessMs: Double
)

/** What a live preview draws for one camera frame: the mask of the visible part at model resolution, coloured. */
class LiveSegmentation(
    /** The model's mask cropped to the image's content box ([Resize.maskCrop]). */
    val mask: Mask,
    /** [mask] in the card's colours, premultiplied RGBA at the mask's size ([Postprocess.colourMask]). */
    val rgba: ByteArray,
    /** Classes present in [mask] with pixel counts at model resolution (their shares match the image's closely). */
    val present: List<ClassCount>,
    val postprocessMs: Double
)

/**
 * Pre- and postprocessing for one model, driven only by its [card]: any input size, uint8/float32/int8
 * input, scores or mask output and class count work without code changes. The app runs the model in
 * between (LiteRT on Android, mobile/native on iOS) and hands the raw output back as an [OutputTensor].
 */
class Pipeline(val card: ModelCard) {
    /** The image resized and converted to the model's input tensor. */
    fun preprocess(image: PixelImage, mode: ResizeMode = card.input.resize): InputTensor =
        Preprocess.run(image, card.input, mode)

    /**
     * Mask at model resolution, mask at image resolution, overlay at [opacity] (0..255; only the classes of
     * the filter [only] coloured, when given) and classes present.
     */
    fun postprocess(image: PixelImage, input: InputTensor, output: OutputTensor, opacity: Int, only: Set<Int>? = null): Segmentation {
        val start = System.nanoTime()
        val modelMask = Postprocess.maskFromOutput(card.output, card.numClasses, output)
        val mask = Resize.maskToImage(modelMask, input.box, card.input.height, card.input.width, image.height, image.width)
        val overlay = Postprocess.overlay(image, mask, card.classes, opacity, only)
        val present = Postprocess.classesPresent(mask, card.numClasses)
        return Segmentation(mask, overlay, present, (System.nanoTime() - start) / 1e6)
    }

    /**
     * For a live preview: no full-resolution mask nor blend on the inference thread, only the model's mask
     * cropped to the content box and coloured; the display scales it over the camera picture.
     */
    fun postprocessLive(input: InputTensor, output: OutputTensor, opacity: Int, only: Set<Int>? = null): LiveSegmentation {
        val start = System.nanoTime()
        val modelMask = Postprocess.maskFromOutput(card.output, card.numClasses, output)
        val crop = Resize.maskCrop(modelMask, input.box, card.input.height, card.input.width)
        val rgba = Postprocess.colourMask(crop, card.classes, opacity, only)
        val present = Postprocess.classesPresent(crop, card.numClasses)
        return LiveSegmentation(crop, rgba, present, (System.nanoTime() - start) / 1e6)
    }
}
