package com.deeplabtf.segment.ui

import android.content.Context
import android.hardware.display.DisplayManager
import android.util.Size
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.platform.LocalView
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.LocalLifecycleOwner
import java.util.concurrent.Executor

/**
 * Binds a CameraX ImageAnalysis use case (RGBA frames, only the latest kept) of the back or [front] camera
 * to the screen's lifecycle while this composable is shown. Frames go to [onFrame] on [executor], which
 * must close them (and turns them upright with their rotationDegrees: segcore Orientation).
 *
 * The activity handles rotation itself (configChanges), so nothing rebuilds the use case when the phone
 * turns: a display listener keeps ImageAnalysis.targetRotation equal to the display's rotation (180-degree
 * turns included, which change no configuration), so rotationDegrees stays right for the screen.
 * There is no preview surface: the screen shows the segmented frames themselves.
 */
@Composable
fun CameraFeed(executor: Executor, front: Boolean, onFrame: (ImageProxy) -> Unit) {
    val context = LocalContext.current
    val view = LocalView.current
    val lifecycleOwner = LocalLifecycleOwner.current
    DisposableEffect(lifecycleOwner, front) {
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
        view.display?.let { analysis.targetRotation = it.rotation }
        val displays = context.getSystemService(Context.DISPLAY_SERVICE) as DisplayManager
        val rotationListener = object : DisplayManager.DisplayListener {
            override fun onDisplayChanged(displayId: Int) {
                val display = view.display ?: return
                if (display.displayId == displayId) analysis.targetRotation = display.rotation
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
            if (provider.hasCamera(selector)) provider.bindToLifecycle(lifecycleOwner, selector, analysis)
        }, ContextCompat.getMainExecutor(context))
        onDispose {
            displays.unregisterDisplayListener(rotationListener)
            analysis.clearAnalyzer()
            if (providerFuture.isDone) providerFuture.get().unbind(analysis)
        }
    }
}
