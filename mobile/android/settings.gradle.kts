// deeplab_tf Android sample: the app (:app) and the plain-Kotlin pre/post-processing core (:segcore),
// which the app uses as a source module and which also builds and tests on its own (./gradlew :segcore:test).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "DeepLabSegment"
include(":app", ":segcore")
