package com.deeplabtf.segcore

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test
import java.io.File

/**
 * Whether LiteRT's GPU delegate would run each model whole (issue 21, bug 6, on Android). The expected ops
 * are what deeplab_tf/export/gpu_delegate.py (`deeplab-bench tflite`'s GPU check) reports for the same files.
 */
class GpuDelegateTest {
    private fun check(path: String): GpuSupport {
        val support = GpuDelegate.check(ModelFile.read(GoldenTest.contractFile(path)))
        println("gpu: $path: ${support.caption(Accelerator.GPU)}")
        return support
    }

    private fun cpuOps(support: GpuSupport) = support.onCpu.map { "${it.index} ${it.name}: ${it.reason}" }

    @Test
    fun scoresModelsRunWholeOnTheGpu() {
        val float = check("models/smoke_float.tflite")
        assertTrue(float.whole)
        assertEquals("GPU: the whole model (87 ops)", float.caption(Accelerator.GPU))
        val int8 = check("models/smoke_int8.tflite")
        assertEquals(emptyList<String>(), cpuOps(int8))
        assertEquals(89, int8.ops)
        assertNull("nothing to say on the CPU", int8.caption(Accelerator.CPU))
    }

    @Test
    fun theMaskModelsArgMaxStaysOnTheCpu() {
        val mask = check("models/tiny_int8_mask.tflite")
        assertEquals(listOf("4 ARG_MAX: not an op of the GPU delegate", "5 CAST: INT32 -> UINT8 is not among its casts"), cpuOps(mask))
        assertEquals("GPU: ARG_MAX, CAST run on the CPU (2 of 6 ops)", mask.caption(Accelerator.GPU))
        assertNull(mask.caption(Accelerator.CPU))
    }

    @Test
    fun theShippedAppModelLeavesItsMaskEndToTheCpu() {
        val app = check("../android/app/src/main/assets/deeplabv3_pascal_257_int8_mask.tflite")
        assertEquals(
            listOf(
                "71 ARG_MAX: not an op of the GPU delegate", "72 CAST: INT32 -> UINT8 is not among its casts",
                "73 RESHAPE: a tensor of rank > 4", "74 CONCATENATION: a tensor of rank > 4",
                "75 CONCATENATION: a tensor of rank > 4", "76 RESHAPE: a tensor of rank > 4",
                "77 STRIDED_SLICE: UINT8 tensors (the delegate computes in float)"
            ),
            cpuOps(app)
        )
        assertEquals("GPU: ARG_MAX, CAST, RESHAPE x2, CONCATENATION x2, STRIDED_SLICE run on the CPU (7 of 78 ops)", app.caption(Accelerator.GPU))
    }

    @Test
    fun theContractsBadModelsShowEachRule() {
        // Each small bad model breaks one rule: a rank-5 tensor, a cast the delegate lacks, an op it lacks.
        assertEquals(listOf("1 RESHAPE: a tensor of rank > 4"), cpuOps(check("bad/five_d.tflite")))
        assertEquals(listOf("1 CAST: FLOAT32 -> INT16 is not among its casts"), cpuOps(check("bad/int16_output.tflite")))
        val one = check("bad/two_outputs.tflite")
        assertEquals(listOf("0 ARG_MAX: not an op of the GPU delegate"), cpuOps(one))
        assertEquals("GPU: ARG_MAX runs on the CPU (1 of 2 ops)", one.caption(Accelerator.GPU))
    }

    @Test
    fun theReferenceGpuModelRunsWhole() {
        val shared = File(System.getProperty("segcore.shared") ?: File(GoldenTest.contractDir(), "../../../shared").path)
        val file = File(shared, "reference/deeplabv3_257_mv_gpu.tflite")
        assumeTrue("../shared is absent", file.isFile)
        val support = GpuDelegate.check(ModelFile.read(file))
        assertEquals("GPU: the whole model (70 ops)", support.caption(Accelerator.GPU))
    }

    @Test
    fun builtinNamesFollowTheSchema() {
        assertEquals("ADD", BuiltinOps.name(0))
        assertEquals("ARG_MAX", BuiltinOps.name(56))
        assertEquals("CUSTOM", BuiltinOps.name(BuiltinOps.CUSTOM))
        assertEquals("BUILTIN_999", BuiltinOps.name(999))
    }
}
