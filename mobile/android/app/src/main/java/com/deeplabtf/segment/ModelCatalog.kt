package com.deeplabtf.segment

import android.content.res.AssetManager
import com.deeplabtf.segcore.ContractException
import com.deeplabtf.segcore.GpuDelegate
import com.deeplabtf.segcore.GpuSupport
import com.deeplabtf.segcore.ModelCard
import com.deeplabtf.segcore.ModelFile
import java.io.IOException

/**
 * A model card found in the assets, or why a .json there could not be used; [gpu]: which of its ops LiteRT's
 * GPU delegate would leave to the CPU (segcore GpuDelegate: LiteRT's Kotlin API cannot say).
 */
class CatalogEntry(val assetName: String, val card: ModelCard?, val problem: String?, val gpu: GpuSupport? = null)

/**
 * The models in the APK's assets: every `*.json` there that is a deeplab_tf model card
 * (what `deeplab-export --android_assets=DIR` writes beside the .tflite and the labels).
 * Nothing is hard-coded, so any exported model shows up without code changes.
 *
 * Each card is checked against its .tflite by segcore's [ModelFile] (tensor shapes and dtypes, the
 * contract's bad models): a card that describes another model is listed with its problem, never run.
 */
object ModelCatalog {
    fun scan(assets: AssetManager): List<CatalogEntry> {
        val listed = try {
            assets.list("")?.toList() ?: emptyList()
        } catch (e: IOException) {
            return listOf(CatalogEntry("assets", null, "cannot list the assets: ${e.message}"))
        }
        return listed.filter { it.endsWith(".json") }.sorted().mapNotNull { name ->
            try {
                val text = assets.open(name).bufferedReader().use { it.readText() }
                if (!text.contains(ModelCard.FORMAT)) return@mapNotNull null // some other JSON file
                val card = ModelCard.parse(text)
                if (card.modelFile !in listed) throw ModelFile.unreadable(card.modelFile)
                val bytes = assets.open(card.modelFile).use { it.readBytes() }
                val model = ModelFile.read(card.modelFile, bytes)
                model.checkCard(card)
                CatalogEntry(name, card, null, GpuDelegate.check(model))
            } catch (e: ContractException) {
                CatalogEntry(name, null, "$name: ${e.message}")
            } catch (e: IOException) {
                CatalogEntry(name, null, "$name: cannot read it: ${e.message}")
            }
        }
    }
}
