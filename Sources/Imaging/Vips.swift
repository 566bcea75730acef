import CVips
import Foundation

/// Process-wide libvips set-up.
///
/// Every Imaging entry point initialises libvips on first use (with libvips' own
/// concurrency set to 1, since ign runs its own worker pool); call ``initialize(concurrency:)``
/// early, before starting threads, to choose another thread count.
public enum Vips {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var started = false

    /// Initialises libvips exactly once (thread-safe), turns libvips' operation cache off and
    /// sets the number of threads libvips uses inside one image operation.
    /// Calling it again only changes the thread count.
    /// - Parameter concurrency: libvips worker threads per operation (at least 1).
    public static func initialize(concurrency: Int = 1) throws {
        lock.lock()
        defer { lock.unlock() }
        try startLocked()
        ign_vips_concurrency_set(Int32(clamping: max(1, concurrency)))
    }

    /// Starts libvips with the defaults if nobody has yet.
    static func ensureStarted() throws {
        lock.lock()
        defer { lock.unlock() }
        if started { return }
        try startLocked()
        ign_vips_concurrency_set(1)
    }

    private static func startLocked() throws {
        if started { return }
        if ign_vips_init("ign") != 0 {
            throw ImagingError(.processingFailed, path: nil,
                               "libvips failed to initialise: \(takeError())")
        }
        ign_vips_cache_off()
        started = true
    }

    /// Stops (or restores) libvips' warnings on stderr, such as "error in tile" for a
    /// truncated file; errors are still thrown with libvips' message.
    public static func silenceWarnings(_ silence: Bool = true) throws {
        try ensureStarted()
        ign_vips_silence_warnings(silence ? 1 : 0)
    }

    /// Runs `body`, libvips work that depends only on its inputs; if it throws, runs `retry`
    /// (by default `body` again) once more with every other thread's libvips calls held off,
    /// so the error thrown carries this work's own libvips text whatever ran beside it (libvips
    /// keeps one error buffer for the whole process). Inside another such retry, runs `body` only.
    public static func attributed<T>(_ body: () throws -> T, retry: (() throws -> T)? = nil) throws -> T {
        do {
            return try body()
        } catch {
            guard ign_vips_is_exclusive() == 0 else { throw error }
            ign_vips_exclusive_begin()
            defer { ign_vips_exclusive_end() }
            if let retry { return try retry() }
            return try body()
        }
    }

    /// Reads and clears libvips' process-global error buffer (atomically, in C). Only inside
    /// ``attributed(_:retry:)``'s retry is the text sure to be this thread's alone.
    static func takeError() -> String {
        guard let text = ign_vips_error_take() else { return "" }
        defer { ign_vips_free(text) }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// An owned reference to a libvips image; unreferenced when released.
final class VImage {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { ign_vips_unref(pointer) }

    var width: Int { Int(ign_vips_width(pointer)) }
    var height: Int { Int(ign_vips_height(pointer)) }
    var bands: Int { Int(ign_vips_bands(pointer)) }
    var format: Int32 { ign_vips_format(pointer) }
    var interpretation: Int32 { ign_vips_interpretation(pointer) }
    var hasAlpha: Bool { ign_vips_hasalpha(pointer) != 0 }
    /// The loader's base name ("pngload", not "pngload_source").
    var loader: String? {
        guard let raw = ign_vips_loader(pointer) else { return nil }
        var name = String(cString: raw)
        for suffix in ["_source", "_buffer"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
        return name
    }

    /// Runs a libvips call that produces an image; on failure throws `code` with libvips'
    /// error text.
    static func make(_ code: ImagingError.Code, path: String?, _ what: String,
                     _ body: (UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws -> VImage {
        var out: OpaquePointer?
        let status = body(&out)
        guard status == 0, let image = out else {
            if let image = out { ign_vips_unref(image) }
            throw ImagingError(code, path: path, "\(what) failed: \(Vips.takeError())")
        }
        return VImage(image)
    }

    /// Applies a one-input libvips operation to this image.
    func apply(_ what: String, code: ImagingError.Code = .processingFailed, path: String? = nil,
               _ body: (OpaquePointer, UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws -> VImage {
        try VImage.make(code, path: path, what) { out in body(pointer, out) }
    }

    /// Decodes (runs the pipeline) and copies the interleaved pixels out.
    func withPixels<R>(_ code: ImagingError.Code, path: String?,
                       _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        var length = 0
        guard let memory = ign_vips_write_to_memory(pointer, &length) else {
            throw ImagingError(code, path: path, "decoding pixels failed: \(Vips.takeError())")
        }
        defer { ign_vips_free(memory) }
        return try body(UnsafeRawBufferPointer(start: memory, count: length))
    }

    /// Encodes with the saver chosen by `suffix` (".png", ".jpg[Q=90]", ...).
    func encode(suffix: String, path: String?) throws -> Data {
        var buffer: UnsafeMutableRawPointer?
        var length = 0
        guard ign_vips_write_to_buffer(pointer, suffix, &buffer, &length) == 0, let bytes = buffer else {
            throw ImagingError(.writeFailed, path: path, "encoding \(suffix) failed: \(Vips.takeError())")
        }
        defer { ign_vips_free(bytes) }
        return Data(bytes: bytes, count: length)
    }
}

// MARK: - PlanarImage <-> libvips

extension PlanarImage {
    /// A libvips float image (interleaved, values on the 0...255 scale, tagged B_W or sRGB).
    func vipsFloat() throws -> VImage {
        try Vips.ensureStarted()
        let n = width * height
        var interleaved = [Float](repeating: 0, count: n * channels)
        pixels.withUnsafeBufferPointer { src in
            interleaved.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    let plane = c * n
                    for i in 0..<n { dst[i * channels + c] = (src[plane + i] + 1) * 127.5 }
                }
            }
        }
        let raw = try interleaved.withUnsafeBytes { bytes in
            try VImage.make(.processingFailed, path: nil, "new_from_memory") { out in
                ign_vips_new_from_memory_copy(bytes.baseAddress, bytes.count, Int32(width), Int32(height),
                                              Int32(channels), IGN_FORMAT_FLOAT, out)
            }
        }
        return try raw.tagged(channels: channels)
    }

    /// A libvips 8-bit image (interleaved, rounded and clipped, tagged B_W or sRGB).
    func vipsBytes() throws -> VImage {
        try Vips.ensureStarted()
        let bytes = interleavedBytes()
        let raw = try bytes.withUnsafeBytes { buffer in
            try VImage.make(.processingFailed, path: nil, "new_from_memory") { out in
                ign_vips_new_from_memory_copy(buffer.baseAddress, buffer.count, Int32(width), Int32(height),
                                              Int32(channels), IGN_FORMAT_UCHAR, out)
            }
        }
        return try raw.tagged(channels: channels)
    }

    /// Reads a libvips image with 1 or 3 bands whose values are on the 0...`maxValue` scale
    /// into planar [-1, 1] floats (clamped).
    static func fromVips(_ image: VImage, maxValue: Float = 255, code: ImagingError.Code = .processingFailed,
                         path: String? = nil) throws -> PlanarImage {
        let channels = image.bands
        guard channels == 1 || channels == 3 else {
            throw ImagingError(.unsupported, path: path, "expected 1 or 3 bands, got \(channels)")
        }
        let asFloat = image.format == IGN_FORMAT_FLOAT
            ? image : try image.apply("cast to float", path: path) { ign_vips_cast($0, $1, IGN_FORMAT_FLOAT) }
        let width = image.width, height = image.height, n = width * height
        var planar = [Float](repeating: 0, count: n * channels)
        try asFloat.withPixels(code, path: path) { raw in
            guard raw.count >= n * channels * MemoryLayout<Float>.size else {
                throw ImagingError(code, path: path, "libvips returned \(raw.count) bytes, expected \(n * channels * 4)")
            }
            let src = raw.bindMemory(to: Float.self)
            let half = maxValue / 2  // v / 127.5 - 1, exactly as PlanarImage.value(fromByte:)
            planar.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    let plane = c * n
                    for i in 0..<n {
                        let v = src[i * channels + c] / half - 1
                        dst[plane + i] = v.isNaN ? 0 : min(1, max(-1, v))
                    }
                }
            }
        }
        return PlanarImage(unchecked: width, height, channels, planar)
    }
}

extension VImage {
    /// Tags a 1- or 3-band image as B_W or sRGB.
    func tagged(channels: Int) throws -> VImage {
        let interpretation = channels == 1 ? IGN_INTERPRETATION_B_W : IGN_INTERPRETATION_SRGB
        return try apply("copy") { ign_vips_copy_interpretation($0, $1, interpretation) }
    }
}
