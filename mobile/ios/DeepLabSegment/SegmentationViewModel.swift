import Foundation
import SwiftUI
import UIKit

enum Mode: String, CaseIterable, Identifiable {
    case camera = "Camera"
    case gallery = "Gallery"
    var id: String { rawValue }
}

enum Backend: String, CaseIterable, Identifiable {
    case cpu = "CPU"
    case gpu = "GPU"
    var id: String { rawValue }
    var accelerator: DLSAccelerator { self == .cpu ? .CPU : .GPU }
}

/// A model card found in the bundle's Models folder.
struct ModelEntry: Identifiable, Hashable {
    let cardPath: String
    var id: String { cardPath }
    var fileName: String { (cardPath as NSString).lastPathComponent }
}

/// A legend row: a class present in the current image, its colour, share of the image and whether the filter colours it.
struct LegendItem: Identifiable {
    let id: Int
    let name: String
    let color: Color
    let fraction: Double
    var coloured: Bool
}

struct StageTimes {
    let preprocessMs: Double
    let inferenceMs: Double
    let postprocessMs: Double
}

/// Owns the native segmenter and one serial inference queue; camera frames arriving while it is busy are dropped.
/// A change of model, accelerator, threads or letterbox runs the gallery image on screen again (no stale overlay,
/// legend or times); a GPU that fails leaves the model on the CPU (the core decides: segcore::open_segmenter)
/// and `notice` says so.
final class SegmentationViewModel: ObservableObject {
    static let cardFormat = "deeplab_tf.model_card/1"

    @Published private(set) var models: [ModelEntry] = []
    @Published var selected: ModelEntry? { didSet { if selected != oldValue { rebuild(newModel: true) } } }
    @Published var backend: Backend = .cpu { didSet { if backend != oldValue { rebuild() } } }
    /// CPU threads (1...8, as in the Android app); a change recompiles the model when it runs on the CPU.
    @Published var threads: Int = 4 {
        didSet {
            threads = min(max(threads, Self.threadRange.lowerBound), Self.threadRange.upperBound)
            if threads != oldValue && backend == .cpu { rebuild() }
        }
    }
    @Published var mode: Mode = .camera { didSet { if mode != oldValue { clear() } } }
    @Published var opacity: Double = 128 { didSet { redrawOverlay() } }
    @Published var letterbox = false { didSet { if letterbox != oldValue { rerunStill() } } }
    /// Front camera (its frames mirrored like its preview) rather than the back one.
    @Published var frontCamera = false
    @Published private(set) var overlay: UIImage?
    @Published private(set) var legend: [LegendItem] = []
    @Published private(set) var times: StageTimes?
    @Published private(set) var title = "DeepLab Segment"
    @Published private(set) var summary = ""
    @Published private(set) var error: String?
    /// Said on screen when the chosen accelerator could not be used.
    @Published private(set) var notice: String?
    /// Where the model runs now (the CPU after a GPU failure); nil without a segmenter.
    @Published private(set) var running: Backend?
    /// Camera: the coloured mask at model resolution over the live preview, the upright frame's size (the mask
    /// is drawn at its aspect), and frames per second and mean inference time of the last frames.
    @Published private(set) var liveMask: UIImage?
    @Published private(set) var liveSize: CGSize?
    @Published private(set) var fps: Double?
    @Published private(set) var meanInferenceMs: Double?
    /// The overlay and the cut-out of the image on screen, ready for the share sheet (prepareShare()).
    @Published private(set) var shareItems: [UIImage] = []

    static let threadRange = 1...8

    private let queue = DispatchQueue(label: "segmentation.inference", qos: .userInitiated)
    private var segmenter: DLSSegmenter?   // only touched on `queue`
    private let filters = DLSClassFilters()  // the class filter of each model; only touched on `queue`
    private let rate = DLSRateMeter()        // the live preview's frame rate; only touched on `queue`
    private var lastSize: (width: Int, height: Int)?  // of the last overlay; only touched on `queue`
    private var busy = false               // only touched on the main thread
    private var still: CGImage?            // the gallery image on screen; only touched on the main thread

    init() {
        models = Self.findModels()
        selected = models.first
        if models.isEmpty {
            error = "No model card in the app's Models folder. Export one with "
                + "deeplab-export ... --android_assets=mobile/ios/DeepLabSegment/Models and rebuild."
        }
        rebuild(newModel: true)
    }

    /// Every deeplab_tf model card (*.json) shipped in the bundle's Models folder.
    static func findModels() -> [ModelEntry] {
        let paths = Bundle.main.paths(forResourcesOfType: "json", inDirectory: "Models").sorted()
        return paths.filter { path in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
            return text.contains(cardFormat)
        }.map { ModelEntry(cardPath: $0) }
    }

    /// A segmenter for the selected model, accelerator and threads; a new model also brings its card's resize.
    private func rebuild(newModel: Bool = false) {
        guard let entry = selected else { return }
        let backend = self.backend
        let threads = self.threads
        queue.async {
            self.segmenter = nil
            self.lastSize = nil
            do {
                let created = try DLSSegmenter(cardPath: entry.cardPath, accelerator: backend.accelerator,
                                               threads: threads)
                self.segmenter = created
                let running: Backend = created.runningAccelerator == .GPU ? .gpu : .cpu
                let notice = created.notice
                DispatchQueue.main.async {
                    self.title = created.modelName
                    self.summary = created.summary
                    self.running = running
                    self.notice = notice
                    self.error = nil
                    if newModel { self.letterbox = created.letterboxByDefault }
                    self.rerunStill()
                }
            } catch {
                let message = "\(backend.rawValue): \(entry.fileName): \(error.localizedDescription)"
                DispatchQueue.main.async {
                    self.running = nil
                    self.notice = nil
                    self.error = message
                }
            }
        }
    }

    private func clear() {
        still = nil
        overlay = nil
        liveMask = nil
        fps = nil
        meanInferenceMs = nil
        queue.async { self.rate.reset() }
        legend = []
        times = nil
    }

    /// A gallery image (main thread), or a camera frame (`live`, on the camera queue; dropped while the model
    /// is busy). A frame makes only the mask at model resolution (no image-size overlay): the preview shows the
    /// picture at camera rate beneath it.
    func segment(_ image: CGImage, live: Bool = false) {
        DispatchQueue.main.async {
            if self.busy && live { return }
            self.busy = true
            let letterbox = self.letterbox
            let opacity = Int(self.opacity.rounded())
            self.queue.async { self.run(image, letterbox: letterbox, opacity: opacity, live: live) }
        }
    }

    private func run(_ image: CGImage, letterbox: Bool, opacity: Int, live: Bool) {
        defer { DispatchQueue.main.async { self.busy = false } }
        guard let segmenter = segmenter, let pixels = RGBAImage.pixels(of: image) else { return }
        do {
            let only = filters.filter(for: segmenter)
            let result = try segmenter.segmentRGBA(pixels.data, width: pixels.width, height: pixels.height,
                                                   letterbox: letterbox, opacity: opacity, only: only, live: live)
            let legend = Self.legendItems(result, only: only)
            let times = StageTimes(preprocessMs: result.preprocessMs, inferenceMs: result.inferenceMs,
                                   postprocessMs: result.postprocessMs)
            let picture = RGBAImage.image(from: result.overlayRGBA, width: result.width, height: result.height,
                                          alpha: live)
            if live {
                rate.add(endNanos: Int64(DispatchTime.now().uptimeNanoseconds), inferenceMs: result.inferenceMs)
                let size = CGSize(width: pixels.width, height: pixels.height)
                let fps = rate.fps?.doubleValue
                let mean = rate.meanInferenceMs?.doubleValue
                DispatchQueue.main.async {
                    self.liveMask = picture
                    self.liveSize = size
                    self.fps = fps
                    self.meanInferenceMs = mean
                    self.legend = legend
                    self.times = times
                }
            } else {
                lastSize = (result.width, result.height)
                DispatchQueue.main.async {
                    self.overlay = picture
                    self.legend = legend
                    self.times = times
                    self.shareItems = []
                }
            }
        } catch {
            let message = error.localizedDescription
            DispatchQueue.main.async { self.error = message }
        }
    }

    /// A new opacity or class filter redraws the last overlay from its mask, without running the model.
    private func redrawOverlay() {
        let opacity = Int(opacity.rounded())
        queue.async {
            guard let segmenter = self.segmenter, let size = self.lastSize else { return }
            let only = self.filters.filter(for: segmenter)
            guard let rgba = segmenter.overlay(withOpacity: opacity, only: only) else {
                DispatchQueue.main.async { self.rerunStill() }
                return
            }
            let picture = RGBAImage.image(from: rgba, width: size.width, height: size.height)
            let shown = Self.colouredIds(only)
            DispatchQueue.main.async {
                self.overlay = picture
                for i in self.legend.indices { self.legend[i].coloured = shown?.contains(self.legend[i].id) ?? true }
                self.shareItems = []
            }
        }
    }

    private static func legendItems(_ result: DLSResult, only: [NSNumber]?) -> [LegendItem] {
        let total = Double(result.width * result.height)
        let shown = colouredIds(only)
        return result.present.map { c in
            LegendItem(id: c.classId, name: c.name,
                       color: Color(red: Double(c.red) / 255, green: Double(c.green) / 255, blue: Double(c.blue) / 255),
                       fraction: Double(c.pixels) / total, coloured: shown?.contains(c.classId) ?? true)
        }.sorted { $0.fraction > $1.fraction }
    }

    private static func colouredIds(_ only: [NSNumber]?) -> Set<Int>? {
        only.map { Set($0.map { $0.intValue }) }
    }

    /// A legend class tapped: coloured or not, in the current model's filter; the overlay is redrawn.
    func toggleClass(_ classId: Int) {
        queue.async {
            guard let segmenter = self.segmenter else { return }
            self.filters.toggle(classId: classId, for: segmenter)
        }
        redrawOverlay()
    }

    /// The overlay on screen, the mask (each class in its colour) and the cut-out (the coloured classes, or
    /// all but background, on transparency).
    func prepareShare() {
        guard let overlay = overlay else { return }
        queue.async {
            guard let segmenter = self.segmenter, let size = self.lastSize,
                  let rgba = segmenter.cutout(keeping: self.filters.cutoutClasses(for: segmenter)),
                  let cutout = RGBAImage.image(from: rgba, width: size.width, height: size.height, alpha: true),
                  let colours = segmenter.maskColours(),
                  let mask = RGBAImage.image(from: colours, width: size.width, height: size.height)
            else { return }
            DispatchQueue.main.async { self.shareItems = [overlay, mask, cutout] }
        }
    }

    /// A picked photo's file: decoded upright and already downscaled (never drawn at full resolution).
    func segmentPhoto(data: Data) {
        guard let cg = RGBAImage.uprightThumbnail(of: data, maxSide: RGBAImage.maxSide) else {
            error = "cannot read the picked image"
            return
        }
        still = cg
        segment(cg)
    }

    /// The gallery image on screen through the current model and settings again (main thread).
    private func rerunStill() {
        if let image = still { segment(image) }
    }
}
