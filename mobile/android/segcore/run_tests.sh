#!/usr/bin/env bash
# Compiles segcore and its JUnit4 tests with the command-line Kotlin compiler and runs them on the
# golden vectors of mobile/contract. Needs Debian's kotlin, junit4 and libhamcrest-java (or
# KOTLIN_HOME / JUNIT_JAR / HAMCREST_JAR pointing at equivalents). Usage:
#   mobile/android/segcore/run_tests.sh [BUILD_DIR]      (default: a fresh temporary folder)
# Exit status is JUnit's: 0 when every test passed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
contract="$(cd "$here/../../contract" && pwd)"
shared="${DEEPLAB_SHARED:-$here/../../../../shared}"   # cases with "root": "shared" skip when it is absent
build="${1:-$(mktemp -d)}"
mkdir -p "$build"

find_jar() {  # first existing file among the arguments
  for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done
  return 1
}
junit="${JUNIT_JAR:-$(find_jar /usr/share/java/junit4.jar)}" || { echo "run_tests: junit4.jar not found (apt-get install junit4)" >&2; exit 2; }
hamcrest="${HAMCREST_JAR:-$(find_jar /usr/share/java/hamcrest-core.jar /usr/share/java/hamcrest.jar)}" \
  || { echo "run_tests: hamcrest jar not found (apt-get install libhamcrest-java)" >&2; exit 2; }
kotlinc="${KOTLINC:-$(command -v kotlinc || true)}"
[ -n "$kotlinc" ] || { echo "run_tests: kotlinc not found (apt-get install kotlin)" >&2; exit 2; }
stdlib="$(find_jar "${KOTLIN_HOME:-/usr/share/kotlin}/lib/kotlin-stdlib.jar" /usr/share/java/kotlin-stdlib.jar)" \
  || { echo "run_tests: kotlin-stdlib.jar not found" >&2; exit 2; }

# One compiler run for library and tests; a C1-only JIT and the serial GC cut kotlinc 1.3 from ~35 s to ~10 s here.
export JAVA_OPTS="${JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"
start=$(date +%s)
"$kotlinc" -nowarn -jvm-target 1.8 -cp "$junit:$hamcrest" -d "$build/classes" \
  "$here/src/main/kotlin" "$here/src/test/kotlin" 2>&1 | { grep -v 'noverify' || true; }
[ -f "$build/classes/com/deeplabtf/segcore/Pipeline.class" ] || { echo "run_tests: compilation failed" >&2; exit 1; }
echo "run_tests: kotlinc took $(( $(date +%s) - start )) s"

# No android.* anywhere in the library: it must stay plain Kotlin/JVM.
if grep -rn '^import android\.' "$here/src/main/kotlin"; then
  echo "run_tests: segcore must not import android.*" >&2; exit 1
fi

exec java -Djava.awt.headless=true -Dsegcore.contract="$contract" -Dsegcore.shared="$shared" \
  -cp "$build/classes:$stdlib:$junit:$hamcrest" org.junit.runner.JUnitCore \
  com.deeplabtf.segcore.AlgorithmsTest com.deeplabtf.segcore.ModelCardTest com.deeplabtf.segcore.GoldenTest com.deeplabtf.segcore.AppLogicTest \
  com.deeplabtf.segcore.GpuDelegateTest
