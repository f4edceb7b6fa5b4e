import AVFoundation
import CoreImage

/// Back-camera frames as upright CGImages, only the latest kept (late frames are dropped).
final class CameraManager: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate {
    private let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "camera.frames")
    private let context = CIContext()
    private var configured = false
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

    private func configure() -> Bool {
        session.beginConfiguration()
        defer { session.commitConfiguration() }
        session.sessionPreset = .vga640x480
        guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back),
              let input = try? AVCaptureDeviceInput(device: device),
              session.canAddInput(input) else { return false }
        session.addInput(input)
        let output = AVCaptureVideoDataOutput()
        output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA]
        output.alwaysDiscardsLateVideoFrames = true
        output.setSampleBufferDelegate(self, queue: queue)
        guard session.canAddOutput(output) else { return false }
        session.addOutput(output)
        return true
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer,
                       from connection: AVCaptureConnection) {
        guard let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        // The sensor is landscape; a phone held upright sees it rotated by 90 degrees.
        let upright = CIImage(cvPixelBuffer: pixels).oriented(.right)
        guard let image = context.createCGImage(upright, from: upright.extent) else { return }
        onFrame?(image)
    }
}
