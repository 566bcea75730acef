import Engine
import IGN
import Imaging

/// How an image of any size meets a network, both ways: ``fit(_:corrupt:)``
/// corrupts the image and cuts it into network samples, and the ``FittedImage`` it returns
/// assembles the network's results back into the images that are measured and written.
/// A new way of fitting is one new type.
protocol ImageFit: Sendable {
    /// Corrupts `image` (the clean, decoded input) and cuts it into samples.
    func fit(_ image: PlanarImage, corrupt: Corrupter) throws -> FittedImage
    /// Bytes an image of this size may hold at once from decoding until its files are written
    /// (the decoded planes and libvips' copy of them, corrupted, clean, blended and quantized
    /// copies, a strip): reserved from its header, before it is decoded.
    func reservation(width: Int, height: Int, channels: Int) -> Int
    /// The most samples one network call takes, given the job's batch and the network's threads.
    func samplesPerPass(batch: Int, threads: Int) -> Int
}

extension ImageFit {
    func samplesPerPass(batch: Int, threads: Int) -> Int { batch }

    /// `planes` copies of a float image of `width` × `height` × `channels`.
    func planes(_ planes: Int, width: Int, height: Int, channels: Int) -> Int {
        planes * 4 * width * height * channels
    }
}

/// The corruption of one image, as a fit applies it.
struct Corrupter {
    /// Corruptions applied, in order.
    let corruptions: [Corruption]
    /// The image's own seed.
    let seed: UInt64
    /// Whether the clean image is kept (to measure against, or for strips).
    let keepsClean: Bool

    /// `image` corrupted.
    func callAsFunction(_ image: PlanarImage) throws -> PlanarImage {
        try Corruption.apply(corruptions, to: image, seed: seed)
    }

    /// `image` if the clean image is kept, else nil.
    func clean(_ image: @autoclosure () throws -> PlanarImage) rethrows -> PlanarImage? {
        keepsClean ? try image() : nil
    }
}

/// One image cut into network samples; it takes the network's results sample by sample and
/// assembles them once all are back. Filled by the projection thread, assembled by a worker.
protocol FittedImage: AnyObject {
    /// Samples it gives the network (0: nothing for the network to do).
    var sampleCount: Int { get }
    /// The shape of every one of its samples; samples of one shape share network calls.
    var sampleShape: SampleShape { get }
    /// The corrupted input at the output's resolution.
    var corrupted: PlanarImage { get }
    /// The clean input at the output's resolution, when kept.
    var clean: PlanarImage? { get }
    /// Copies sample `index` (CHW) to `destination`.
    func copySample(_ index: Int, to destination: UnsafeMutablePointer<Float>)
    /// Takes the network's result for sample `index`: `output` = f^k(x) and, when drift is
    /// measured, `next` = f^(k+1)(x).
    func accept(_ index: Int, output: UnsafePointer<Float>, next: UnsafePointer<Float>?)
    /// The network's results as images; call once, after every sample is back.
    func assemble() throws -> Assembly
}

/// The network's results for one image.
struct Assembly {
    /// The network's input x, its output y = f^k(x) and, when measured, f(y), at the
    /// resolution the network saw (for tiles, the image's own): drift and distance are
    /// measured on these.
    let input: PlanarImage
    let output: PlanarImage
    let next: PlanarImage?
    /// y at the output's resolution: what is written and compared with the clean image.
    let written: PlanarImage
}

extension Job {
    /// The fit of this job for `model` (nil: no network).
    func imageFit(model: IGNModel?) -> ImageFit {
        guard let model else { return CorruptionOnly() }
        let modelSize = model.architecture.imageSize
        switch fit {
        case .resize, .cover:
            return ResizeFit(modelSize: modelSize, centreSquare: fit == .cover, corruptAt: corruptAt, size: size)
        case .tiles:
            return TileFit(tileSize: modelSize, overlap: overlap)
        case .whole:
            return WholeImageFit(multiple: model.architecture.sizeMultiple, block: block, overlap: overlap)
        }
    }
}

/// No network: the corrupted image is the output.
struct CorruptionOnly: ImageFit {
    func fit(_ image: PlanarImage, corrupt: Corrupter) throws -> FittedImage {
        Unprojected(corrupted: try corrupt(image), clean: corrupt.clean(image))
    }

    func reservation(width: Int, height: Int, channels: Int) -> Int {
        planes(8, width: width, height: height, channels: channels)
    }

    final class Unprojected: FittedImage {
        let corrupted: PlanarImage
        let clean: PlanarImage?
        init(corrupted: PlanarImage, clean: PlanarImage?) {
            self.corrupted = corrupted
            self.clean = clean
        }
        var sampleCount: Int { 0 }
        var sampleShape: SampleShape { SampleShape(channels: corrupted.channels, height: corrupted.height, width: corrupted.width) }
        func copySample(_ index: Int, to destination: UnsafeMutablePointer<Float>) {}
        func accept(_ index: Int, output: UnsafePointer<Float>, next: UnsafePointer<Float>?) {}
        func assemble() throws -> Assembly {
            Assembly(input: corrupted, output: corrupted, next: nil, written: corrupted)
        }
    }
}

/// The whole image, or its centre square, resized to one model-size sample.
///
/// Corruptions hit the input's own pixels (`corrupt-at: input`) or the resized sample
/// (`corrupt-at: model`); outputs are model-size, or (`size: input`) resized back to the
/// size of what was fitted.
struct ResizeFit: ImageFit {
    /// The network's side in pixels.
    let modelSize: Int
    /// Fit the centre square instead of the whole image.
    let centreSquare: Bool
    let corruptAt: Job.CorruptAt
    let size: Job.Size

    func fit(_ image: PlanarImage, corrupt: Corrupter) throws -> FittedImage {
        var crop = (x: 0, y: 0, width: image.width, height: image.height)
        if centreSquare {
            let side = min(image.width, image.height)
            crop = ((image.width - side) / 2, (image.height - side) / 2, side, side)
        }
        func cut(_ image: PlanarImage) throws -> PlanarImage {
            try image.cropped(x: crop.x, y: crop.y, width: crop.width, height: crop.height)
        }
        func resize(_ image: PlanarImage) throws -> PlanarImage {
            try image.resized(width: modelSize, height: modelSize)
        }
        switch (corruptAt, size) {
        case (.model, _):
            // `Job.validate` refuses `size: input` here: the corrupted sample is model-size.
            let cleanSample = try resize(try cut(image))
            let sample = try corrupt(cleanSample)
            return Resized(sample: sample, corrupted: sample, clean: corrupt.clean(cleanSample), outputSize: nil)
        case (.input, .model):
            let sample = try resize(try cut(try corrupt(image)))
            return Resized(sample: sample, corrupted: sample, clean: try corrupt.clean(try resize(try cut(image))),
                           outputSize: nil)
        case (.input, .input):
            let damaged = try cut(try corrupt(image))
            return Resized(sample: try resize(damaged), corrupted: damaged, clean: try corrupt.clean(try cut(image)),
                           outputSize: (crop.width, crop.height))
        }
    }

    /// Decoding takes three full-size planes; the input-size output keeps as many as
    /// ``CorruptionOnly``.
    func reservation(width: Int, height: Int, channels: Int) -> Int {
        planes(size == .input ? 8 : 3, width: width, height: height, channels: channels)
    }

    final class Resized: FittedImage {
        let sample: PlanarImage
        let corrupted: PlanarImage
        let clean: PlanarImage?
        /// The output's size when it is not the model's.
        let outputSize: (width: Int, height: Int)?
        private var output: [Float] = []
        private var next: [Float]?

        init(sample: PlanarImage, corrupted: PlanarImage, clean: PlanarImage?, outputSize: (width: Int, height: Int)?) {
            self.sample = sample
            self.corrupted = corrupted
            self.clean = clean
            self.outputSize = outputSize
        }

        var sampleCount: Int { 1 }
        var sampleShape: SampleShape { SampleShape(channels: sample.channels, height: sample.height, width: sample.width) }

        func copySample(_ index: Int, to destination: UnsafeMutablePointer<Float>) {
            sample.pixels.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
        }

        func accept(_ index: Int, output: UnsafePointer<Float>, next: UnsafePointer<Float>?) {
            let n = sample.pixels.count
            self.output = Array(UnsafeBufferPointer(start: output, count: n))
            self.next = next.map { Array(UnsafeBufferPointer(start: $0, count: n)) }
        }

        func assemble() throws -> Assembly {
            func image(_ pixels: [Float]) throws -> PlanarImage {
                try PlanarImage(width: sample.width, height: sample.height, channels: sample.channels, pixels: pixels)
            }
            let projected = try image(output)
            let written = try outputSize.map { try projected.resized(width: $0.width, height: $0.height) } ?? projected
            return Assembly(input: sample, output: projected, next: try next.map(image), written: written)
        }
    }
}

/// Overlapping model-size tiles over the input's own pixels (corruptions too), blended back
/// at full resolution (``TileGrid``).
struct TileFit: ImageFit {
    let tileSize: Int
    let overlap: Int

    func fit(_ image: PlanarImage, corrupt: Corrupter) throws -> FittedImage {
        let grid = try TileGrid(width: image.width, height: image.height, tileSize: tileSize, overlap: overlap)
        let damaged = try corrupt(image)
        return Tiled(grid: grid, source: try grid.source(damaged), corrupted: damaged, clean: corrupt.clean(image))
    }

    /// Besides ``CorruptionOnly``'s planes: the padded source, two blenders and their weights.
    /// An image at least one tile in size is reserved as that tile.
    func reservation(width: Int, height: Int, channels: Int) -> Int {
        planes(12, width: max(width, tileSize), height: max(height, tileSize), channels: channels)
    }

    final class Tiled: FittedImage {
        let grid: TileGrid
        /// The corrupted image, padded to at least one tile (or, for ``WholeImageFit``, to the grid's size).
        let source: PlanarImage
        let corrupted: PlanarImage
        let clean: PlanarImage?
        private var output: TileGrid.Blender
        private var next: TileGrid.Blender?

        init(grid: TileGrid, source: PlanarImage, corrupted: PlanarImage, clean: PlanarImage?) {
            self.grid = grid
            self.source = source
            self.corrupted = corrupted
            self.clean = clean
            output = TileGrid.Blender(grid: grid, channels: source.channels)
        }

        var sampleCount: Int { grid.count }
        var sampleShape: SampleShape { SampleShape(channels: source.channels, height: grid.tileHeight, width: grid.tileWidth) }

        func copySample(_ index: Int, to destination: UnsafeMutablePointer<Float>) {
            grid.copyTile(index, from: source, to: destination)
        }

        func accept(_ index: Int, output: UnsafePointer<Float>, next: UnsafePointer<Float>?) {
            self.output.add(index, tile: output)
            if let next {
                if self.next == nil { self.next = TileGrid.Blender(grid: grid, channels: source.channels) }
                self.next!.add(index, tile: next)
            }
        }

        /// The blend, cropped to the corrupted image where the grid covers a padded one.
        func assemble() throws -> Assembly {
            let crop = { (image: PlanarImage) in try image.cropped(x: 0, y: 0, width: self.corrupted.width, height: self.corrupted.height) }
            let projected = try crop(output.image())
            return Assembly(input: corrupted, output: projected, next: try next.map { try crop($0.image()) }, written: projected)
        }
    }
}

/// The image at its own resolution through a fully-convolutional network: padded (edge
/// repetition) to a multiple of the network's `multiple`, then one sample, or overlapping blocks
/// of at most `block` pixels a side (origins on multiples of `multiple`, so a block sees the
/// image on the grid the whole image would), blended back (``TileGrid``) and cropped.
/// Corruptions hit the input's own pixels. Blocks of one image share a shape, so they share
/// network calls, at most one block per network thread (eval runs sample by sample, so more
/// would only hold more memory).
struct WholeImageFit: ImageFit {
    let multiple: Int
    let block: Int
    let overlap: Int

    func fit(_ image: PlanarImage, corrupt: Corrupter) throws -> FittedImage {
        let damaged = try corrupt(image)
        let width = roundUp(image.width), height = roundUp(image.height)
        let source = try damaged.padded(left: 0, top: 0, right: width - image.width, bottom: height - image.height, mode: .edge)
        let grid = try TileGrid(width: width, height: height, tileWidth: side(width), tileHeight: side(height),
                                overlap: overlap, alignment: multiple)
        return TileFit.Tiled(grid: grid, source: source, corrupted: damaged, clean: corrupt.clean(image))
    }

    /// As ``TileFit``: the corrupted, clean and padded images, two blenders and their weights.
    func reservation(width: Int, height: Int, channels: Int) -> Int {
        planes(12, width: roundUp(width), height: roundUp(height), channels: channels)
    }

    func samplesPerPass(batch: Int, threads: Int) -> Int { max(1, min(batch, threads)) }

    private func roundUp(_ length: Int) -> Int { (length + multiple - 1) / multiple * multiple }

    /// The block side for `length` (a multiple of `multiple`) pixels: the whole length when it
    /// fits in a block, else the smallest side that covers it in as few blocks as `block` would.
    func side(_ length: Int) -> Int {
        let largest = block / multiple * multiple
        guard length > largest else { return length }
        let slack = overlap + multiple - 1
        let count = (length - largest + (largest - slack) - 1) / (largest - slack) + 1
        return roundUp((length + (count - 1) * slack + count - 1) / count)
    }
}
