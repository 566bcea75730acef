import Basics
import CVips
import Foundation

/// Output file formats, chosen by file extension.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png, jpeg, webp, tiff

    /// The format for a file extension (case-insensitive): png, jpg/jpeg, webp, tif/tiff.
    public init?(pathExtension: String) {
        switch pathExtension.lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg
        case "webp": self = .webp
        case "tif", "tiff": self = .tiff
        default: return nil
        }
    }

    /// The usual file extension.
    public var fileExtension: String {
        switch self {
        case .png: return "png"
        case .jpeg: return "jpg"
        case .webp: return "webp"
        case .tiff: return "tif"
        }
    }

    /// Every format's usual extension in words, "png, jpg, webp or tif": the one list that
    /// help texts and error messages quote.
    public static let names: String = {
        let names = allCases.map(\.fileExtension)
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }()
}

/// Encodes ``PlanarImage``s as 8-bit files and writes them atomically.
public struct ImageWriter: Sendable {
    /// JPEG quality, 1...100.
    public var jpegQuality: Int
    /// WebP quality, 1...100 (ignored when `webpLossless`).
    public var webpQuality: Int
    /// Write WebP losslessly.
    public var webpLossless: Bool

    /// A writer with the given encoder settings.
    public init(jpegQuality: Int = 92, webpQuality: Int = 90, webpLossless: Bool = false) {
        self.jpegQuality = jpegQuality
        self.webpQuality = webpQuality
        self.webpLossless = webpLossless
    }

    /// Encodes the image (rounded to 8 bits) in `format`.
    public func encode(_ image: PlanarImage, as format: ImageFormat) throws -> Data {
        let vips = try image.vipsBytes()
        return try vips.encode(suffix: try suffix(for: format), path: nil)
    }

    /// Writes the image as an 8-bit file in the format its extension names. Atomic: the
    /// bytes go to a temporary file in the same directory, which is then renamed over `url`;
    /// on failure nothing is left behind and any existing file at `url` is untouched.
    public func write(_ image: PlanarImage, to url: URL) throws {
        let path = url.path
        guard let format = ImageFormat(pathExtension: url.pathExtension) else {
            throw ImagingError(.invalidArgument, path: path,
                               "unknown output extension \"\(url.pathExtension)\" (use \(ImageFormat.names))")
        }
        let data: Data
        do {
            data = try Vips.attributed { try encode(image, as: format) }
        } catch let error as ImagingError {
            throw ImagingError(.writeFailed, path: path, error.message)
        }
        do { try AtomicFile.write(data, to: url) } catch let error as AtomicWriteError {
            throw ImagingError(.writeFailed, path: path, error.message)
        }
    }

    private func suffix(for format: ImageFormat) throws -> String {
        func quality(_ q: Int, _ name: String) throws -> Int {
            guard (1...100).contains(q) else {
                throw ImagingError(.invalidArgument, path: nil, "\(name) quality must be 1...100, got \(q)")
            }
            return q
        }
        switch format {
        // zlib level 1 with the sub filter: on photographs and their strips 22% smaller and
        // 22% faster to encode than libvips' default (level 6, no filter); see docs/BENCHMARKS.md.
        case .png: return ".png[compression=1,filter=sub]"
        case .jpeg: return ".jpg[Q=\(try quality(jpegQuality, "JPEG"))]"
        case .webp:
            return webpLossless ? ".webp[lossless]" : ".webp[Q=\(try quality(webpQuality, "WebP"))]"
        case .tiff: return ".tif[compression=deflate]"
        }
    }
}

extension PlanarImage {
    /// Writes the image atomically with default settings; the format follows the extension.
    public func write(to url: URL) throws {
        try ImageWriter().write(self, to: url)
    }
}
