"""mobile/ios: every Swift file parses (tree-sitter-swift), the Info.plist is a valid property list with the
camera reason, and the Swift code calls only what the Objective-C++ bridge declares. Building needs Xcode
(mobile/README.md); the C++ core the bridge wraps is built and tested by tests for mobile/native."""

import os
import pathlib
import plistlib
import re
import subprocess
import textwrap

from syntax_check import files_with_errors, parser_for, syntax_errors

IOS = pathlib.Path(__file__).resolve().parents[2] / "mobile" / "ios"
APP = IOS / "DeepLabSegment"


def test_every_swift_file_parses():
    parser = parser_for("swift")
    files = sorted(IOS.rglob("*.swift"))
    assert len(files) >= 5, files
    assert files_with_errors(parser, files, IOS) == {}


def test_the_parse_check_catches_broken_swift():
    parser = parser_for("swift")
    assert syntax_errors(parser, b"struct A { let x: Int = 1 }\n") == []
    assert syntax_errors(parser, b"struct A { func f( { }\n")


def test_info_plist_is_valid_and_explains_the_camera():
    info = plistlib.loads((APP / "Info.plist").read_bytes())
    assert info["NSCameraUsageDescription"].strip()
    assert info["CFBundleExecutable"] == "$(EXECUTABLE_NAME)"


def test_swift_uses_only_what_the_bridge_declares():
    """Selectors of the bridge as Swift imports them (init(cardPath:accelerator:threads:), segmentRGBA(_:width:...))."""
    header = (APP / "SegmenterBridge.h").read_text()
    swift = "\n".join(p.read_text() for p in APP.glob("*.swift"))
    assert "#import \"SegmenterBridge.h\"" in (APP / "DeepLabSegment-Bridging-Header.h").read_text()
    assert re.search(r"initWithCardPath:\(NSString \*\)cardPath\s+accelerator:.*\s+threads:\(NSInteger\)threads\s+error:",
                     header)
    assert re.search(r"DLSSegmenter\(cardPath: [^)]*, accelerator: [^)]*,\s+threads: threads\)", swift)
    assert re.search(r"segmentRGBA:\(NSData \*\)rgba\s+width:.*\s+height:.*\s+letterbox:.*\s+opacity:", header)
    assert "segmentRGBA(pixels.data, width:" in swift
    assert "- (nullable NSData *)overlayWithOpacity:" in header and "overlay(withOpacity:" in swift
    for member in ("overlayRGBA", "present", "preprocessMs", "inferenceMs", "postprocessMs", "modelName", "summary",
                   "letterboxByDefault"):
        assert member in header, member
    # A newly selected model starts with its card's resize, as on Android.
    assert "if newModel { self.letterbox = created.letterboxByDefault }" in swift


def test_xcodegen_spec_compiles_the_native_core():
    spec = (IOS / "project.yml").read_text()
    assert "path: ../native/src" in spec and "../native/include" in spec
    assert sorted((IOS / ".." / "native" / "src").glob("*.cpp")), "mobile/native/src has no C++ sources"
    assert "SWIFT_OBJC_BRIDGING_HEADER: DeepLabSegment/DeepLabSegment-Bridging-Header.h" in spec


def test_cpu_thread_stepper_like_android():
    """A thread count 1...8 for the CPU only, passed to the bridge, which passes it to the core only for the CPU."""
    view = (APP / "ContentView.swift").read_text()
    model = (APP / "SegmentationViewModel.swift").read_text()
    bridge = (APP / "SegmenterBridge.mm").read_text()
    assert "static let threadRange = 1...8" in model
    assert re.search(r"Stepper\(.*value: \$model\.threads, in: SegmentationViewModel\.threadRange\)\s+"
                     r"\.disabled\(model\.backend != \.cpu\)", view)
    assert "const std::optional<int> cpu_threads = static_cast<int>(threads);" in bridge
    assert re.search(r"segcore::open_segmenter\(\s*std::string\(cardPath\.UTF8String\), gpu \? segcore::Accelerator::kGpu : "
                     r"segcore::Accelerator::kCpu,\s+cpu_threads,", bridge)


def test_gpu_failure_falls_back_to_the_cpu_and_says_so():
    """The core decides (segcore::open_segmenter, ctest app_logic); the bridge reports it and the screen shows it."""
    header = (APP / "SegmenterBridge.h").read_text()
    model = (APP / "SegmentationViewModel.swift").read_text()
    view = (APP / "ContentView.swift").read_text()
    assert "@property(nonatomic, readonly) DLSAccelerator runningAccelerator;" in header
    assert "@property(nonatomic, readonly, nullable, copy) NSString *notice;" in header
    assert "created.runningAccelerator == .GPU" in model and "let notice = created.notice" in model
    assert "if let notice = model.notice" in view and "StatsView(times: model.times, running: model.running" in view


def test_changes_rerun_the_gallery_image_and_redraws_keep_the_mask_with_its_model():
    """Model, accelerator, threads (after the rebuild) and letterbox rerun the picked image; the bridge's redraw
    goes through segcore::recolour, which refuses another model's card (ctest app_logic), and then reruns."""
    model = (APP / "SegmentationViewModel.swift").read_text()
    bridge = (APP / "SegmenterBridge.mm").read_text()
    assert "@Published var letterbox = false { didSet { if letterbox != oldValue { rerunStill() } } }" in model
    assert re.search(r"if newModel \{ self\.letterbox = created\.letterboxByDefault \}\s+self\.rerunStill\(\)", model)
    assert "std::optional<segcore::LabelledMask> _shown;" in bridge
    assert "segcore::recolour(*_shown, _segmenter->card()," in bridge
    assert "DispatchQueue.main.async { self.rerunStill() }" in model


def test_ipad_orientations_and_photos_downscaled_while_decoding():
    """An iPad-enabled target must support every orientation (store validation); the camera connection turns frames
    upright for the screen and mirrors the front camera; photos are decoded at most maxSide by ImageIO."""
    info = plistlib.loads((APP / "Info.plist").read_bytes())
    assert set(info["UISupportedInterfaceOrientations~ipad"]) == {
        f"UIInterfaceOrientation{o}" for o in ("Portrait", "PortraitUpsideDown", "LandscapeLeft", "LandscapeRight")}
    assert "TARGETED_DEVICE_FAMILY: \"1,2\"" in (IOS / "project.yml").read_text()
    camera = (APP / "CameraManager.swift").read_text()
    assert "connection.videoOrientation = orientation" in camera and "connection.isVideoMirrored = front" in camera
    assert ".oriented(" not in camera  # no fixed turn that is wrong in any other orientation
    conversion = (APP / "ImageConversion.swift").read_text()
    assert "kCGImageSourceCreateThumbnailWithTransform: true" in conversion
    assert "kCGImageSourceThumbnailMaxPixelSize: maxSide" in conversion
    assert "UIGraphicsImageRenderer" not in conversion  # the old full-resolution redraw


def _block_scalars(yaml_text: str, key: str) -> list[str]:
    """The values of ``key: |`` literal blocks in a YAML text (their lines, dedented)."""
    lines, blocks = yaml_text.splitlines(), []
    for i, line in enumerate(lines):
        if line.strip() == f"- {key}: |" or line.strip() == f"{key}: |":
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[i + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            blocks.append(textwrap.dedent("\n".join(body)))
    return blocks


def test_litert_libraries_are_embedded_for_device_and_simulator(tmp_path):
    """libLiteRt.dylib and LiteRT's Metal accelerator come from LiteRT's prebuilt/ios_arm64 (device) or
    prebuilt/ios_sim_arm64 (simulator) folder, chosen by the SDK; the bridge gives the core the app's Frameworks
    folder, where the build script copies both (the accelerator only when present: the app then runs on the CPU).
    The scripts run here with Xcode's variables set by hand (no signing identity)."""
    bridge = (APP / "SegmenterBridge.mm").read_text()
    assert "NSBundle.mainBundle.privateFrameworksPath" in bridge
    spec = (IOS / "project.yml").read_text()
    assert "LITERT_IOS_LIB_DIR: $(SRCROOT)/LiteRT/ios_arm64" in spec
    assert '"LITERT_IOS_LIB_DIR[sdk=iphonesimulator*]": $(SRCROOT)/LiteRT/ios_sim_arm64' in spec
    assert "OTHER_LDFLAGS: -lLiteRt" in spec and "LIBRARY_SEARCH_PATHS: $(LITERT_IOS_LIB_DIR)" in spec
    scripts = _block_scalars(spec, "script")
    check = [s for s in scripts if "is missing" in s]
    embed = [s for s in scripts if "libLiteRtMetalAccelerator" in s]
    assert len(check) == 1 and len(embed) == 1
    libs = tmp_path / "LiteRT" / "ios_sim_arm64"
    env = {"PATH": os.environ["PATH"], "SRCROOT": str(tmp_path), "TARGET_BUILD_DIR": str(tmp_path / "build"),
           "FRAMEWORKS_FOLDER_PATH": "DeepLabSegment.app/Frameworks", "LITERT_IOS_LIB_DIR": str(libs)}
    frameworks = tmp_path / "build" / "DeepLabSegment.app" / "Frameworks"
    missing = subprocess.run(["sh", "-euc", check[0]], env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "libLiteRt.dylib is missing: copy LiteRT's prebuilt" in missing.stderr
    libs.mkdir(parents=True)
    (libs / "libLiteRt.dylib").write_text("core")
    subprocess.run(["sh", "-euc", check[0]], env=env, check=True)
    subprocess.run(["sh", "-euc", embed[0]], env=env, check=True)
    assert (frameworks / "libLiteRt.dylib").read_text() == "core"
    assert not (frameworks / "libLiteRtMetalAccelerator.dylib").exists()  # none there: nothing embedded, no failure
    (libs / "libLiteRtMetalAccelerator.dylib").write_text("metal")
    subprocess.run(["sh", "-euc", embed[0]], env=env, check=True)
    assert (frameworks / "libLiteRtMetalAccelerator.dylib").read_text() == "metal"


def test_class_filter_and_share_go_through_the_core():
    """The filter of each model and the cut-out are the core's (segcore::ClassFilters, segcore::cutout; ctest
    app_logic); Swift calls them by the names the header gives them and shares overlay and cut-out."""
    header = (APP / "SegmenterBridge.h").read_text()
    bridge = (APP / "SegmenterBridge.mm").read_text()
    model = (APP / "SegmentationViewModel.swift").read_text()
    view = (APP / "ContentView.swift").read_text()
    for swift_name in ("cutout(keeping:)", "filter(for:)", "toggle(classId:for:)", "cutoutClasses(for:)"):
        assert f"NS_SWIFT_NAME({swift_name})" in header, swift_name
    assert "segcore::ClassFilters _filters;" in bridge and "segcore::cutout(_shown->image.view()" in bridge
    assert re.search(r"segmentRGBA:\(NSData \*\)rgba[\s\S]*?opacity:\(NSInteger\)opacity\s+only:", header)
    assert "letterbox: letterbox, opacity: opacity, only: only, live: live)" in model
    assert "segmenter.overlay(withOpacity: opacity, only: only)" in model
    assert "self.filters.toggle(classId: classId, for: segmenter)" in model
    assert "segmenter.cutout(keeping: self.filters.cutoutClasses(for: segmenter))" in model
    # The mask itself is shared too (segcore::mask_colours, ctest app_logic).
    assert "NS_SWIFT_NAME(maskColours())" in header and "segcore::mask_colours(*_shown)" in bridge
    assert "let colours = segmenter.maskColours()" in model and "self.shareItems = [overlay, mask, cutout]" in model
    assert "ShareLink(items: model.shareItems.map" in view and "model.toggleClass($0)" in view


def test_live_preview_draws_the_model_resolution_mask_over_the_camera_picture():
    """The camera picture at camera rate (AVCaptureVideoPreviewLayer, aspect fit) and the mask at model resolution
    from segcore's segment_live (ctest app_logic: scaled to the image it is the golden mask) at the frame's aspect;
    FPS and mean inference from segcore::RateMeter."""
    header = (APP / "SegmenterBridge.h").read_text()
    bridge = (APP / "SegmenterBridge.mm").read_text()
    camera = (APP / "CameraManager.swift").read_text()
    model = (APP / "SegmentationViewModel.swift").read_text()
    view = (APP / "ContentView.swift").read_text()
    assert re.search(r"segmentRGBA:\(NSData \*\)rgba[\s\S]*?only:\(nullable NSArray<NSNumber \*> \*\)only\s+live:\(BOOL\)live", header)
    assert "_segmenter->segment_live(" in bridge and "segcore::RateMeter _meter;" in bridge
    assert "NS_SWIFT_NAME(add(endNanos:inferenceMs:))" in header
    assert "override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }" in camera
    assert "view.previewLayer.videoGravity = .resizeAspect" in camera
    assert "letterbox: letterbox, opacity: opacity, only: only, live: live)" in model
    assert "rate.add(endNanos:" in model
    assert "CameraPreview(session: camera.session, orientation: orientation)" in view
    assert "Image(uiImage: mask).resizable().aspectRatio(size, contentMode: .fit)" in view
    assert "model?.segment(frame, live: true)" in view
