package com.deeplabtf.segcore

import org.junit.Assert.assertTrue
import org.junit.Assert.fail

/** Runs [block] and asserts it throws a [ContractException] whose message contains [fragment]. */
fun expectContractError(fragment: String, block: () -> Unit) {
    try {
        block()
    } catch (e: ContractException) {
        assertTrue("'${e.message}' should mention '$fragment'", e.message!!.contains(fragment))
        return
    }
    fail("expected a ContractException mentioning '$fragment'")
}
