import Basics
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One line of `metrics.jsonl`: what was measured on one image.
public struct ImageRecord: Equatable, Sendable {
    /// The input's path relative to the input folder.
    public var path: String
    /// The input's size and modification time when it was read: a rerun redoes the image if
    /// either has changed since.
    public var source: FileStamp?
    /// The main output's path relative to the output folder (nil when no image is written).
    public var output: String?
    /// The input's width in pixels.
    public var width: Int
    /// The input's height in pixels.
    public var height: Int
    /// The corruption chain applied ("" for none).
    public var corruption: String
    /// RMS(f(y) − y) in [-1, 1] units, for the output y = f^steps(x).
    public var drift: Double?
    /// ‖f(y) − y‖ / ‖y‖.
    public var relativeDrift: Double?
    /// RMS(y − x) in [-1, 1] units.
    public var distance: Double?
    /// PSNR (dB) of the corrupted input against the clean image.
    public var psnrIn: Double?
    /// PSNR (dB) of the output against the clean image.
    public var psnrOut: Double?
    /// SSIM of the corrupted input against the clean image.
    public var ssimIn: Double?
    /// SSIM of the output against the clean image.
    public var ssimOut: Double?
    /// PSNR (dB) of the corrupted input blurred with the σ best for this image, and that σ.
    public var psnrBlur: Double?
    public var blurSigma: Double?
    /// PSNR (dB) of the corrupted input through median filters 3×3 and 5×5.
    public var psnrMedian3: Double?
    public var psnrMedian5: Double?
    /// Mean CIE76 ΔE*ab of the corrupted input and of the output against the clean image.
    public var deltaEIn: Double?
    public var deltaEOut: Double?

    /// A record with no figures yet.
    public init(path: String, output: String?, width: Int, height: Int, corruption: String) {
        self.path = path
        self.output = output
        self.width = width
        self.height = height
        self.corruption = corruption
    }

    /// The figures by their names in the file, in file order.
    public var figures: [(name: String, value: Double?)] {
        [("drift", drift), ("relative_drift", relativeDrift), ("distance", distance),
         ("psnr_in", psnrIn), ("psnr_out", psnrOut), ("ssim_in", ssimIn), ("ssim_out", ssimOut),
         ("psnr_blur", psnrBlur), ("blur_sigma", blurSigma), ("psnr_median3", psnrMedian3), ("psnr_median5", psnrMedian5),
         ("delta_e_in", deltaEIn), ("delta_e_out", deltaEOut)]
    }

    /// The record as one JSON line (no newline). Absent figures are left out; infinite ones
    /// (the PSNR of identical images) are written as null.
    public var jsonLine: String {
        var fields = [JSON.pair("path", JSON.string(path))]
        if let source {
            fields += [JSON.pair("input_size", String(source.size)), JSON.pair("input_mtime", JSON.string(source.modified))]
        }
        if let output { fields.append(JSON.pair("output", JSON.string(output))) }
        fields += [JSON.pair("width", String(width)), JSON.pair("height", String(height)),
                   JSON.pair("corruption", JSON.string(corruption))]
        for (name, value) in figures {
            if let value { fields.append(JSON.pair(name, JSON.number(value))) }
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// Reads a line written by ``jsonLine``; nil if it is not one (e.g. torn by a kill).
    public init?(jsonLine line: Substring) {
        guard let object = JSON.object(line), let path = object["path"] as? String,
              let width = (object["width"] as? NSNumber)?.intValue,
              let height = (object["height"] as? NSNumber)?.intValue else { return nil }
        self.init(path: path, output: object["output"] as? String, width: width, height: height,
                  corruption: object["corruption"] as? String ?? "")
        if let size = (object["input_size"] as? NSNumber)?.int64Value, let modified = object["input_mtime"] as? String {
            source = FileStamp(size: size, modified: modified)
        }
        func figure(_ name: String) -> Double? {
            guard let value = object[name] else { return nil }
            return (value as? NSNumber)?.doubleValue ?? .infinity  // null stands for infinity
        }
        drift = figure("drift")
        relativeDrift = figure("relative_drift")
        distance = figure("distance")
        psnrIn = figure("psnr_in")
        psnrOut = figure("psnr_out")
        ssimIn = figure("ssim_in")
        ssimOut = figure("ssim_out")
        psnrBlur = figure("psnr_blur")
        blurSigma = figure("blur_sigma")
        psnrMedian3 = figure("psnr_median3")
        psnrMedian5 = figure("psnr_median5")
        deltaEIn = figure("delta_e_in")
        deltaEOut = figure("delta_e_out")
    }
}

/// One line of `errors.jsonl`: an input that could not be processed.
public struct FailureRecord: Equatable, Sendable {
    /// The input's path relative to the input folder.
    public var path: String
    /// The kind of failure: an ``ImagingError`` code (`truncated`, `notAnImage`, `tooLarge`,
    /// `unreadable`, …), a ``Discovery/Problem`` code (`badName`, `pathTooLong`) or `output`.
    public var code: String
    /// What went wrong.
    public var message: String

    /// A failure.
    public init(path: String, code: String, message: String) {
        self.path = path
        self.code = code
        self.message = message
    }

    /// The record as one JSON line (no newline).
    public var jsonLine: String {
        "{" + [JSON.pair("path", JSON.string(path)), JSON.pair("code", JSON.string(code)),
               JSON.pair("message", JSON.string(message))].joined(separator: ",") + "}"
    }

    /// Reads a line written by ``jsonLine``.
    public init?(jsonLine line: Substring) {
        guard let object = JSON.object(line), let path = object["path"] as? String,
              let code = object["code"] as? String, let message = object["message"] as? String else { return nil }
        self.init(path: path, code: code, message: message)
    }
}

/// Minimal JSON writing with a fixed key order, so files are byte-for-byte reproducible.
enum JSON {
    static func pair(_ key: String, _ value: String) -> String { string(key) + ":" + value }

    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The shortest decimal that reads back exactly; null for infinities and NaN.
    static func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }

    static func object(_ line: Substring) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}

/// An append-only JSON-lines file. Each line goes out in one `write` on a descriptor opened
/// with `O_APPEND`, so a killed process leaves at most one torn last line, which
/// ``scanLines(_:_:)`` drops.
final class LineLog: @unchecked Sendable {
    let url: URL
    private let descriptor: Int32

    /// Opens (creating) the file for appending.
    init(_ url: URL) throws {
        self.url = url
        descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw PipelineError(.output, "\(url.path): cannot open (\(String(cString: strerror(errno))))")
        }
    }

    deinit { close(descriptor) }

    /// Appends one line. Callers serialise appends.
    func append(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        if let failure = bytes.withUnsafeBytes({ FileDescriptor.writeAll(descriptor, $0) }) {
            throw PipelineError(.output, "\(url.path): write failed (\(String(cString: strerror(failure))))")
        }
    }

    /// Calls `body` with each complete line of a file (one that ends in a newline; a torn last
    /// line is dropped) and its bytes, newline excluded. The file is read in blocks, so memory
    /// does not grow with it. Empty lines and lines that are not UTF-8 are skipped; a file
    /// that does not exist has no lines.
    static func scanLines(_ url: URL, _ body: (Substring, Range<Int>) throws -> Void) rethrows {
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var block = [UInt8](repeating: 0, count: 1 << 16)
        var pending: [UInt8] = [], pendingOffset = 0  // bytes after the last newline, and where they start
        while true {
            let count = block.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            pending += block[..<count]
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                if newline > start, let line = String(bytes: pending[start..<newline], encoding: .utf8) {
                    try body(Substring(line), (pendingOffset + start)..<(pendingOffset + newline))
                }
                start = newline + 1
            }
            pending.removeFirst(start)
            pendingOffset += start
        }
    }

    /// Writes `lines` of `files` (by ``LineFiles``), each followed by a newline, atomically to
    /// `url`, which may be one of `files`. Lines are read back one at a time.
    static func rewrite(_ url: URL, lines: [LineRef], of files: LineFiles) throws {
        do {
            try AtomicFile.write(to: url) { put in
                var block: [UInt8] = []
                block.reserveCapacity(1 << 16)
                for line in lines {
                    block += try files.bytes(line)
                    block.append(UInt8(ascii: "\n"))
                    if block.count >= 1 << 16 {
                        try block.withUnsafeBytes(put)
                        block.removeAll(keepingCapacity: true)
                    }
                }
                try block.withUnsafeBytes(put)
            }
        } catch let error as AtomicWriteError {
            throw PipelineError(.output, error.description)
        }
    }
}

/// Where one line of a JSON-lines file lies: which of a ``LineFiles``' files, and its bytes
/// (newline excluded).
struct LineRef: Sendable {
    var file: Int
    var bytes: Range<Int>
}

/// JSON-lines files held open to read lines back by their ``LineRef``s.
final class LineFiles {
    let urls: [URL]
    private let descriptors: [Int32]

    /// Opens `urls` for reading; one that does not exist reads as empty.
    init(_ urls: [URL]) {
        self.urls = urls
        descriptors = urls.map { open($0.path, O_RDONLY | O_CLOEXEC) }
    }

    deinit { for descriptor in descriptors where descriptor >= 0 { close(descriptor) } }

    /// The bytes of one line.
    func bytes(_ line: LineRef) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: line.bytes.count)
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes {
                pread(descriptors[line.file], $0.baseAddress! + done, $0.count - done, off_t(line.bytes.lowerBound + done))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw PipelineError(.output, "\(urls[line.file].path): cannot read a line back (\(count < 0 ? String(cString: strerror(errno)) : "the file is shorter"))")
            }
            done += count
        }
        return bytes
    }
}
