package com.deeplabtf.segment

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import com.deeplabtf.segment.ui.SegmentScreen
import com.deeplabtf.segment.ui.SegmentTheme

/** The single screen: live camera or gallery image, segmented by the model found in the assets. */
class MainActivity : ComponentActivity() {
    private val viewModel: SegmentViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent {
            SegmentTheme {
                SegmentScreen(viewModel)
            }
        }
    }
}
