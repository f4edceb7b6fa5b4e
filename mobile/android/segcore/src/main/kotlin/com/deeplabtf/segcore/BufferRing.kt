package com.deeplabtf.segcore

/**
 * Buffers reused from camera frame to camera frame instead of new ones per frame (issue 21, bug 8): [next]
 * hands out [count] buffers in turn, each made by [create] (width, height) the first time and again only
 * when the size asked for differs from the size it was made for (another camera, crop or model).
 *
 * One buffer ([count] 1) for what the inference thread alone uses within a frame (the frame's bytes, the
 * upright image). For what the screen draws while the next frame is computed, three: the one on screen,
 * the one handed over but maybe not drawn yet, and the one being written, so a bitmap is never written
 * while it is drawn.
 *
 * Not thread-safe: one thread (the inference thread) calls [next].
 */
class BufferRing<T : Any>(private val count: Int, private val create: (Int, Int) -> T) {
    private val buffers = arrayOfNulls<Any>(count)
    private val widths = IntArray(count)
    private val heights = IntArray(count)
    private var turn = 0

    /** How many buffers [create] has made so far. */
    var created = 0
        private set

    init {
        if (count < 1) throw ContractException("a buffer ring needs at least one buffer, got $count")
    }

    /** The next buffer in turn, of [width] x [height]: the one made before for that size, or a new one. */
    fun next(width: Int, height: Int): T {
        if (width < 1 || height < 1) throw ContractException("buffer size must be positive, got ${width}x$height")
        val i = turn
        turn = (turn + 1) % count
        val kept = buffers[i]
        if (kept != null && widths[i] == width && heights[i] == height) {
            @Suppress("UNCHECKED_CAST")
            return kept as T
        }
        val made = create(width, height)
        buffers[i] = made
        widths[i] = width
        heights[i] = height
        created++
        return made
    }
}
