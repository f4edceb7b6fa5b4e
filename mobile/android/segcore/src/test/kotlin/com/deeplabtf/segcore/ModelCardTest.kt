package com.deeplabtf.segcore

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class ModelCardTest {
    private val card = """
        {"format": "deeplab_tf.model_card/1", "name": "camvid \"v3+\"", "version": "1", "experiment": "x",
         "description": "tab\there \u00e9", "model_file": "m.tflite", "labels_file": "m_labels.txt",
         "input": {"height": 257, "width": 129, "channels": 3, "color": "RGB", "dtype": "float32", "layout": "NHWC",
                   "normalization": {"mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 1e2]},
                   "quantization": null, "resize": "stretch"},
         "output": {"kind": "scores", "dtype": "uint8", "shape": [1, 65, 33, 3],
                    "quantization": {"scale": 0.00390625, "zero_point": 0}},
         "classes": [{"id": 0, "name": "sky", "color": [128, 128, 128]},
                     {"id": 1, "name": "road", "color": [128, 64, 128]},
                     {"id": 2, "name": "car", "color": [64, 0, 128]}],
         "ignore_label": 255, "quantization": "int8_ptq", "metrics": null, "latency_ms": null, "size_bytes": 1234}
    """

    private fun expectContractError(fragment: String, text: String) = expectContractError(fragment) { ModelCard.parse(text) }

    @Test
    fun parsesEveryFieldAnAppNeeds() {
        val c = ModelCard.parse(card)
        assertEquals("camvid \"v3+\"", c.name)
        assertEquals("tab\there \u00e9", c.description)
        assertEquals(257, c.input.height)
        assertEquals(129, c.input.width)
        assertEquals(DType.FLOAT32, c.input.dtype)
        assertArrayEquals(floatArrayOf(127.5f, 127.5f, 127.5f), c.input.mean, 0f)
        assertArrayEquals(floatArrayOf(127.5f, 127.5f, 100f), c.input.std, 0f)
        assertNull(c.input.quantization)
        assertEquals(ResizeMode.STRETCH, c.input.resize)
        assertEquals(OutputKind.SCORES, c.output.kind)
        assertEquals(DType.UINT8, c.output.dtype)
        assertEquals(65, c.output.height)
        assertEquals(33, c.output.width)
        assertEquals(0.00390625f, c.output.quantization!!.scale)
        assertEquals(listOf("sky", "road", "car"), c.classes.map { it.name })
        assertEquals(64, c.classes[1].green)
        assertEquals(255, c.ignoreLabel)
        assertEquals("m_labels.txt", c.labelsFile)
    }

    @Test
    fun aMaskOutputAndAnyClassCountNeedNoCodeChange() {
        val classes = (0 until 40).joinToString { """{"id": $it, "name": "c$it", "color": [$it, 0, 0]}""" }
        val text = card
            .replace(""""kind": "scores", "dtype": "uint8", "shape": [1, 65, 33, 3]""", """"kind": "mask", "dtype": "int64", "shape": [1, 65, 33]""")
            .replace(Regex("\"classes\": \\[.*?\\],\\s*\"ignore", RegexOption.DOT_MATCHES_ALL), "\"classes\": [$classes], \"ignore")
        val c = ModelCard.parse(text)
        assertEquals(40, c.numClasses)
        assertEquals(OutputKind.MASK, c.output.kind)
        assertEquals(1, c.output.depth)
    }

    @Test
    fun badCardsNameTheField() {
        expectContractError("format is 'other/2'", card.replace("deeplab_tf.model_card/1", "other/2"))
        expectContractError("missing field 'input.height'", card.replace("\"height\": 257,", ""))
        expectContractError("unknown dtype 'float16'", card.replace("\"dtype\": \"float32\"", "\"dtype\": \"float16\""))
        expectContractError("3 channels but the card lists 3".replace("3 channels", "4 channels"), card.replace("[1, 65, 33, 3]", "[1, 65, 33, 4]"))
        expectContractError("rank 5", card.replace("[1, 65, 33, 3]", "[1, 65, 33, 3, 1]"))
        expectContractError("std must be > 0", card.replace("1e2", "0"))
        expectContractError("classes[1] has id 5", card.replace("\"id\": 1,", "\"id\": 5,"))
        expectContractError("classes[2].color", card.replace("[64, 0, 128]", "[64, 0, 300]"))
        expectContractError("input.channels must be 3", card.replace("\"channels\": 3", "\"channels\": 4"))
        expectContractError("invalid JSON at offset", card.replace("\"version\": \"1\",", "\"version\": \"1\""))
    }

    @Test
    fun jsonNumbersStringsAndNesting() {
        @Suppress("UNCHECKED_CAST")
        val v = Json.parse("""{"a": [1, -2.5, 3e-1, true, false, null, "x\u0041\/"], "b": {}}""") as Map<String, Any?>
        assertEquals(listOf(1L, -2.5, 0.3, true, false, null, "xA/"), v["a"])
        assertEquals(emptyMap<String, Any?>(), v["b"])
        for (bad in listOf("", "[1,]", "{\"a\" 1}", "01x", "\"abc", "[1] 2", "nul")) {
            try {
                Json.parse(bad)
                fail("'$bad' should be refused")
            } catch (e: ContractException) {
                assertTrue(e.message!!.startsWith("invalid JSON"))
            }
        }
    }
}
