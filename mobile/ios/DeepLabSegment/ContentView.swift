import AVFoundation
import PhotosUI
import SwiftUI

/// Header, the segmented image (camera or gallery), timings, legend and settings.
struct ContentView: View {
    @EnvironmentObject private var model: SegmentationViewModel
    @State private var camera = CameraManager()
    @State private var cameraRefused = false
    @State private var pickedItem: PhotosPickerItem?
    @State private var orientation: AVCaptureVideoOrientation = .portrait

    var body: some View {
        VStack(alignment: .leading, spacing: 8) {
            Text(model.title).font(.title2).bold()
            if !model.summary.isEmpty { Text(model.summary).font(.caption) }
            Picker("Mode", selection: $model.mode) {
                ForEach(Mode.allCases) { Text($0.rawValue).tag($0) }
            }
            .pickerStyle(.segmented)

            ZStack {
                Color.black.opacity(0.3)
                if model.mode == .camera && !cameraRefused {
                    // The picture at camera rate; the mask at model resolution on top, scaled by the GPU.
                    CameraPreview(session: camera.session, orientation: orientation)
                    if let mask = model.liveMask, let size = model.liveSize {
                        Image(uiImage: mask).resizable().aspectRatio(size, contentMode: .fit)
                    }
                } else if model.mode == .gallery, let overlay = model.overlay {
                    Image(uiImage: overlay).resizable().scaledToFit()
                } else if model.mode == .camera && cameraRefused {
                    Text("The live mode needs camera access (Settings > Privacy > Camera).")
                        .multilineTextAlignment(.center).padding()
                }
                if model.mode == .gallery {
                    VStack {
                        Spacer()
                        PhotosPicker("Pick an image", selection: $pickedItem, matching: .images)
                            .buttonStyle(.borderedProminent).padding()
                    }
                }
            }
            .frame(maxWidth: .infinity, maxHeight: .infinity)

            if let error = model.error {
                Text(error).font(.caption).foregroundColor(.red)
            }
            if let notice = model.notice {
                Text(notice).font(.caption).foregroundColor(.orange)
            }
            ScrollView {
                VStack(alignment: .leading, spacing: 8) {
                    StatsView(times: model.times, running: model.running, threads: model.threads)
                    if model.mode == .camera, let fps = model.fps, let mean = model.meanInferenceMs {
                        Text(String(format: "live: %.1f FPS · mean inference %.1f ms", fps, mean)).font(.caption)
                    }
                    LegendView(items: model.legend) { model.toggleClass($0) }
                    if model.mode == .gallery && model.overlay != nil {
                        HStack {
                            Button("Prepare overlay, mask and cut-out") { model.prepareShare() }
                            if !model.shareItems.isEmpty {
                                ShareLink(items: model.shareItems.map { Image(uiImage: $0) }) { _ in
                                    SharePreview("DeepLab Segment")
                                }
                            }
                        }
                        .font(.caption)
                    }
                    SettingsView()
                }
            }
            .frame(maxHeight: 280)
        }
        .padding(.horizontal, 12)
        .onAppear { updateCamera() }
        .onDisappear { camera.stop() }
        .onChange(of: model.mode) { _ in updateCamera() }
        .onChange(of: model.frontCamera) { front in camera.use(front: front) }
        .onReceive(NotificationCenter.default.publisher(for: UIDevice.orientationDidChangeNotification)) { _ in
            followOrientation()
        }
        .onChange(of: pickedItem) { item in
            guard let item = item else { return }
            Task {
                if let data = try? await item.loadTransferable(type: Data.self) {
                    await MainActor.run { model.segmentPhoto(data: data) }
                }
            }
        }
    }

    /// The screen's orientation (the iPad turns with the device; the iPhone stays portrait).
    private static func interfaceOrientation() -> UIInterfaceOrientation {
        let scenes = UIApplication.shared.connectedScenes.compactMap { $0 as? UIWindowScene }
        return scenes.first?.interfaceOrientation ?? .portrait
    }

    /// Frames and the preview upright for the screen's orientation.
    private func followOrientation() {
        let interface = Self.interfaceOrientation()
        camera.setOrientation(interface)
        orientation = CameraManager.videoOrientation(for: interface)
    }

    private func updateCamera() {
        guard model.mode == .camera else {
            camera.stop()
            return
        }
        camera.onFrame = { [weak model] frame in model?.segment(frame, live: true) }
        camera.use(front: model.frontCamera)
        followOrientation()
        camera.start { ok in DispatchQueue.main.async { cameraRefused = !ok } }
    }
}

/// Inference and pre/post-processing times of the last image, the accelerator and the threads.
struct StatsView: View {
    let times: StageTimes?
    let running: Backend?
    let threads: Int

    var body: some View {
        if let t = times, let running = running {
            let device = running == .cpu ? "CPU, \(threads) threads" : "GPU"
            Text(String(format: "inference %.1f ms · preprocess %.1f ms · postprocess %.1f ms · %@",
                        t.inferenceMs, t.preprocessMs, t.postprocessMs, device))
                .font(.caption)
        }
    }
}

/// The classes present in the current image, largest first, with the card's colours; a tap switches a class's
/// colouring (the model's class filter), an uncoloured class is faded.
struct LegendView: View {
    let items: [LegendItem]
    let onToggle: (Int) -> Void

    var body: some View {
        ScrollView(.horizontal, showsIndicators: false) {
            HStack(spacing: 12) {
                ForEach(items) { item in
                    HStack(spacing: 4) {
                        RoundedRectangle(cornerRadius: 3).fill(item.color).frame(width: 14, height: 14)
                        Text("\(item.name) \(Int((item.fraction * 100).rounded()))%").font(.caption)
                    }
                    .opacity(item.coloured ? 1 : 0.4)
                    .onTapGesture { onToggle(item.id) }
                }
            }
        }
    }
}

/// Opacity, accelerator, CPU threads, letterbox and (with several models in the bundle) the model.
struct SettingsView: View {
    @EnvironmentObject private var model: SegmentationViewModel

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            Text("Overlay opacity: \(Int(model.opacity * 100 / 255))%").font(.subheadline)
            Slider(value: $model.opacity, in: 0...255, step: 1)
            Picker("Accelerator", selection: $model.backend) {
                ForEach(Backend.allCases) { Text($0.rawValue).tag($0) }
            }
            .pickerStyle(.segmented)
            Stepper("CPU threads: \(model.threads)", value: $model.threads, in: SegmentationViewModel.threadRange)
                .disabled(model.backend != .cpu)
            Toggle("Keep aspect ratio (letterbox)", isOn: $model.letterbox)
            if model.mode == .camera {
                Toggle("Front camera", isOn: $model.frontCamera)
            }
            if model.models.count > 1 {
                Picker("Model", selection: $model.selected) {
                    ForEach(model.models) { Text($0.fileName).tag(Optional($0)) }
                }
            }
        }
    }
}
