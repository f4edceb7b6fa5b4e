"""mobile/android's Gradle wrapper: gradlew, gradlew.bat and gradle/wrapper/gradle-wrapper.jar are there, are the
files recorded in gradle/wrapper/PROVENANCE.md, and agree with gradle-wrapper.properties; with Java installed,
gradlew starts the jar, which reads the properties and goes for the distribution (a local URL here, so no
download is attempted)."""

import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import zipfile

import pytest

ANDROID = pathlib.Path(__file__).resolve().parents[2] / "mobile" / "android"
WRAPPER = ANDROID / "gradle" / "wrapper"
JAR = WRAPPER / "gradle-wrapper.jar"


def _properties(path: pathlib.Path) -> dict[str, str]:
    """A .properties file's key=value lines (comments skipped, backslash escapes undone)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = re.sub(r"\\(.)", r"\1", value.strip())
    return values


def _gradle_version() -> str:
    url = _properties(WRAPPER / "gradle-wrapper.properties")["distributionUrl"]
    found = re.fullmatch(r"https://services\.gradle\.org/distributions/gradle-(\d+\.\d+(?:\.\d+)?)-(?:bin|all)\.zip", url)
    assert found, f"distributionUrl {url!r} is not an https services.gradle.org distribution"
    return found.group(1)


def test_properties_point_at_an_official_distribution():
    props = _properties(WRAPPER / "gradle-wrapper.properties")
    version = _gradle_version()
    assert props["distributionBase"] == props["zipStoreBase"] == "GRADLE_USER_HOME"
    if "distributionSha256Sum" in props:
        assert re.fullmatch(r"[0-9a-f]{64}", props["distributionSha256Sum"]), props["distributionSha256Sum"]
    # The README and the provenance record name the same Gradle.
    assert f"gradle-wrapper.properties` ({version})" in (ANDROID.parent / "README.md").read_text()
    assert f"Gradle {version}" in (WRAPPER / "PROVENANCE.md").read_text()


def test_scripts_run_the_wrapper_jar():
    gradlew, bat = ANDROID / "gradlew", ANDROID / "gradlew.bat"
    assert gradlew.read_text().startswith("#!/bin/sh")
    assert os.access(gradlew, os.X_OK), "gradlew is not executable"
    for script in (gradlew, bat):
        text = script.read_text()
        assert "gradle-wrapper.jar" in text and "org.gradle.wrapper.GradleWrapperMain" in text, script.name
    assert b"\r\n" in bat.read_bytes(), "gradlew.bat lost its CRLF line ends"


def test_jar_is_the_gradle_wrapper():
    with zipfile.ZipFile(JAR) as jar:
        assert jar.testzip() is None
        names = set(jar.namelist())
        manifest = jar.read("META-INF/MANIFEST.MF").decode()
    assert {"org/gradle/wrapper/GradleWrapperMain.class", "org/gradle/wrapper/WrapperExecutor.class"} <= names
    assert "META-INF/LICENSE" in names
    assert "Implementation-Title: Gradle Wrapper" in manifest


def test_files_match_the_recorded_checksums():
    recorded = dict(re.findall(r"^\| (\S+) \| ([0-9a-f]{64}) \|$", (WRAPPER / "PROVENANCE.md").read_text(), re.M))
    files = {"gradle-wrapper.jar": JAR, "gradlew": ANDROID / "gradlew", "gradlew.bat": ANDROID / "gradlew.bat"}
    assert set(recorded) == set(files)
    for name, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded[name], name


def test_gradlew_starts_the_wrapper(tmp_path):
    """sh gradlew --version on a copy whose distributionUrl is a missing local zip: the wrapper must get as far
    as fetching it (script -> java -> GradleWrapperMain -> properties), without touching the network."""
    if shutil.which("java") is None:
        if os.environ.get("DEEPLAB_REQUIRE_ANDROID_TOOLS") == "1":
            pytest.fail("java is not installed (Debian's kotlin package brings it), and DEEPLAB_REQUIRE_ANDROID_TOOLS=1")
        pytest.skip("java is not installed (apt-get install default-jre-headless)")
    project = tmp_path / "project"
    (project / "gradle").mkdir(parents=True)
    shutil.copy2(ANDROID / "gradlew", project / "gradlew")
    shutil.copytree(WRAPPER, project / "gradle" / "wrapper")
    missing = tmp_path / "nowhere" / f"gradle-{_gradle_version()}-bin.zip"
    props = project / "gradle" / "wrapper" / "gradle-wrapper.properties"
    text, count = re.subn(r"(?m)^distributionUrl=.*$", f"distributionUrl=file\\\\:{missing}", props.read_text())
    assert count == 1
    props.write_text(text)
    env = dict(os.environ, GRADLE_USER_HOME=str(tmp_path / "home"))
    run = subprocess.run(["sh", "gradlew", "--version"], cwd=project, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    out = run.stdout + run.stderr
    assert f"Downloading file:{missing}" in out, out[-3000:]
    assert "FileNotFoundException" in out, out[-3000:]
