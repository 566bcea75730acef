import Basics
import Foundation

/// An image as the neural network sees it: planar (channel-major, CHW) Float32 values in
/// [-1, 1], where 8-bit 0 maps to -1 and 255 to +1. `channels` is 1 (luminance) or 3 (sRGB).
public struct PlanarImage: Equatable, Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// 1 (grey) or 3 (sRGB).
    public let channels: Int
    /// `channels * height * width` values; plane `c` starts at `c * width * height`.
    public var pixels: [Float]

    /// Wraps pixels, checking the shape.
    public init(width: Int, height: Int, channels: Int, pixels: [Float]) throws {
        try PlanarImage.checkShape(width: width, height: height, channels: channels)
        guard pixels.count == width * height * channels else {
            throw ImagingError(.invalidArgument, path: nil,
                               "pixel count \(pixels.count) does not match \(channels)x\(height)x\(width)")
        }
        self.init(unchecked: width, height, channels, pixels)
    }

    /// An image filled with one value (default -1, black).
    public init(width: Int, height: Int, channels: Int, fill: Float = -1) throws {
        try PlanarImage.checkShape(width: width, height: height, channels: channels)
        self.init(unchecked: width, height, channels,
                  [Float](repeating: fill, count: width * height * channels))
    }

    /// Builds an image from 8-bit interleaved (HWC) samples.
    public init(width: Int, height: Int, channels: Int, interleavedBytes bytes: [UInt8]) throws {
        try PlanarImage.checkShape(width: width, height: height, channels: channels)
        let n = width * height
        guard bytes.count == n * channels else {
            throw ImagingError(.invalidArgument, path: nil,
                               "byte count \(bytes.count) does not match \(height)x\(width)x\(channels)")
        }
        var planar = [Float](repeating: 0, count: n * channels)
        for i in 0..<n {
            for c in 0..<channels { planar[c * n + i] = PlanarImage.value(fromByte: bytes[i * channels + c]) }
        }
        self.init(unchecked: width, height, channels, planar)
    }

    init(unchecked width: Int, _ height: Int, _ channels: Int, _ pixels: [Float]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    static func checkShape(width: Int, height: Int, channels: Int) throws {
        guard width > 0, height > 0 else {
            throw ImagingError(.invalidArgument, path: nil, "image size must be positive, got \(width)x\(height)")
        }
        guard channels == 1 || channels == 3 else {
            throw ImagingError(.invalidArgument, path: nil, "channels must be 1 or 3, got \(channels)")
        }
        guard width.multipliedReportingOverflow(by: height).overflow == false,
              (width * height).multipliedReportingOverflow(by: channels).overflow == false else {
            throw ImagingError(.invalidArgument, path: nil, "image size \(width)x\(height) overflows")
        }
    }

    /// Pixels per plane (`width * height`).
    public var planeSize: Int { width * height }

    /// The value at channel `c`, row `y`, column `x` (no bounds check beyond the array's).
    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { pixels[(c * height + y) * width + x] }
        set { pixels[(c * height + y) * width + x] = newValue }
    }

    /// Maps an 8-bit sample to [-1, 1] (0 → -1, 255 → +1).
    @inline(__always)
    public static func value(fromByte byte: UInt8) -> Float { Float(byte) / 127.5 - 1 }

    /// Maps a [-1, 1] value to the nearest 8-bit sample (clipped).
    @inline(__always)
    public static func byte(fromValue value: Float) -> UInt8 {
        let scaled = ((value + 1) * 127.5).rounded()
        if !(scaled > 0) { return 0 }  // also NaN
        return scaled >= 255 ? 255 : UInt8(scaled)
    }

    /// The image as 8-bit interleaved (HWC) samples.
    public func interleavedBytes() -> [UInt8] {
        let n = planeSize
        var out = [UInt8](repeating: 0, count: n * channels)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    for i in 0..<n { dst[i * channels + c] = PlanarImage.byte(fromValue: src[c * n + i]) }
                }
            }
        }
        return out
    }

    /// The image rounded to 8 bits and back, as a written PNG would read.
    public func quantized() -> PlanarImage {
        var copy = self
        for i in copy.pixels.indices {
            copy.pixels[i] = PlanarImage.value(fromByte: PlanarImage.byte(fromValue: copy.pixels[i]))
        }
        return copy
    }

    /// Luminance as a 1-channel image: for colour, the CIE Y of linear-light sRGB (Rec. 709
    /// weights), re-encoded with the sRGB curve, as libvips' sRGB → B_W does. Grey images
    /// are returned unchanged.
    public func luminance() -> PlanarImage {
        if channels == 1 { return self }
        let n = planeSize
        var out = [Float](repeating: 0, count: n)
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let y = SRGB.linearLuminance((p[i] + 1) / 2, (p[n + i] + 1) / 2, (p[2 * n + i] + 1) / 2)
                out[i] = SRGB.fromLinear(y) * 2 - 1
            }
        }
        return PlanarImage(unchecked: width, height, 1, out)
    }

    /// The image with `count` channels: 3 → 1 takes the luminance, 1 → 3 replicates the grey.
    public func converted(toChannels count: Int) throws -> PlanarImage {
        guard count == 1 || count == 3 else {
            throw ImagingError(.invalidArgument, path: nil, "channels must be 1 or 3, got \(count)")
        }
        if count == channels { return self }
        if count == 1 { return luminance() }
        return PlanarImage(unchecked: width, height, 3, pixels + pixels + pixels)
    }
}
