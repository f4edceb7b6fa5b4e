// segcore: plain Kotlin/JVM (no android.*), the same pre/post-processing as mobile/native, tested on the
// golden vectors of mobile/contract. Also compiled with Debian's kotlinc 1.3 by run_tests.sh, so the sources
// keep to the Kotlin 1.3 language subset.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    `java-library`
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    systemProperty("segcore.contract", rootDir.resolve("../contract").canonicalPath)
    systemProperty("java.awt.headless", "true")
}
