import Basics
import Foundation
import XCTest
@testable import Imaging

final class GeometryTests: ImagingTestCase {
    func testResizeGivesExactSizesAndKeepsFlatImagesFlat() throws {
        let flat = try PlanarImage(width: 37, height: 23, channels: 3, fill: 0.25)
        for (w, h) in [(16, 9), (31, 7), (100, 61), (37, 23), (1, 1), (74, 11)] {
            let out = try flat.resized(width: w, height: h)
            XCTAssertEqual([out.width, out.height, out.channels], [w, h, 3])
            XCTAssertLessThan(maxAbsDifference(out, try PlanarImage(width: w, height: h, channels: 3, fill: 0.25)), 1e-3)
        }
        let ramp = try image(width: 64, height: 8, channels: 1) { _, _, x in Float(x) / 32 - 1 }
        let half = try ramp.resized(width: 32, height: 4, kernel: .linear)
        XCTAssertLessThan(half[0, 2, 0], half[0, 2, 31])
        assertImagingError(.invalidArgument) { _ = try flat.resized(width: 0, height: 4) }
    }

    func testCropPadAndUpscale() throws {
        let picture = try image(width: 4, height: 3, channels: 1) { _, y, x in Float(y * 4 + x) / 10 - 0.5 }
        let crop = try picture.cropped(x: 1, y: 1, width: 2, height: 2)
        XCTAssertEqual(crop.pixels, [picture[0, 1, 1], picture[0, 1, 2], picture[0, 2, 1], picture[0, 2, 2]])
        assertImagingError(.invalidArgument) { _ = try picture.cropped(x: 3, y: 0, width: 2, height: 1) }

        let constant = try picture.padded(left: 1, top: 0, right: 0, bottom: 1, mode: .constant(1))
        XCTAssertEqual([constant.width, constant.height], [5, 4])
        XCTAssertEqual(constant[0, 0, 0], 1)
        XCTAssertEqual(constant[0, 0, 1], picture[0, 0, 0])
        XCTAssertEqual(constant[0, 3, 4], 1)
        let edge = try picture.padded(left: 2, top: 1, right: 0, bottom: 0, mode: .edge)
        XCTAssertEqual(edge[0, 0, 0], picture[0, 0, 0])
        XCTAssertEqual(edge[0, 2, 1], picture[0, 1, 0])
        let mirror = try picture.padded(left: 1, top: 0, right: 1, bottom: 0, mode: .reflect)
        XCTAssertEqual(mirror[0, 0, 0], picture[0, 0, 1])
        XCTAssertEqual(mirror[0, 2, 5], picture[0, 2, 2])
        let centred = try picture.padded(toWidth: 8, height: 3)
        XCTAssertEqual(centred[0, 1, 2], picture[0, 1, 0])

        let big = try picture.upscaled(by: 3)
        XCTAssertEqual([big.width, big.height], [12, 9])
        XCTAssertEqual(big[0, 4, 7], picture[0, 1, 2])
        XCTAssertEqual(big[0, 8, 11], picture[0, 2, 3])
    }

    func testMedianRemovesAnIsolatedSpeck() throws {
        var picture = try PlanarImage(width: 9, height: 9, channels: 1, fill: -1)
        picture[0, 4, 4] = 1
        let out = try picture.median(size: 3)
        XCTAssertEqual(out[0, 4, 4], -1, accuracy: 1e-6)
        assertImagingError(.invalidArgument) { _ = try picture.median(size: 4) }
    }

    func testTileGridCoversAndBlendsBackExactly() throws {
        for (w, h, size, overlap) in [(100, 70, 32, 8), (64, 64, 32, 0), (33, 97, 16, 5), (20, 10, 32, 8), (32, 32, 32, 4)] {
            let grid = try TileGrid(width: w, height: h, tileSize: size, overlap: overlap)
            // Coverage and overlap.
            let xs = Set(grid.origins.map(\.x)).sorted(), ys = Set(grid.origins.map(\.y)).sorted()
            XCTAssertEqual(xs.first, 0)
            XCTAssertEqual(xs.last, max(0, w - size))
            XCTAssertEqual(ys.last, max(0, h - size))
            for (a, b) in zip(xs, xs.dropFirst()) { XCTAssertLessThanOrEqual(b - a, size - overlap) }
            for (a, b) in zip(ys, ys.dropFirst()) { XCTAssertLessThanOrEqual(b - a, size - overlap) }

            var rng = RandomSource(seed: UInt64(w * h))
            let picture = try image(width: w, height: h, channels: 3) { _, _, _ in
                Float(Double(rng.next() % 10_000) / 5000 - 1)
            }
            let tiles = try tiles(of: picture, grid)
            XCTAssertEqual(tiles.count, grid.count)
            XCTAssertTrue(tiles.allSatisfy { $0.width == size && $0.height == size })
            // Float sums of window-weighted copies, divided by the summed weights: the picture to rounding.
            XCTAssertLessThan(maxAbsDifference(try blend(tiles, grid), picture), 1e-6, "\(w)x\(h) tile \(size) overlap \(overlap)")

            // Tiles that all say 0.5 blend to 0.5 everywhere.
            let flat = try tiles.map { _ in try PlanarImage(width: size, height: size, channels: 1, fill: 0.5) }
            XCTAssertLessThan(maxAbsDifference(try blend(flat, grid), try PlanarImage(width: w, height: h, channels: 1, fill: 0.5)), 1e-6)
        }
        let window = TileGrid.window(size: 16)
        XCTAssertTrue(window.allSatisfy { $0 > 0 })
        XCTAssertEqual(window[0], window[15], accuracy: 1e-12)
        XCTAssertGreaterThan(window[8], 0.99)
        assertImagingError(.invalidArgument) { _ = try TileGrid(width: 10, height: 10, tileSize: 8, overlap: 8) }
        let grid = try TileGrid(width: 40, height: 40, tileSize: 32, overlap: 8)
        assertImagingError(.invalidArgument) { _ = try grid.source(try PlanarImage(width: 41, height: 40, channels: 1, fill: 0)) }
    }

    /// Rectangular tiles with origins on a grid of 4: full coverage, the overlap kept, exact blend.
    func testAlignedRectangularTiles() throws {
        for (w, h, tw, th, overlap) in [(1024, 768, 364, 388, 48), (400, 96, 132, 96, 32), (96, 400, 96, 140, 20)] {
            let grid = try TileGrid(width: w, height: h, tileWidth: tw, tileHeight: th, overlap: overlap, alignment: 4)
            let xs = Set(grid.origins.map(\.x)).sorted(), ys = Set(grid.origins.map(\.y)).sorted()
            XCTAssertTrue((xs + ys).allSatisfy { $0 % 4 == 0 }, "\(xs) \(ys)")
            XCTAssertEqual(xs.last, w - tw)
            XCTAssertEqual(ys.last, h - th)
            for (a, b) in zip(xs, xs.dropFirst()) { XCTAssertLessThanOrEqual(b - a, tw - overlap) }
            for (a, b) in zip(ys, ys.dropFirst()) { XCTAssertLessThanOrEqual(b - a, th - overlap) }
            var rng = RandomSource(seed: UInt64(w + h))
            let picture = try image(width: w, height: h, channels: 3) { _, _, _ in Float(Double(rng.next() % 1000) / 500 - 1) }
            let tiles = try tiles(of: picture, grid)
            XCTAssertTrue(tiles.allSatisfy { $0.width == tw && $0.height == th })
            XCTAssertLessThan(maxAbsDifference(try blend(tiles, grid), picture), 1e-6)
        }
        assertImagingError(.invalidArgument) { _ = try TileGrid(width: 1022, height: 768, tileWidth: 364, tileHeight: 388, overlap: 48, alignment: 4) }
    }

    func testBlendedSeamsAreSmooth() throws {
        // Left tiles say -1, right tiles say +1: the blend ramps smoothly instead of jumping.
        let grid = try TileGrid(width: 48, height: 16, tileSize: 32, overlap: 16)
        XCTAssertEqual(grid.origins.map(\.x), [0, 16])
        let tiles = try grid.origins.map { try PlanarImage(width: 32, height: 32, channels: 1, fill: $0.x == 0 ? -1 : 1) }
        let out = try blend(tiles, grid)
        let row = (0..<48).map { out[0, 8, $0] }
        for (a, b) in zip(row, row.dropFirst()) {
            XCTAssertGreaterThanOrEqual(b, a - 1e-6)
            XCTAssertLessThan(b - a, 0.3)
        }
        XCTAssertEqual(row[0], -1, accuracy: 1e-6)
        XCTAssertEqual(row[47], 1, accuracy: 1e-6)
    }

    /// The tiles of `image`, in the grid's order.
    private func tiles(of image: PlanarImage, _ grid: TileGrid) throws -> [PlanarImage] {
        let source = try grid.source(image)
        return try grid.origins.indices.map { index in
            var tile = [Float](repeating: 0, count: image.channels * grid.tileWidth * grid.tileHeight)
            tile.withUnsafeMutableBufferPointer { grid.copyTile(index, from: source, to: $0.baseAddress!) }
            return try PlanarImage(width: grid.tileWidth, height: grid.tileHeight, channels: image.channels, pixels: tile)
        }
    }

    /// `tiles` blended back, one at a time.
    private func blend(_ tiles: [PlanarImage], _ grid: TileGrid) throws -> PlanarImage {
        var blender = TileGrid.Blender(grid: grid, channels: tiles[0].channels)
        for (index, tile) in tiles.enumerated() { tile.pixels.withUnsafeBufferPointer { blender.add(index, tile: $0.baseAddress!) } }
        return blender.image()
    }
}
