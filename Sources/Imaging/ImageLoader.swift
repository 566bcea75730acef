import CVips
import Foundation

/// What a file's header says, read without decoding any pixels.
public struct ImageHeader: Equatable, Sendable {
    /// Width in pixels (the first page for multi-page formats).
    public let width: Int
    /// Height in pixels (the first page for multi-page formats).
    public let height: Int
    /// Bands including any alpha band.
    public let bands: Int
    /// Whether one band is alpha.
    public let hasAlpha: Bool
    /// The libvips loader that recognised the file, e.g. "pngload", "jpegload".
    public let loader: String
    /// Whether the source is greyscale (its natural channel count is 1).
    public let isGrey: Bool
}

/// A file whose header ``ImageLoader/open(_:)`` has read and whose pixels are not decoded yet.
public struct OpenedImage {
    /// What the header says.
    public let header: ImageHeader
    let path: String
    let image: VImage
}

/// Loads images with libvips into ``PlanarImage``s.
///
/// Any format libvips loads works (PNG, JPEG, WebP, TIFF, GIF's first frame, …). Loading is
/// strict (`fail_on` = truncated: a truncated file is an error, not a half image) and checks
/// the pixel limit from the header before decoding. 16-bit sources, palettes, CMYK and grey
/// are converted; alpha is flattened onto white.
public struct ImageLoader: Sendable {
    /// The default limit on width × height: 100 megapixels.
    public static let defaultMaxPixels = 100_000_000

    /// Images with more than this many pixels (width × height) are refused with `.tooLarge`.
    public var maxPixels: Int

    /// A loader refusing images over `maxPixels` pixels.
    public init(maxPixels: Int = ImageLoader.defaultMaxPixels) {
        self.maxPixels = maxPixels
    }

    /// Reads a file's header (size, bands, loader) without decoding pixels. Throws the same
    /// errors as ``load(_:channels:)`` would before decoding, including `.tooLarge`.
    public func header(of url: URL) throws -> ImageHeader {
        try open(url).header
    }

    /// Opens a file and reads its header, decoding no pixels; ``decode(_:channels:)`` does
    /// the rest of ``load(_:channels:)``. Throws what `load` would before decoding.
    public func open(_ url: URL) throws -> OpenedImage {
        let path = url.path
        let image = try Vips.attributed { try open(path: path) }
        return OpenedImage(header: ImageLoader.header(of: image), path: path, image: image)
    }

    /// Decodes an opened file to `channels` channels, as ``load(_:channels:)`` does. An
    /// opened file is decoded once.
    public func decode(_ opened: OpenedImage, channels: Int? = nil) throws -> PlanarImage {
        try Vips.attributed({ try convert(opened.image, channels: channels, path: opened.path) },
                            retry: { try convert(try open(path: opened.path), channels: channels, path: opened.path) })
    }

    /// Loads a file and converts it to `channels` channels (1 = luminance, 3 = sRGB, nil =
    /// the source's own: 1 for grey sources, else 3), as [-1, 1] planar floats.
    public func load(_ url: URL, channels: Int? = nil) throws -> PlanarImage {
        try decode(try open(url), channels: channels)
    }

    /// Loads an encoded image held in memory (e.g. a PNG stream extracted from a font).
    /// - Parameter name: used in error messages in place of a path.
    public func load(data: Data, channels: Int? = nil, name: String? = nil) throws -> PlanarImage {
        try Vips.attributed { try load(bytes: data, channels: channels, name: name) }
    }

    // MARK: - internals

    private func load(bytes data: Data, channels: Int?, name: String?) throws -> PlanarImage {
        try Vips.ensureStarted()
        guard !data.isEmpty else { throw ImagingError(.notAnImage, path: name, "empty buffer") }
        let image: VImage = try data.withUnsafeBytes { bytes in
            guard ign_vips_find_load_buffer(bytes.baseAddress, bytes.count) != nil else {
                throw ImagingError(.notAnImage, path: name, "not a known image format: \(Vips.takeError())")
            }
            return try VImage.make(.truncated, path: name, "load") { out in
                ign_vips_load_buffer(bytes.baseAddress, bytes.count, 1, out)
            }
        }
        try checkLimit(image, path: name)
        return try convert(image, channels: channels, path: name)
    }

    private func open(path: String) throws -> VImage {
        try Vips.ensureStarted()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ImagingError(.unreadable, path: path, "no such file")
        }
        guard !isDirectory.boolValue else { throw ImagingError(.unreadable, path: path, "is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ImagingError(.unreadable, path: path, "permission denied")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        if size == 0 { throw ImagingError(.notAnImage, path: path, "empty file") }
        guard ign_vips_find_load(path) != nil else {
            throw ImagingError(.notAnImage, path: path, "not a known image format: \(Vips.takeError())")
        }
        // The loader knows the format, so a failure to read the header is corruption.
        let image = try VImage.make(.truncated, path: path, "reading the header") { out in
            ign_vips_load_file(path, 1, out)
        }
        try checkLimit(image, path: path)
        return image
    }

    private func checkLimit(_ image: VImage, path: String?) throws {
        let (pixels, overflow) = image.width.multipliedReportingOverflow(by: image.height)
        if overflow || pixels > maxPixels {
            throw ImagingError(.tooLarge, path: path,
                               "\(image.width)x\(image.height) is over the limit of \(maxPixels) pixels")
        }
    }

    static func header(of image: VImage) -> ImageHeader {
        let interpretation = sourceInterpretation(image)
        return ImageHeader(width: image.width, height: image.height, bands: image.bands,
                           hasAlpha: image.hasAlpha, loader: image.loader ?? "unknown",
                           isGrey: interpretation == IGN_INTERPRETATION_B_W
                               || interpretation == IGN_INTERPRETATION_GREY16)
    }

    /// The interpretation to treat the source as; untagged images are guessed from their
    /// band count and format.
    static func sourceInterpretation(_ image: VImage) -> Int32 {
        let interpretation = image.interpretation
        switch interpretation {
        case IGN_INTERPRETATION_B_W, IGN_INTERPRETATION_GREY16, IGN_INTERPRETATION_SRGB,
             IGN_INTERPRETATION_RGB, IGN_INTERPRETATION_RGB16, IGN_INTERPRETATION_SCRGB,
             IGN_INTERPRETATION_CMYK, IGN_INTERPRETATION_LAB, IGN_INTERPRETATION_LABS,
             IGN_INTERPRETATION_LABQ, IGN_INTERPRETATION_XYZ, IGN_INTERPRETATION_LCH,
             IGN_INTERPRETATION_HSV:
            return interpretation
        default:
            let sixteen = image.format == IGN_FORMAT_USHORT
            switch image.bands {
            case 1, 2: return sixteen ? IGN_INTERPRETATION_GREY16 : IGN_INTERPRETATION_B_W
            case 3, 4: return sixteen ? IGN_INTERPRETATION_RGB16 : IGN_INTERPRETATION_SRGB
            default: return IGN_INTERPRETATION_MULTIBAND
            }
        }
    }

    /// Colour space → flatten alpha on white → planar floats. Pixels decode at the end.
    private func convert(_ loaded: VImage, channels requested: Int?, path: String?) throws -> PlanarImage {
        if let requested, requested != 1, requested != 3 {
            throw ImagingError(.invalidArgument, path: path, "channels must be 1 or 3, got \(requested)")
        }
        var image = loaded
        let source = ImageLoader.sourceInterpretation(image)
        guard source != IGN_INTERPRETATION_MULTIBAND else {
            throw ImagingError(.unsupported, path: path, "cannot interpret \(image.bands) bands as an image")
        }
        if source != image.interpretation {
            image = try image.apply("tagging", code: .unsupported, path: path) {
                ign_vips_copy_interpretation($0, $1, source)
            }
        }
        let grey = source == IGN_INTERPRETATION_B_W || source == IGN_INTERPRETATION_GREY16
        let channels = requested ?? (grey ? 1 : 3)
        // Colour sources become sRGB here; their luminance is taken in Swift below so that
        // "1 channel" means the same formula as PlanarImage.luminance() and the grayscale
        // corruption (libvips' own sRGB → B_W uses rounded 0.2/0.7/0.1 weights).
        let decodedChannels = grey ? 1 : 3
        let target = grey ? IGN_INTERPRETATION_B_W : IGN_INTERPRETATION_SRGB
        let alreadyThere = source == target && image.format == IGN_FORMAT_UCHAR
        if !alreadyThere {
            image = try image.apply("colour conversion", code: .unsupported, path: path) {
                ign_vips_colourspace($0, $1, target)
            }
        }
        var maxValue: Double = 255
        if image.format == IGN_FORMAT_USHORT {
            maxValue = 65535
        } else if image.format != IGN_FORMAT_UCHAR {
            image = try image.apply("cast", code: .unsupported, path: path) { ign_vips_cast($0, $1, IGN_FORMAT_UCHAR) }
        }
        if image.hasAlpha {
            image = try image.apply("flatten", code: .unsupported, path: path) {
                ign_vips_flatten($0, $1, maxValue, maxValue)
            }
        }
        if image.bands > decodedChannels {
            image = try image.apply("extract bands", code: .unsupported, path: path) {
                ign_vips_extract_band($0, $1, 0, Int32(decodedChannels))
            }
        }
        guard image.bands == decodedChannels else {
            throw ImagingError(.unsupported, path: path, "got \(image.bands) bands after conversion, wanted \(decodedChannels)")
        }
        // Decoding happens here: a failure now is bad pixel data.
        let decoded = try PlanarImage.fromVips(image, maxValue: Float(maxValue), code: .truncated, path: path)
        return try decoded.converted(toChannels: channels)
    }
}
