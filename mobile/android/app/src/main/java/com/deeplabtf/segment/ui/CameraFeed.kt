package com.deeplabtf.segment.ui

import android.content.Context
import android.graphics.Bitmap
import android.hardware.display.DisplayManager
import android.util.Size
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.UseCaseGroup
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.platform.LocalView
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.LocalLifecycleOwner
import java.util.concurrent.Executor

/**
 * The live camera: a CameraX Preview in a PreviewView (the picture at camera rate) with [mask] on top (the
 * coloured mask at model resolution, updated at inference rate, scaled by the GPU to the view), and an
 * ImageAnalysis use case (RGBA frames, only the latest kept) of the back or [front] camera. Frames go to
 * [onFrame] on [executor], which must close them (and turns them upright with their rotationDegrees,
 * cropRect and mirroring: segcore Orientation).
 *
 * Both use cases share the PreviewView's viewport, so an analysis frame's cropRect is exactly the part of
 * the picture the view shows: the upright, cropped frame's mask covers the whole view (ContentScale.FillBounds).
 * The activity handles rotation itself (configChanges), so nothing rebuilds the use cases when the phone
 * turns: a display listener keeps their targetRotation equal to the display's rotation (180-degree turns
 * included, which change no configuration), so rotationDegrees stays right for the screen.
 */
@Composable
fun CameraFeed(executor: Executor, front: Boolean, mask: Bitmap?, onFrame: (ImageProxy) -> Unit) {
    val context = LocalContext.current
    val view = LocalView.current
    val lifecycleOwner = LocalLifecycleOwner.current
    val previewView = remember { PreviewView(context).apply { scaleType = PreviewView.ScaleType.FILL_CENTER } }
    Box(Modifier.fillMaxSize()) {
        AndroidView(factory = { previewView }, modifier = Modifier.fillMaxSize())
        if (mask != null) BitmapLayer(mask, "segmentation mask", ContentScale.FillBounds)
    }
    DisposableEffect(lifecycleOwner, front) {
        val preview = Preview.Builder().build().also { it.surfaceProvider = previewView.surfaceProvider }
        val analysis = ImageAnalysis.Builder()
            .setResolutionSelector(
                ResolutionSelector.Builder()
                    .setResolutionStrategy(
                        ResolutionStrategy(Size(640, 480), ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER)
                    )
                    .build()
            )
            .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
            .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
            .build()
        fun followDisplay() {
            val rotation = view.display?.rotation ?: return
            analysis.targetRotation = rotation
            preview.targetRotation = rotation
        }
        followDisplay()
        val displays = context.getSystemService(Context.DISPLAY_SERVICE) as DisplayManager
        val rotationListener = object : DisplayManager.DisplayListener {
            override fun onDisplayChanged(displayId: Int) {
                if (view.display?.displayId == displayId) followDisplay()
            }

            override fun onDisplayAdded(displayId: Int) = Unit

            override fun onDisplayRemoved(displayId: Int) = Unit
        }
        displays.registerDisplayListener(rotationListener, null)
        analysis.setAnalyzer(executor) { frame -> onFrame(frame) }
        val selector = if (front) CameraSelector.DEFAULT_FRONT_CAMERA else CameraSelector.DEFAULT_BACK_CAMERA
        val providerFuture = ProcessCameraProvider.getInstance(context)
        providerFuture.addListener({
            val provider = providerFuture.get()
            provider.unbindAll()
            // A phone without this camera keeps the gallery mode (the manifest requires no camera).
            if (!provider.hasCamera(selector)) return@addListener
            // The viewport exists once the view is laid out; then both use cases see the same field of view.
            previewView.post {
                val group = UseCaseGroup.Builder().addUseCase(preview).addUseCase(analysis)
                previewView.viewPort?.let { group.setViewPort(it) }
                provider.bindToLifecycle(lifecycleOwner, selector, group.build())
            }
        }, ContextCompat.getMainExecutor(context))
        onDispose {
            displays.unregisterDisplayListener(rotationListener)
            analysis.clearAnalyzer()
            if (providerFuture.isDone) providerFuture.get().unbind(preview, analysis)
        }
    }
}
