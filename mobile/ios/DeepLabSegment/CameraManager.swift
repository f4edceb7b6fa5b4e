import AVFoundation
import CoreImage
import SwiftUI
import UIKit

/// Camera frames as upright CGImages, only the latest kept (late frames are dropped).
///
/// The capture connection turns the frames upright for the screen's orientation and mirrors the front
/// camera like its preview, before they reach the model (as both official LiteRT samples do): the model
/// sees the scene the way the user does, and the overlay needs no rotation.
final class CameraManager: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate {
    /// Shown by CameraPreview (the picture at camera rate) while frames go to `onFrame`.
    let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "camera.frames")
    private let context = CIContext()
    private let output = AVCaptureVideoDataOutput()
    private var input: AVCaptureDeviceInput?
    private var configured = false
    // Only touched on `queue`.
    private var front = false
    private var orientation: AVCaptureVideoOrientation = .portrait
    var onFrame: ((CGImage) -> Void)?

    /// Asks for camera access when needed; `completion(false)` when it is refused or there is no camera.
    func start(completion: @escaping (Bool) -> Void) {
        AVCaptureDevice.requestAccess(for: .video) { granted in
            guard granted else { completion(false); return }
            self.queue.async {
                if !self.configured { self.configured = self.configure() }
                if self.configured && !self.session.isRunning { self.session.startRunning() }
                completion(self.configured)
            }
        }
    }

    func stop() {
        queue.async { if self.session.isRunning { self.session.stopRunning() } }
    }

    /// The front or the back camera; a device without the one asked for keeps the other.
    func use(front: Bool) {
        queue.async {
            guard front != self.front || self.input == nil else { return }
            self.front = front
            if self.configured { _ = self.attachCamera() }
        }
    }

    /// The screen's orientation: frames are delivered upright for it.
    func setOrientation(_ interface: UIInterfaceOrientation) {
        let video = Self.videoOrientation(for: interface)
        queue.async {
            self.orientation = video
            self.applyConnection()
        }
    }

    /// The capture orientation that shows the scene upright on a screen in `interface` orientation.
    static func videoOrientation(for interface: UIInterfaceOrientation) -> AVCaptureVideoOrientation {
        switch interface {
        case .landscapeLeft: return .landscapeLeft
        case .landscapeRight: return .landscapeRight
        case .portraitUpsideDown: return .portraitUpsideDown
        default: return .portrait
        }
    }

    private func configure() -> Bool {
        session.beginConfiguration()
        defer { session.commitConfiguration() }
        session.sessionPreset = .vga640x480
        output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA]
        output.alwaysDiscardsLateVideoFrames = true
        output.setSampleBufferDelegate(self, queue: queue)
        guard session.canAddOutput(output) else { return false }
        session.addOutput(output)
        return attachCamera()
    }

    /// Replaces the session's camera input with the front or back camera; false when there is none.
    private func attachCamera() -> Bool {
        session.beginConfiguration()
        defer { session.commitConfiguration() }
        let position: AVCaptureDevice.Position = front ? .front : .back
        guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: position),
              let next = try? AVCaptureDeviceInput(device: device) else { return input != nil }
        if let current = input { session.removeInput(current) }
        guard session.canAddInput(next) else {
            if let current = input { session.addInput(current) }
            return input != nil
        }
        session.addInput(next)
        input = next
        applyConnection()
        return true
    }

    private func applyConnection() {
        guard let connection = output.connection(with: .video) else { return }
        if connection.isVideoOrientationSupported { connection.videoOrientation = orientation }
        if connection.isVideoMirroringSupported {
            connection.automaticallyAdjustsVideoMirroring = false
            connection.isVideoMirrored = front
        }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer,
                       from connection: AVCaptureConnection) {
        guard let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        // Already upright and mirrored by the connection (applyConnection).
        let upright = CIImage(cvPixelBuffer: pixels)
        guard let image = context.createCGImage(upright, from: upright.extent) else { return }
        onFrame?(image)
    }
}

/// The camera picture at camera rate (AVCaptureVideoPreviewLayer, aspect fit: the whole upright frame, as the
/// model sees it), under which nothing else is drawn; the live mask goes on top at the same aspect.
struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession
    let orientation: AVCaptureVideoOrientation

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var previewLayer: AVCaptureVideoPreviewLayer { layer as! AVCaptureVideoPreviewLayer }
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer.session = session
        view.previewLayer.videoGravity = .resizeAspect
        return view
    }

    func updateUIView(_ view: PreviewView, context: Context) {
        if let connection = view.previewLayer.connection, connection.isVideoOrientationSupported {
            connection.videoOrientation = orientation
        }
    }
}
