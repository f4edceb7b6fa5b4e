import CoreGraphics
import ImageIO
import UIKit

/// Tight RGBA bytes (what the native core takes and gives back) to and from Core Graphics images.
enum RGBAImage {
    /// Draws `image` into width x height x 4 RGBA bytes, its longer side scaled to at most `maxSide`.
    static func pixels(of image: CGImage, maxSide: Int = 1280) -> (data: Data, width: Int, height: Int)? {
        let scale = min(1.0, Double(maxSide) / Double(max(image.width, image.height)))
        let width = max(1, Int(Double(image.width) * scale))
        let height = max(1, Int(Double(image.height) * scale))
        var data = Data(count: width * height * 4)
        let drawn = data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) -> Bool in
            guard let context = CGContext(
                data: buffer.baseAddress, width: width, height: height, bitsPerComponent: 8,
                bytesPerRow: width * 4, space: CGColorSpaceCreateDeviceRGB(),
                bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue
            ) else { return false }
            context.interpolationQuality = .medium
            context.draw(image, in: CGRect(x: 0, y: 0, width: width, height: height))
            return true
        }
        return drawn ? (data, width, height) : nil
    }

    /// The longest side the app segments (camera frames are 640x480).
    static let maxSide = 1280

    /// A photo file decoded upright (its EXIF orientation applied) with its longer side at most `maxSide`,
    /// by ImageIO's thumbnailer: a 48 MP photo is never decoded or drawn at full size.
    static func uprightThumbnail(of data: Data, maxSide: Int) -> CGImage? {
        guard let source = CGImageSourceCreateWithData(data as CFData, nil) else { return nil }
        let options: [CFString: Any] = [
            kCGImageSourceCreateThumbnailFromImageAlways: true,
            kCGImageSourceCreateThumbnailWithTransform: true,
            kCGImageSourceThumbnailMaxPixelSize: maxSide,
            kCGImageSourceShouldCacheImmediately: true,
        ]
        return CGImageSourceCreateThumbnailAtIndex(source, 0, options as CFDictionary)
    }

    /// RGBA bytes to a UIImage: alpha 255 (an overlay), or with `alpha` a cut-out's 0/255 alpha (its transparent
    /// pixels are all 0, so the bytes are the same premultiplied or not).
    static func image(from rgba: Data, width: Int, height: Int, alpha: Bool = false) -> UIImage? {
        guard let provider = CGDataProvider(data: rgba as CFData),
              let cg = CGImage(
                  width: width, height: height, bitsPerComponent: 8, bitsPerPixel: 32, bytesPerRow: width * 4,
                  space: CGColorSpaceCreateDeviceRGB(),
                  bitmapInfo: CGBitmapInfo(rawValue: (alpha ? CGImageAlphaInfo.premultipliedLast
                                                          : CGImageAlphaInfo.noneSkipLast).rawValue),
                  provider: provider, decode: nil, shouldInterpolate: true, intent: .defaultIntent
              ) else { return nil }
        return UIImage(cgImage: cg)
    }
}
