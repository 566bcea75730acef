import Foundation

/// One colour glyph image from a font's `CBDT` table: an embedded PNG stream.
public struct ColorGlyph: Sendable, Equatable {
    /// The glyph id in the font.
    public let glyphID: Int
    /// Width of the PNG in pixels, from its header.
    public let width: Int
    /// Height of the PNG in pixels, from its header.
    public let height: Int
    /// The PNG stream, as stored.
    public let png: Data
}

/// The colour bitmaps of an OpenType font with `CBLC`/`CBDT` tables (e.g. Noto Color Emoji).
///
/// The largest strike (highest ppem) is read. Index subtable formats 1–5 and glyph image
/// formats 17 (small metrics + PNG), 18 (big metrics + PNG) and 19 (PNG only) are handled;
/// glyphs without data are left out. Glyphs are sorted by id.
public struct ColorBitmapFont: Sendable {
    /// The font file.
    public let path: String
    /// Pixels per em of the strike that was read.
    public let ppem: Int
    /// Every glyph with an image in that strike, by ascending id.
    public let glyphs: [ColorGlyph]

    /// Reads the font at `url`. Throws ``DatasetError`` naming the file for a missing file, a
    /// font without colour bitmaps, or tables whose offsets do not hold together.
    public init(contentsOf url: URL) throws {
        path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DatasetError(.unreadable, path: path, "cannot read the font: \(error.localizedDescription)")
        }
        let file = ByteReader([UInt8](data), path: path)
        let tables = try ColorBitmapFont.tableDirectory(file)
        guard let cblcEntry = tables["CBLC"], let cbdtEntry = tables["CBDT"] else {
            throw DatasetError(.unsupported, path: path,
                               "no CBLC/CBDT tables (tables: \(tables.keys.sorted().joined(separator: " "))): not a colour bitmap font")
        }
        let cblc = try file.window(at: cblcEntry.offset, length: cblcEntry.length, "CBLC table")
        let cbdt = try file.window(at: cbdtEntry.offset, length: cbdtEntry.length, "CBDT table")
        let strike = try ColorBitmapFont.largestStrike(cblc)
        ppem = strike.ppem
        var glyphs: [ColorGlyph] = []
        for location in try ColorBitmapFont.glyphLocations(cblc, strike: strike) {
            glyphs.append(try ColorBitmapFont.glyph(cbdt, at: location))
        }
        self.glyphs = glyphs.sorted { $0.glyphID < $1.glyphID }
    }

    // MARK: - table directory

    private struct TableEntry { let offset: Int, length: Int }

    private static func tableDirectory(_ file: ByteReader) throws -> [String: TableEntry] {
        let version = try file.u32(0, "sfnt version")
        if version == 0x7474_6366 {  // "ttcf"
            throw DatasetError(.unsupported, path: file.path, "font collections (.ttc) are not supported")
        }
        guard version == 0x0001_0000 || version == 0x4F54_544F || version == 0x7472_7565 else {
            throw DatasetError(.malformed, path: file.path,
                               "not an OpenType font (sfnt version 0x\(String(version, radix: 16)))")
        }
        let count = try file.u16(4, "table count")
        var tables: [String: TableEntry] = [:]
        for i in 0..<count {
            let record = 12 + 16 * i
            let tagBytes = try file.data(record, length: 4, "table tag")
            let tag = String(decoding: tagBytes, as: UTF8.self)
            tables[tag] = TableEntry(offset: try file.u32(record + 8, "\(tag) offset"),
                                     length: try file.u32(record + 12, "\(tag) length"))
        }
        return tables
    }

    // MARK: - CBLC

    private struct Strike { let ppem: Int, arrayOffset: Int, subtableCount: Int }

    /// Where one glyph's record lies in CBDT and how to read it.
    private struct GlyphLocation { let glyphID: Int, imageFormat: Int, offset: Int, length: Int }

    private static func largestStrike(_ cblc: ByteReader) throws -> Strike {
        let major = try cblc.u16(0, "CBLC version")
        guard major == 2 || major == 3 else {
            throw DatasetError(.unsupported, path: cblc.path, "CBLC version \(major) (expected 3)")
        }
        let sizeCount = try cblc.u32(4, "CBLC strike count")
        var best: Strike?
        for i in 0..<sizeCount {
            let record = 8 + 48 * i  // BitmapSize records
            let strike = Strike(ppem: try cblc.u8(record + 45, "strike ppemY"),
                                arrayOffset: try cblc.u32(record, "index subtable array offset"),
                                subtableCount: try cblc.u32(record + 8, "index subtable count"))
            if best == nil || strike.ppem > best!.ppem { best = strike }
        }
        guard let best else { throw DatasetError(.empty, path: cblc.path, "CBLC lists no bitmap strikes") }
        return best
    }

    private static func glyphLocations(_ cblc: ByteReader, strike: Strike) throws -> [GlyphLocation] {
        var locations: [GlyphLocation] = []
        for j in 0..<strike.subtableCount {
            let entry = strike.arrayOffset + 8 * j
            let first = try cblc.u16(entry, "first glyph")
            let last = try cblc.u16(entry + 2, "last glyph")
            let sub = strike.arrayOffset + (try cblc.u32(entry + 4, "index subtable offset"))
            guard last >= first else {
                throw DatasetError(.malformed, path: cblc.path, "index subtable \(j): last glyph \(last) < first \(first)")
            }
            let indexFormat = try cblc.u16(sub, "index format")
            let imageFormat = try cblc.u16(sub + 2, "image format")
            let dataOffset = try cblc.u32(sub + 4, "image data offset")
            guard [17, 18, 19].contains(imageFormat) else {
                throw DatasetError(.unsupported, path: cblc.path,
                                   "glyphs \(first)–\(last) use image format \(imageFormat); only PNG formats 17, 18, 19 are handled")
            }
            func add(_ glyph: Int, _ start: Int, _ end: Int) {
                if end > start {
                    locations.append(GlyphLocation(glyphID: glyph, imageFormat: imageFormat,
                                                   offset: dataOffset + start, length: end - start))
                }
            }
            let glyphCount = last - first + 1
            switch indexFormat {
            case 1, 3:  // offsets per glyph (32- or 16-bit), one more than glyphs
                let width = indexFormat == 1 ? 4 : 2
                func offset(_ i: Int) throws -> Int {
                    width == 4 ? try cblc.u32(sub + 8 + 4 * i, "glyph offset") : try cblc.u16(sub + 8 + 2 * i, "glyph offset")
                }
                var start = try offset(0)
                for i in 0..<glyphCount {
                    let end = try offset(i + 1)
                    add(first + i, start, end)
                    start = end
                }
            case 2:  // constant image size, consecutive glyphs
                let size = try cblc.u32(sub + 8, "image size")
                for i in 0..<glyphCount { add(first + i, i * size, (i + 1) * size) }
            case 4:  // sparse (glyph id, offset) pairs, one more than glyphs
                let pairs = try cblc.u32(sub + 8, "glyph count")
                var start = try cblc.u16(sub + 14, "glyph offset")
                for k in 0..<pairs {
                    let glyph = try cblc.u16(sub + 12 + 4 * k, "glyph id")
                    let end = try cblc.u16(sub + 12 + 4 * (k + 1) + 2, "glyph offset")
                    add(glyph, start, end)
                    start = end
                }
            case 5:  // constant image size, sparse glyph ids
                let size = try cblc.u32(sub + 8, "image size")
                let ids = try cblc.u32(sub + 20, "glyph count")
                for k in 0..<ids { add(try cblc.u16(sub + 24 + 2 * k, "glyph id"), k * size, (k + 1) * size) }
            default:
                throw DatasetError(.unsupported, path: cblc.path, "index subtable format \(indexFormat)")
            }
        }
        return locations
    }

    // MARK: - CBDT

    private static func glyph(_ cbdt: ByteReader, at location: GlyphLocation) throws -> ColorGlyph {
        let what = "glyph \(location.glyphID)"
        let record = try cbdt.window(at: location.offset, length: location.length, "\(what) record")
        let header: Int  // bytes before the PNG length: small (5) or big (8) metrics, or none
        switch location.imageFormat {
        case 17: header = 5
        case 18: header = 8
        default: header = 0
        }
        let length = try record.u32(header, "\(what) PNG length")
        let png = try record.data(header + 4, length: length, "\(what) PNG data")
        let (width, height) = try pngSize(png, what: what, path: cbdt.path)
        return ColorGlyph(glyphID: location.glyphID, width: width, height: height, png: png)
    }

    /// Width and height from a PNG's IHDR chunk, which must come first after the signature.
    private static func pngSize(_ png: Data, what: String, path: String) throws -> (Int, Int) {
        let reader = ByteReader([UInt8](png.prefix(24)), path: path)
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard png.count >= 24, [UInt8](png.prefix(8)) == signature,
              try reader.data(12, length: 4, "\(what) IHDR") == Data("IHDR".utf8) else {
            throw DatasetError(.malformed, path: path, "\(what): image data is not a PNG stream")
        }
        return (try reader.u32(16, "\(what) PNG width"), try reader.u32(20, "\(what) PNG height"))
    }
}
