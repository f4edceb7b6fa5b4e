package com.deeplabtf.segment.ui

import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.darkColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.ui.graphics.Color

private val colors = darkColorScheme(
    primary = Color(0xFF7FD1AE),
    secondary = Color(0xFF9BB8D3),
    background = Color(0xFF101418),
    surface = Color(0xFF161B21),
)

@Composable
fun SegmentTheme(content: @Composable () -> Unit) {
    MaterialTheme(colorScheme = colors, content = content)
}
