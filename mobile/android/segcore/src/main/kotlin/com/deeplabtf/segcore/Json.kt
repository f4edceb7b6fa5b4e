package com.deeplabtf.segcore

/**
 * A small JSON reader (RFC 8259) for model cards and golden-case files.
 *
 * Objects become `Map<String, Any?>` (keys in file order), arrays `List<Any?>`, strings `String`,
 * numbers `Long` when written without fraction or exponent and `Double` otherwise, `true`/`false`
 * `Boolean` and `null` null. Malformed text raises [ContractException] with the offset.
 */
object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        reader.skipSpace()
        val value = reader.value()
        reader.skipSpace()
        if (!reader.atEnd()) reader.fail("unexpected text after the JSON value")
        return value
    }

    private class Reader(private val s: String) {
        private var i = 0

        fun atEnd(): Boolean = i >= s.length

        fun fail(what: String): Nothing = throw ContractException("invalid JSON at offset $i: $what")

        fun skipSpace() {
            while (i < s.length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++
        }

        fun value(): Any? {
            if (atEnd()) fail("unexpected end of text")
            val c = s[i]
            return when {
                c == '{' -> obj()
                c == '[' -> array()
                c == '"' -> string()
                c == '-' || c in '0'..'9' -> number()
                s.startsWith("true", i) -> { i += 4; true }
                s.startsWith("false", i) -> { i += 5; false }
                s.startsWith("null", i) -> { i += 4; null }
                else -> fail("unexpected character '$c'")
            }
        }

        private fun expect(c: Char) {
            if (atEnd() || s[i] != c) fail("expected '$c'")
            i++
        }

        private fun obj(): Map<String, Any?> {
            expect('{')
            val out = LinkedHashMap<String, Any?>()
            skipSpace()
            if (!atEnd() && s[i] == '}') { i++; return out }
            while (true) {
                skipSpace()
                if (atEnd() || s[i] != '"') fail("expected a string key")
                val key = string()
                skipSpace()
                expect(':')
                skipSpace()
                out[key] = value()
                skipSpace()
                if (atEnd()) fail("unterminated object")
                if (s[i] == ',') { i++; continue }
                expect('}')
                return out
            }
        }

        private fun array(): List<Any?> {
            expect('[')
            val out = ArrayList<Any?>()
            skipSpace()
            if (!atEnd() && s[i] == ']') { i++; return out }
            while (true) {
                skipSpace()
                out.add(value())
                skipSpace()
                if (atEnd()) fail("unterminated array")
                if (s[i] == ',') { i++; continue }
                expect(']')
                return out
            }
        }

        private fun string(): String {
            expect('"')
            val out = StringBuilder()
            while (true) {
                if (atEnd()) fail("unterminated string")
                val c = s[i++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        if (atEnd()) fail("unterminated escape")
                        when (val e = s[i++]) {
                            '"', '\\', '/' -> out.append(e)
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000C')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (i + 4 > s.length) fail("short \\u escape")
                                val code = s.substring(i, i + 4).toIntOrNull(16) ?: fail("bad \\u escape")
                                out.append(code.toChar())
                                i += 4
                            }
                            else -> fail("unknown escape '\\$e'")
                        }
                    }
                    c < ' ' -> fail("control character in string")
                    else -> out.append(c)
                }
            }
        }

        private fun number(): Any {
            val start = i
            if (s[i] == '-') i++
            if (atEnd() || s[i] !in '0'..'9') fail("expected a digit")
            while (i < s.length && s[i] in '0'..'9') i++
            var integral = true
            if (i < s.length && s[i] == '.') {
                integral = false
                i++
                if (atEnd() || s[i] !in '0'..'9') fail("expected a digit after '.'")
                while (i < s.length && s[i] in '0'..'9') i++
            }
            if (i < s.length && (s[i] == 'e' || s[i] == 'E')) {
                integral = false
                i++
                if (i < s.length && (s[i] == '+' || s[i] == '-')) i++
                if (atEnd() || s[i] !in '0'..'9') fail("expected a digit in the exponent")
                while (i < s.length && s[i] in '0'..'9') i++
            }
            val text = s.substring(start, i)
            if (integral) {
                val asLong = text.toLongOrNull()
                if (asLong != null) return asLong
            }
            return text.toDouble()
        }
    }
}

/** Typed access to a parsed JSON object; errors name the dotted path of the bad field. */
class JsonObject(private val map: Map<String, Any?>, private val path: String) {
    fun has(key: String): Boolean = map.containsKey(key) && map[key] != null

    private fun where(key: String): String = if (path == "") key else "$path.$key"

    private fun raw(key: String): Any = map[key] ?: throw ContractException("missing field '${where(key)}'")

    fun string(key: String): String =
        raw(key) as? String ?: throw ContractException("field '${where(key)}' must be a string")

    fun optString(key: String, default: String): String = if (has(key)) string(key) else default

    fun double(key: String): Double =
        (raw(key) as? Number)?.toDouble() ?: throw ContractException("field '${where(key)}' must be a number")

    fun int(key: String): Int {
        val v = raw(key)
        if (v !is Long || v < Int.MIN_VALUE || v > Int.MAX_VALUE) {
            throw ContractException("field '${where(key)}' must be an integer, got $v")
        }
        return v.toInt()
    }

    fun optInt(key: String): Int? = if (has(key)) int(key) else null

    fun obj(key: String): JsonObject = asObject(raw(key), where(key))

    fun optObj(key: String): JsonObject? = if (has(key)) obj(key) else null

    fun list(key: String): List<Any?> =
        raw(key) as? List<Any?> ?: throw ContractException("field '${where(key)}' must be an array")

    fun objects(key: String): List<JsonObject> =
        list(key).mapIndexed { n, item -> asObject(item, "${where(key)}[$n]") }

    fun ints(key: String): IntArray {
        val items = list(key)
        return IntArray(items.size) { n ->
            val v = items[n]
            if (v !is Long || v < Int.MIN_VALUE || v > Int.MAX_VALUE) {
                throw ContractException("field '${where(key)}[$n]' must be an integer, got $v")
            }
            v.toInt()
        }
    }

    fun doubles(key: String): DoubleArray {
        val items = list(key)
        return DoubleArray(items.size) { n ->
            (items[n] as? Number)?.toDouble()
                ?: throw ContractException("field '${where(key)}[$n]' must be a number")
        }
    }

    companion object {
        fun parse(text: String): JsonObject = asObject(Json.parse(text), "")

        @Suppress("UNCHECKED_CAST")
        fun asObject(value: Any?, path: String): JsonObject {
            val map = value as? Map<String, Any?>
                ?: throw ContractException(if (path == "") "expected a JSON object" else "field '$path' must be an object")
            return JsonObject(map, path)
        }
    }
}

/** A model, model card or input that the contract (mobile/contract/README.md) does not support. */
class ContractException(message: String) : IllegalArgumentException(message)
