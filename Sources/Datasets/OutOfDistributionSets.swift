import Basics
import Engine
import Foundation
import IGN
import Imaging

/// Builds the sets that out-of-distribution scores are measured on, for a model of gray
/// `size` × `size` images (fashion28): an in-distribution reference and control from the
/// Fashion-MNIST *test* file, and other images made from what the machine has.
///
/// The test file is cut in two halves: the first is the reference (`fashion-reference`), the
/// second gives the in-distribution control (`fashion-control`, which no score should separate
/// from the reference) and the transformed garments. Nothing comes from the training file.
///
/// | set | images |
/// |---|---|
/// | `fashion-reference` | test images 0 ..< half |
/// | `fashion-control` | test images half ..< 2·half, unchanged |
/// | `upside-down` | the control's images flipped top to bottom |
/// | `rotated` | the control's images turned 90° (alternately clockwise and counter-clockwise) |
/// | `inverted` | the control's images with black and white swapped |
/// | `digits` | digits 0–9 in handwriting fonts, drawn like MNIST (ink box ≤ 20 px, centred by mass, tilted ±15°) |
/// | `letters` | A–Z and a–z drawn the same way |
/// | `photos` | gray patches of photographs (random crops at ¼ to ⅛ scale) |
/// | `noise` | gaussian noise, σ 0.5, clipped |
public struct OutOfDistributionSetBuilder: Sendable {
    /// A handwriting font: its file and the family name Pango knows it by.
    public struct Font: Sendable, Equatable {
        public let file: String, family: String
        public init(file: String, family: String) { self.file = file; self.family = family }
    }

    /// Debian packages' handwriting fonts (`fonts-dkg-handwriting`, `fonts-breip`, `fonts-bwht`,
    /// `fonts-femkeklaver`, `fonts-dancingscript`, `fonts-comic-neue`).
    public static let handwritingFonts: [Font] = [
        Font(file: "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf", family: "DkgHandwriting"),
        Font(file: "/usr/share/fonts/truetype/breip/Breip.ttf", family: "Breip"),
        Font(file: "/usr/share/fonts/opentype/bwht/BecauseWeBuild-Regular.otf", family: "Because We Build"),
        Font(file: "/usr/share/fonts/opentype/bwht/BecauseWeCreate-Regular.otf", family: "Because We Create"),
        Font(file: "/usr/share/fonts/opentype/bwht/BecauseWeLearn-Regular.otf", family: "Because We Learn"),
        Font(file: "/usr/share/fonts/opentype/bwht/BecauseWeOrganize-Regular.otf", family: "Because We Organize"),
        Font(file: "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf", family: "femkeklaver"),
        Font(file: "/usr/share/fonts/opentype/dancingscript/DancingScript-Bold.otf", family: "Dancing Script Bold"),
        Font(file: "/usr/share/fonts/opentype/comic-neue/ComicNeue-Bold.otf", family: "Comic Neue Bold"),
    ]

    /// Images per set (the reference and control each take this many test images).
    public var count = 2_000
    /// Side of the images.
    public var size = 28
    /// Fonts for `digits` and `letters`.
    public var fonts = OutOfDistributionSetBuilder.handwritingFonts
    /// Seed of every random choice.
    public var seed: UInt64 = 0
    /// Also write every set as a folder of PNGs (`NAME/NNNNN.png`), for `ign drift` and `ign run`.
    public var writesImages = false

    /// A builder with the defaults above.
    public init() {}

    /// The sets' names, in the order they are written.
    public static let names = ["fashion-reference", "fashion-control", "upside-down", "rotated", "inverted",
                               "digits", "letters", "photos", "noise"]

    /// Writes the sets as `NAME.npy` (N×1×size×size in [-1, 1]) into `directory`.
    /// `testFile`: Fashion-MNIST's t10k images; `photos`: colour photographs for the photo patches.
    public func build(testFile: URL, photos: [URL], into directory: URL) throws -> BuildReport {
        guard count >= 1 else { throw DatasetError(.invalidArgument, path: nil, "--count must be positive") }
        let test = try Dataset.load(testFile)
        guard test.shape == SampleShape(channels: 1, height: size, width: size) else {
            throw DatasetError(.invalidArgument, path: testFile.path, "images are \(test.shape), expected 1×\(size)×\(size)")
        }
        guard test.count >= 2 * count else {
            throw DatasetError(.invalidArgument, path: testFile.path, "holds \(test.count) images; --count \(count) needs \(2 * count)")
        }
        guard !photos.isEmpty else { throw DatasetError(.invalidArgument, path: nil, "no photographs given for the photo patches") }
        try makeDirectory(directory)
        let n = test.shape.count
        let testImage = { (i: Int) in PlanarImage(gray: Array(test.values[(i * n)..<((i + 1) * n)]), size: size) }
        var rng = RandomSource(seed: seed)
        var report = BuildReport()
        for name in OutOfDistributionSetBuilder.names {
            var images: [PlanarImage] = []
            images.reserveCapacity(count)
            switch name {
            case "fashion-reference": images = (0..<count).map(testImage)
            case "fashion-control": images = (count..<(2 * count)).map(testImage)
            case "upside-down": images = (count..<(2 * count)).map { testImage($0).flippedVertically() }
            case "rotated": images = (count..<(2 * count)).map { testImage($0).rotatedQuarter(clockwise: $0 % 2 == 0) }
            case "inverted": images = (count..<(2 * count)).map { testImage($0).inverted() }
            case "digits": images = try (0..<count).map { try glyph(String($0 % 10), &rng) }
            case "letters":
                let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
                images = try (0..<count).map { try glyph(String(alphabet[$0 % alphabet.count]), &rng) }
            case "photos": images = try photoPatches(photos, &rng)
            default: images = (0..<count).map { _ in PlanarImage(gray: rng.normals(size * size).map { min(1, max(-1, 0.5 * $0)) }, size: size) }
            }
            var stack = ImageStack(channels: 1, height: size, width: size)
            for image in images { try stack.append(image) }
            report.arrays.append(try stack.write(to: directory.appendingPathComponent("\(name).npy")))
            if writesImages {
                let folder = directory.appendingPathComponent(name)
                try makeDirectory(folder)
                for (k, image) in images.enumerated() {
                    try ImageWriter().write(image, to: folder.appendingPathComponent(String(format: "%05d.png", k)))
                }
                report.files.append(folder)
            }
        }
        return report
    }

    /// One character in a random font, drawn as MNIST draws its digits: the ink's box scaled
    /// so its longer side is 16–20 px, tilted by up to ±15°, its centre of mass at the centre.
    func glyph(_ text: String, _ rng: inout RandomSource) throws -> PlanarImage {
        let font = fonts[Int(rng.next() % UInt64(fonts.count))]
        let drawn = try PlanarImage.text(text, font: "\(font.family) 96", fontFile: font.file)
        let box = Double(size) * (16 + 4 * Double(rng.nextUniform())) / 28
        let scale = box / Double(max(drawn.width, drawn.height))
        let w = max(1, Int((Double(drawn.width) * scale).rounded())), h = max(1, Int((Double(drawn.height) * scale).rounded()))
        let small = try drawn.resized(width: w, height: h)
        let angle = (Double(rng.nextUniform()) * 2 - 1) * 15 * Double.pi / 180
        return small.placed(in: size, angle: angle)
    }

    /// `count` gray patches: random photos, shrunk by 4 to 8, a random `size` × `size` crop each.
    func photoPatches(_ photos: [URL], _ rng: inout RandomSource) throws -> [PlanarImage] {
        let loader = ImageLoader()
        var shrunk: [PlanarImage] = []
        for url in photos {
            let photo = try loader.load(url, channels: 1)
            for factor in [4.0, 6.0, 8.0] {
                let w = Int(Double(photo.width) / factor), h = Int(Double(photo.height) / factor)
                if w >= size && h >= size { shrunk.append(try photo.resized(width: w, height: h)) }
            }
        }
        guard !shrunk.isEmpty else {
            throw DatasetError(.invalidArgument, path: photos[0].path, "photos must be at least \(4 * size) px on each side")
        }
        return try (0..<count).map { _ in
            let photo = shrunk[Int(rng.next() % UInt64(shrunk.count))]
            let x = Int(rng.next() % UInt64(photo.width - size + 1)), y = Int(rng.next() % UInt64(photo.height - size + 1))
            return try photo.cropped(x: x, y: y, width: size, height: size)
        }
    }
}

private extension PlanarImage {
    init(gray pixels: [Float], size: Int) {
        try! self.init(width: size, height: size, channels: 1, pixels: pixels)  // size × size values by construction
    }

    func flippedVertically() -> PlanarImage {
        var out = pixels
        for y in 0..<height { for x in 0..<width { out[y * width + x] = pixels[(height - 1 - y) * width + x] } }
        return PlanarImage(gray: out, size: width)
    }

    func rotatedQuarter(clockwise: Bool) -> PlanarImage {
        var out = pixels
        for y in 0..<height {
            for x in 0..<width {
                out[y * width + x] = clockwise ? pixels[(height - 1 - x) * width + y] : pixels[x * width + (width - 1 - y)]
            }
        }
        return PlanarImage(gray: out, size: width)
    }

    func inverted() -> PlanarImage { PlanarImage(gray: pixels.map { -$0 }, size: width) }

    /// This one-channel ink image (ink > −1) turned by `angle` about its centre of mass and
    /// placed with that centre at the middle of a black `side` × `side` image (bilinear sampling).
    func placed(in side: Int, angle: Double) -> PlanarImage {
        var mass = 0.0, cx = 0.0, cy = 0.0
        for y in 0..<height {
            for x in 0..<width {
                let ink = Double(pixels[y * width + x] + 1) / 2
                mass += ink; cx += ink * Double(x); cy += ink * Double(y)
            }
        }
        if mass > 0 { cx /= mass; cy /= mass } else { cx = Double(width - 1) / 2; cy = Double(height - 1) / 2 }
        let c = cos(angle), s = sin(angle), middle = Double(side - 1) / 2
        var out = [Float](repeating: -1, count: side * side)
        for y in 0..<side {
            for x in 0..<side {
                // Where this output pixel comes from in the glyph: the inverse rotation about the centres.
                let dx = Double(x) - middle, dy = Double(y) - middle
                let sx = c * dx + s * dy + cx, sy = -s * dx + c * dy + cy
                let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                let fx = Float(sx - Double(x0)), fy = Float(sy - Double(y0))
                func ink(_ px: Int, _ py: Int) -> Float {
                    px >= 0 && py >= 0 && px < width && py < height ? (pixels[py * width + px] + 1) / 2 : 0
                }
                let top = ink(x0, y0) * (1 - fx) + ink(x0 + 1, y0) * fx
                let bottom = ink(x0, y0 + 1) * (1 - fx) + ink(x0 + 1, y0 + 1) * fx
                out[y * side + x] = 2 * (top * (1 - fy) + bottom * fy) - 1
            }
        }
        return PlanarImage(gray: out, size: side)
    }
}
