package com.deeplabtf.segment.ui

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.Image
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.style.TextAlign
import androidx.compose.ui.unit.dp
import androidx.core.content.ContextCompat
import androidx.core.content.FileProvider
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.deeplabtf.segment.Mode
import com.deeplabtf.segment.R
import com.deeplabtf.segment.SegmentViewModel
import com.deeplabtf.segment.UiState

/** Header, the segmented image (camera or gallery), timings, legend and settings. */
@Composable
fun SegmentScreen(viewModel: SegmentViewModel) {
    val state by viewModel.ui.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var cameraAllowed by remember {
        mutableStateOf(ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED)
    }
    val askCamera = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { cameraAllowed = it }
    val pickImage = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri != null) viewModel.onGalleryImage(uri)
    }
    val pick = { pickImage.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly)) }

    // The view model wrote the PNGs; the share sheet needs an activity context, so it starts here.
    val files = state.shareFiles
    LaunchedEffect(files) {
        if (files == null) return@LaunchedEffect
        val uris = ArrayList(files.map { FileProvider.getUriForFile(context, "${context.packageName}.files", it) })
        val send = Intent(Intent.ACTION_SEND_MULTIPLE).apply {
            type = "image/png"
            putParcelableArrayListExtra(Intent.EXTRA_STREAM, uris)
            addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION)
        }
        context.startActivity(Intent.createChooser(send, null))
        viewModel.shared()
    }

    Scaffold { padding ->
        Column(
            modifier = Modifier.fillMaxSize().padding(padding).padding(horizontal = 12.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            Header(state)
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                ModeButton(stringResource(R.string.mode_camera), state.mode == Mode.CAMERA) { viewModel.setMode(Mode.CAMERA) }
                ModeButton(stringResource(R.string.mode_gallery), state.mode == Mode.GALLERY) { viewModel.setMode(Mode.GALLERY) }
                if (state.mode == Mode.GALLERY && state.frame != null) TextButton(onClick = pick) { Text(stringResource(R.string.pick_image)) }
            }
            Box(modifier = Modifier.weight(1f).fillMaxWidth(), contentAlignment = Alignment.Center) {
                val frame = state.frame
                when {
                    state.card == null -> Message(stringResource(R.string.no_model))
                    state.mode == Mode.CAMERA && !cameraAllowed -> Column(horizontalAlignment = Alignment.CenterHorizontally) {
                        Message(stringResource(R.string.camera_permission))
                        Button(onClick = { askCamera.launch(Manifest.permission.CAMERA) }) { Text(stringResource(R.string.grant_permission)) }
                    }
                    state.mode == Mode.CAMERA ->
                        CameraFeed(viewModel.analysisExecutor, state.frontCamera, state.liveMask, viewModel::onCameraFrame)
                    else -> {
                        if (frame != null) {
                            BitmapLayer(frame, "segmentation overlay", ContentScale.Fit)
                        } else {
                            Button(onClick = pick) { Text(stringResource(R.string.pick_image)) }
                        }
                    }
                }
            }
            for (message in listOfNotNull(state.error) + state.problems) {
                Text(message, color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall)
            }
            Column(
                modifier = Modifier.heightIn(max = 300.dp).verticalScroll(rememberScrollState()),
                verticalArrangement = Arrangement.spacedBy(6.dp),
            ) {
                Stats(state)
                Legend(state.legend, viewModel::toggleClass)
                if (state.legend.isNotEmpty()) Text(stringResource(R.string.legend_hint), style = MaterialTheme.typography.bodySmall)
                if (state.mode == Mode.GALLERY && state.frame != null) {
                    TextButton(onClick = viewModel::share) { Text(stringResource(R.string.share)) }
                }
                Controls(state, viewModel)
            }
        }
    }
}

@Composable
private fun Header(state: UiState) {
    val card = state.card
    Column(modifier = Modifier.padding(top = 8.dp)) {
        Text(card?.name ?: stringResource(R.string.app_name), style = MaterialTheme.typography.titleLarge)
        if (card != null) {
            val output = "${card.output.kind.name.lowercase()} ${card.output.dtype.jsonName}"
            Text(
                "input ${card.input.width}x${card.input.height} ${card.input.dtype.jsonName} · $output · ${card.numClasses} classes",
                style = MaterialTheme.typography.bodySmall,
            )
        }
    }
}

@Composable
private fun ModeButton(label: String, selected: Boolean, onClick: () -> Unit) {
    if (selected) Button(onClick = onClick) { Text(label) } else OutlinedButton(onClick = onClick) { Text(label) }
}

@Composable
private fun Message(text: String) {
    Text(text, textAlign = TextAlign.Center, modifier = Modifier.padding(16.dp))
}

/** [bitmap] over the whole of its box, scaled by [scale] (on the GPU, as Compose draws). */
@Composable
fun BitmapLayer(bitmap: Bitmap, description: String, scale: ContentScale) {
    Image(bitmap = bitmap.asImageBitmap(), contentDescription = description, modifier = Modifier.fillMaxSize(), contentScale = scale)
}
