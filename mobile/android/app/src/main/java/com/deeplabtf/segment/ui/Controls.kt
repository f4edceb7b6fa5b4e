package com.deeplabtf.segment.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.width
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.RadioButton
import androidx.compose.material3.Slider
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import com.deeplabtf.segcore.Accelerator
import com.deeplabtf.segment.Mode
import com.deeplabtf.segment.R
import com.deeplabtf.segment.SegmentViewModel
import com.deeplabtf.segment.UiState
import kotlin.math.roundToInt

/** Opacity, accelerator, CPU threads, letterbox, front/back camera and (with several models in the assets) the model. */
@Composable
fun Controls(state: UiState, viewModel: SegmentViewModel) {
    Column(verticalArrangement = Arrangement.spacedBy(2.dp)) {
        Text("${stringResource(R.string.opacity)}: ${state.opacity * 100 / 255}%", style = MaterialTheme.typography.labelLarge)
        Slider(
            value = state.opacity.toFloat(),
            onValueChange = { viewModel.setOpacity(it.roundToInt()) },
            valueRange = 0f..255f,
        )
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(stringResource(R.string.accelerator), style = MaterialTheme.typography.labelLarge)
            for (accelerator in Accelerator.values()) {
                RadioButton(selected = state.accelerator == accelerator, onClick = { viewModel.setAccelerator(accelerator) })
                Text(accelerator.label)
            }
        }
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(stringResource(R.string.threads), style = MaterialTheme.typography.labelLarge)
            Spacer(Modifier.width(8.dp))
            val cpu = state.accelerator == Accelerator.CPU
            TextButton(onClick = { viewModel.setThreads(state.threads - 1) }, enabled = cpu && state.threads > 1) { Text("−") }
            Text("${state.threads}")
            TextButton(onClick = { viewModel.setThreads(state.threads + 1) }, enabled = cpu && state.threads < 8) { Text("+") }
        }
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(stringResource(R.string.letterbox), style = MaterialTheme.typography.labelLarge)
            Spacer(Modifier.width(8.dp))
            Switch(checked = state.letterbox, onCheckedChange = { viewModel.setLetterbox(it) })
        }
        if (state.mode == Mode.CAMERA) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                Text(stringResource(R.string.front_camera), style = MaterialTheme.typography.labelLarge)
                Spacer(Modifier.width(8.dp))
                Switch(checked = state.frontCamera, onCheckedChange = { viewModel.setFrontCamera(it) })
            }
        }
        val usable = state.models.withIndex().filter { it.value.card != null }
        if (usable.size > 1) {
            Text(stringResource(R.string.model), style = MaterialTheme.typography.labelLarge)
            for ((index, entry) in usable) {
                Row(verticalAlignment = Alignment.CenterVertically) {
                    RadioButton(selected = state.selected == index, onClick = { viewModel.selectModel(index) })
                    Text("${entry.card!!.name} (${entry.assetName})")
                }
            }
        }
    }
}
