import Foundation
import Imaging

/// Builds `emojiS-{train,val,test}.npy` (S = `size`) from a colour emoji font.
///
/// Every PNG in the font's largest strike is decoded to RGB with its alpha flattened on
/// white, padded to a square with white, and resized to `size` × `size` (Lanczos-3). Glyphs are
/// ordered by id and split by a seeded shuffle: test first, then validation, the rest train.
public struct EmojiDatasetBuilder: Sendable {
    /// Side of the output images in pixels.
    public var size = 32
    /// Share of glyphs held out for the test set.
    public var testFraction = 0.1
    /// Share of glyphs carved out for the validation set (0 writes no validation file).
    public var validationFraction = 0.05
    /// Seed of the split.
    public var seed: UInt64 = 0
    /// Use only the first `limit` glyphs by id (for quick checks); nil uses all.
    public var limit: Int?
    /// Also write the first this many test glyphs at the font's resolution (squared on white)
    /// as `NAME-test-png/gID.png`: held-out inputs for pipelines and pictures.
    public var exportTest = 0

    /// A builder with the defaults above.
    public init() {}

    /// The file name prefix, e.g. "emoji32".
    public var name: String { "emoji\(size)" }

    /// Reads the font at `font` and writes the sets, a preview of the first 64 test images and
    /// `NAME-split.txt` (split and glyph id per line) into `directory`.
    public func build(font: URL, into directory: URL) throws -> BuildReport {
        guard size >= 1 else { throw DatasetError(.invalidArgument, path: nil, "--size must be positive") }
        if let limit, limit < 2 { throw DatasetError(.invalidArgument, path: nil, "--limit must be at least 2") }
        let bitmaps = try ColorBitmapFont(contentsOf: font)
        let glyphs = Array(bitmaps.glyphs.prefix(limit ?? bitmaps.glyphs.count))
        guard !glyphs.isEmpty else { throw DatasetError(.empty, path: font.path, "the font holds no colour glyphs") }
        let split = try SeededSplit(count: glyphs.count,
                                    testCount: max(1, try SeededSplit.size(testFraction, of: glyphs.count)),
                                    validationCount: try SeededSplit.size(validationFraction, of: glyphs.count),
                                    seed: seed)
        try makeDirectory(directory)
        var report = BuildReport()
        var listing = "# \(name) split of \(font.lastPathComponent) (ppem \(bitmaps.ppem)), seed \(seed): split glyph-id\n"
        for (part, positions) in [("train", split.train), ("val", split.validation), ("test", split.test)] {
            if positions.isEmpty { continue }
            var stack = ImageStack(channels: 3, height: size, width: size)
            let exportFolder = directory.appendingPathComponent("\(name)-test-png")
            let exported = part == "test" ? min(exportTest, positions.count) : 0
            if exported > 0 {
                try makeDirectory(exportFolder)
                report.files.append(exportFolder)
            }
            for (k, position) in positions.enumerated() {
                let full = try square(glyphs[position], font: font)
                try stack.append(try full.resized(width: size, height: size, kernel: .lanczos3))
                listing += "\(part) \(glyphs[position].glyphID)\n"
                if k < exported {
                    try ImageWriter().write(full, to: exportFolder.appendingPathComponent("g\(glyphs[position].glyphID).png"))
                }
            }
            report.arrays.append(try stack.write(to: directory.appendingPathComponent("\(name)-\(part).npy")))
            if part == "test" {
                let preview = directory.appendingPathComponent("\(name)-test-preview.png")
                try stack.writePreview(to: preview)
                report.files.append(preview)
            }
        }
        let listURL = directory.appendingPathComponent("\(name)-split.txt")
        try writeListing(listing, to: listURL)
        report.files.append(listURL)
        return report
    }

    /// One glyph at the font's resolution, alpha flattened on white, padded square with white.
    func square(_ glyph: ColorGlyph, font: URL) throws -> PlanarImage {
        let decoded = try ImageLoader().load(data: glyph.png, channels: 3,
                                             name: "\(font.path) glyph \(glyph.glyphID)")
        let side = max(decoded.width, decoded.height)
        return try decoded.padded(toWidth: side, height: side, mode: .constant(1))
    }
}
