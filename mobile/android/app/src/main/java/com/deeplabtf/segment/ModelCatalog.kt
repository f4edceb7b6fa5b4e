package com.deeplabtf.segment

import android.content.res.AssetManager
import com.deeplabtf.segcore.ContractException
import com.deeplabtf.segcore.ModelCard

/** A model card found in the assets, or why a .json there could not be used. */
class CatalogEntry(val assetName: String, val card: ModelCard?, val problem: String?)

/**
 * The models in the APK's assets: every `*.json` there that is a deeplab_tf model card
 * (what `deeplab-export --android_assets=DIR` writes beside the .tflite and the labels).
 * Nothing is hard-coded, so any exported model shows up without code changes.
 */
object ModelCatalog {
    fun scan(assets: AssetManager): List<CatalogEntry> {
        val names = assets.list("")?.filter { it.endsWith(".json") }?.sorted() ?: emptyList()
        return names.mapNotNull { name ->
            val text = assets.open(name).bufferedReader().use { it.readText() }
            if (!text.contains(ModelCard.FORMAT)) return@mapNotNull null // some other JSON file
            try {
                val card = ModelCard.parse(text)
                val present = assets.list("")?.contains(card.modelFile) == true
                if (present) CatalogEntry(name, card, null)
                else CatalogEntry(name, null, "$name names ${card.modelFile}, which is not in the assets")
            } catch (e: ContractException) {
                CatalogEntry(name, null, "$name: ${e.message}")
            }
        }
    }
}
