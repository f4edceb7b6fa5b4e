package com.deeplabtf.segment.ui

import androidx.compose.foundation.background
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyRow
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.shape.RoundedCornerShape
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.draw.alpha
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.unit.dp
import com.deeplabtf.segcore.Accelerator
import com.deeplabtf.segment.LegendEntry
import com.deeplabtf.segment.Timings
import com.deeplabtf.segment.UiState
import java.util.Locale

/**
 * The classes present in the current image, largest first, with the card's colours; tapping one switches
 * its colouring (the model's class filter), a class left uncoloured is shown faded.
 */
@Composable
fun Legend(entries: List<LegendEntry>, onToggle: (Int) -> Unit) {
    LazyRow(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
        items(entries) { entry ->
            Row(
                modifier = Modifier.clickable { onToggle(entry.id) }.alpha(if (entry.coloured) 1f else 0.4f),
                verticalAlignment = Alignment.CenterVertically,
                horizontalArrangement = Arrangement.spacedBy(4.dp),
            ) {
                Box(Modifier.size(14.dp).background(Color(entry.color), RoundedCornerShape(3.dp)))
                Text(
                    "${entry.name} ${String.format(Locale.US, "%.0f", entry.fraction * 100)}%",
                    style = MaterialTheme.typography.bodySmall,
                )
            }
        }
    }
}

/**
 * Inference and pre/post-processing times of the last frame, where the model runs (the CPU after a GPU
 * failure, which [UiState.notice] explains), on the GPU whether the whole model runs there, and the thread count.
 */
@Composable
fun Stats(state: UiState) {
    state.notice?.let { Text(it, color = MaterialTheme.colorScheme.tertiary, style = MaterialTheme.typography.bodySmall) }
    state.gpuCaption?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
    val t: Timings = state.timings ?: return
    val running = state.running ?: return
    val where = if (running == Accelerator.CPU) "CPU, ${state.threads} threads" else running.label
    val fps = state.fps
    val mean = state.meanInferenceMs
    if (fps != null && mean != null) {
        Text(String.format(Locale.US, "live: %.1f FPS · mean inference %.1f ms", fps, mean), style = MaterialTheme.typography.bodySmall)
    }
    Text(
        String.format(
            Locale.US, "inference %.1f ms · preprocess %.1f ms · postprocess %.1f ms · %s",
            t.inferenceMs, t.preprocessMs, t.postprocessMs, where,
        ),
        style = MaterialTheme.typography.bodySmall,
    )
}
