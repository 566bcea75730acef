import Basics
import Engine
import Foundation
import Imaging

/// Builds `photoS-train.npy` and `photoS-test.npy` (S = `size`) from random square patches
/// of real photographs, holding out whole photos for the test set.
///
/// Each photo is loaded as RGB (grey replicated, alpha on white), shrunk so its longer side is
/// at most `maxSide`, and resized by each of `scales`; scales at which it would be smaller
/// than a patch are left out. Patches go to the photos of a set in turn, each from one of
/// the photo's scales at random and a random position, so every photo gives the same number
/// (±1). A photo that cannot be loaded is skipped with a warning.
public struct PhotoPatchBuilder: Sendable {
    /// Side of the patches in pixels.
    public var size = 32
    /// Training patches.
    public var patches = 20_000
    /// Test patches.
    public var testPatches = 2_000
    /// Resize factors applied after the `maxSide` shrink.
    public var scales: [Double] = [1, 0.5, 0.25]
    /// Photos are first shrunk so the longer side is at most this.
    public var maxSide = 512
    /// File names (with or without extension) of the photos to hold out; nil holds out
    /// `testFraction` of them (at least one), chosen by the seed.
    public var testImages: [String]?
    /// Share of photos held out when `testImages` is nil.
    public var testFraction = 0.1
    /// Seed of the photo choice and of the patch positions.
    public var seed: UInt64 = 0
    /// Skips photos without colour (see ``isGray(_:)``): a model that should colorize must not
    /// learn that gray images are already on its manifold.
    public var skipGray = false

    /// A builder with the defaults above.
    public init() {}

    /// The file name prefix, e.g. "photo32".
    public var name: String { "photo\(size)" }

    /// A loaded photo at every usable scale.
    struct Photo {
        let url: URL
        let width: Int
        let height: Int
        let views: [PlanarImage]
    }

    /// The image files among `inputs`: files as given, and the image files directly inside
    /// folders; sorted by path, without repeats.
    public static func expand(_ inputs: [URL]) throws -> [URL] {
        let extensions: Set<String> = ["jpg", "jpeg", "png", "webp", "tif", "tiff", "gif"]
        var files: [URL] = []
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input.path, isDirectory: &isDirectory) else {
                throw DatasetError(.unreadable, path: input.path, "no such file or folder")
            }
            if isDirectory.boolValue {
                let names: [String]
                do { names = try FileManager.default.contentsOfDirectory(atPath: input.path) } catch {
                    throw DatasetError(.unreadable, path: input.path, "cannot list the folder: \(error.localizedDescription)")
                }
                files += names.filter { !$0.hasPrefix(".") && extensions.contains(($0 as NSString).pathExtension.lowercased()) }
                    .map { input.appendingPathComponent($0) }
            } else {
                files.append(input)
            }
        }
        var seen = Set<String>()
        return files.sorted { $0.path < $1.path }.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }

    /// Loads the photos among `inputs` (see ``expand(_:)``), cuts the patches and writes the
    /// two sets, a preview of the first 64 test patches and `NAME-sources.txt` (each photo's
    /// split, path as given, size after the shrink and number of scales used) into `directory`.
    public func build(inputs: [URL], into directory: URL) throws -> BuildReport {
        guard size >= 1, patches >= 1, testPatches >= 1, maxSide >= size else {
            throw DatasetError(.invalidArgument, path: nil, "--size, --patches and --test-patches must be positive and --max-side at least --size")
        }
        guard !scales.isEmpty, scales.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
            throw DatasetError(.invalidArgument, path: nil, "--scales must be in (0, 1], got \(scales)")
        }
        var report = BuildReport()
        var photos: [Photo] = []
        var skipped: [(URL, String)] = []
        for url in try PhotoPatchBuilder.expand(inputs) {
            do {
                photos.append(try load(url))
            } catch let error as ImagingError {
                skipped.append((url, "\(error.code.rawValue): \(error.message)"))
            } catch let error as DatasetError {
                skipped.append((url, error.message))
            }
        }
        report.warnings = skipped.map { "skipped \($0.0.relativePath): \($0.1)" }
        let (train, test) = try holdOut(photos)

        try makeDirectory(directory)
        // Separate streams, so the test patches do not depend on how many train patches there are.
        var trainRNG = RandomSource(seed: seed &+ 1), testRNG = RandomSource(seed: seed &+ 2)
        let trainStack = try cut(patches, from: train, rng: &trainRNG)
        let testStack = try cut(testPatches, from: test, rng: &testRNG)
        report.arrays.append(try trainStack.write(to: directory.appendingPathComponent("\(name)-train.npy")))
        report.arrays.append(try testStack.write(to: directory.appendingPathComponent("\(name)-test.npy")))
        let preview = directory.appendingPathComponent("\(name)-test-preview.png")
        try testStack.writePreview(to: preview)

        var listing = "# \(name) sources, seed \(seed), max side \(maxSide), scales \(scales.map { "\($0)" }.joined(separator: ",")): split path size scales-used\n"
        for (part, set) in [("train", train), ("test", test)] {
            for photo in set {
                listing += "\(part) \(photo.url.relativePath) \(photo.width)x\(photo.height) \(photo.views.count)\n"
            }
        }
        for (url, reason) in skipped { listing += "skipped \(url.relativePath) \(reason)\n" }
        let listURL = directory.appendingPathComponent("\(name)-sources.txt")
        try writeListing(listing, to: listURL)
        report.files += [preview, listURL]
        return report
    }

    /// Loads one photo and makes its scaled views.
    func load(_ url: URL) throws -> Photo {
        var image = try ImageLoader().load(url, channels: 3)
        if skipGray && PhotoPatchBuilder.isGray(image) {
            throw DatasetError(.invalidArgument, path: url.path, "has no colour (--skip-gray)")
        }
        let longer = max(image.width, image.height)
        if longer > maxSide {
            let factor = Double(maxSide) / Double(longer)
            image = try image.resized(width: max(1, Int((Double(image.width) * factor).rounded())),
                                      height: max(1, Int((Double(image.height) * factor).rounded())))
        }
        var views: [PlanarImage] = []
        for scale in scales {
            let w = Int((Double(image.width) * scale).rounded()), h = Int((Double(image.height) * scale).rounded())
            if w >= size && h >= size { views.append(try image.resized(width: w, height: h)) }
        }
        guard !views.isEmpty else {
            throw DatasetError(.empty, path: url.path, "\(image.width)x\(image.height) is smaller than a \(size)x\(size) patch")
        }
        return Photo(url: url, width: image.width, height: image.height, views: views)
    }

    /// Whether an RGB image is gray: its mean chroma, |R − G| + |G − B| per pixel on the 0…255
    /// scale, is under one level (JPEG noise in a gray photo stays far below that).
    public static func isGray(_ image: PlanarImage) -> Bool {
        let n = image.planeSize
        guard image.channels == 3, n > 0 else { return image.channels == 1 }
        var chroma: Double = 0
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<n {
                chroma += Double(abs(p[i] - p[n + i]) + abs(p[n + i] - p[2 * n + i]))
            }
        }
        return chroma / Double(n) * 127.5 < 1
    }

    /// Splits the photos into train and test by `testImages` or by a seeded choice.
    func holdOut(_ photos: [Photo]) throws -> (train: [Photo], test: [Photo]) {
        guard photos.count >= 2 else {
            throw DatasetError(.empty, path: nil, "\(photos.count) usable photo(s): need at least one to train on and one to test on")
        }
        var isTest = [Bool](repeating: false, count: photos.count)
        if let testImages {
            for name in testImages {
                let matches = photos.indices.filter {
                    photos[$0].url.lastPathComponent == name || photos[$0].url.deletingPathExtension().lastPathComponent == name
                }
                guard !matches.isEmpty else {
                    throw DatasetError(.invalidArgument, path: nil, "--test-images \(name) names none of the usable photos")
                }
                for i in matches { isTest[i] = true }
            }
        } else {
            let count = min(photos.count - 1, max(1, try SeededSplit.size(testFraction, of: photos.count)))
            for i in try SeededSplit(count: photos.count, testCount: count, validationCount: 0, seed: seed).test {
                isTest[i] = true
            }
        }
        let train = photos.indices.filter { !isTest[$0] }.map { photos[$0] }
        let test = photos.indices.filter { isTest[$0] }.map { photos[$0] }
        guard !train.isEmpty else { throw DatasetError(.invalidArgument, path: nil, "every photo is held out for test") }
        return (train, test)
    }

    /// `count` patches taken from the photos in turn.
    func cut(_ count: Int, from photos: [Photo], rng: inout RandomSource) throws -> ImageStack {
        var stack = ImageStack(channels: 3, height: size, width: size)
        for k in 0..<count {
            let photo = photos[k % photos.count]
            let view = photo.views[rng.index(below: photo.views.count)]
            let x = rng.index(below: view.width - size + 1), y = rng.index(below: view.height - size + 1)
            try stack.append(try view.cropped(x: x, y: y, width: size, height: size))
        }
        return stack
    }
}
