import Engine

/// A built-in IGN architecture: an encoder and a decoder, named by position like PyTorch
/// `nn.Sequential`s, so tensors are called `encoder.N.weight`, `decoder.N.running_mean`, ….
public struct Architecture: Sendable, Equatable {
    public let name: String
    /// Side of the square images it takes.
    public let imageSize: Int
    /// Channels of the 1×1 latent between encoder and decoder.
    public let latentChannels: Int
    let encoder: @Sendable (Int) -> [LayerSpec]
    let decoder: @Sendable (Int) -> [LayerSpec]

    public static func == (a: Architecture, b: Architecture) -> Bool { a.name == b.name }

    /// The layers for `channels`-channel images, named as in PyTorch.
    public func layers(channels: Int) -> [(name: String, spec: LayerSpec)] {
        encoder(channels).enumerated().map { ("encoder.\($0.offset)", $0.element) }
            + decoder(channels).enumerated().map { ("decoder.\($0.offset)", $0.element) }
    }

    public static let all: [Architecture] = [dcgan28, dcgan32, dcgan64, tiny28]

    public static func named(_ name: String) -> Architecture? { all.first { $0.name == name } }

    /// 28×28 (MNIST-sized), latent 256.
    public static let dcgan28 = twentyEight(name: "dcgan28", width: 64)
    /// dcgan28's layers at 1/16 of its widths: for tests and quick demos.
    public static let tiny28 = twentyEight(name: "tiny28", width: 4)

    /// 32×32, latent 512.
    public static let dcgan32 = Architecture(
        name: "dcgan32", imageSize: 32, latentChannels: 512,
        encoder: { c in [
            conv(c, 64, 4, 2, 1), lrelu,
            conv(64, 128, 4, 2, 1), .batchNorm2d(channels: 128), lrelu,
            conv(128, 256, 4, 2, 1), .batchNorm2d(channels: 256), lrelu,
            conv(256, 512, 4, 1, 0),
        ] },
        decoder: { c in [
            convT(512, 256, 4, 1, 0), .batchNorm2d(channels: 256), relu,
            convT(256, 128, 4, 2, 1), .batchNorm2d(channels: 128), relu,
            convT(128, 64, 4, 2, 1), .batchNorm2d(channels: 64), relu,
            convT(64, c, 4, 2, 1), tanh,
        ] })

    /// 64×64, latent 512: the paper's CelebA network.
    public static let dcgan64 = Architecture(
        name: "dcgan64", imageSize: 64, latentChannels: 512,
        encoder: { c in [
            conv(c, 64, 4, 2, 1), lrelu,
            conv(64, 128, 4, 2, 1), .batchNorm2d(channels: 128), lrelu,
            conv(128, 256, 4, 2, 1), .batchNorm2d(channels: 256), lrelu,
            conv(256, 512, 4, 2, 1), .batchNorm2d(channels: 512), lrelu,
            conv(512, 512, 4, 1, 0),
        ] },
        decoder: { c in [
            convT(512, 512, 4, 1, 0), .batchNorm2d(channels: 512), relu,
            convT(512, 256, 4, 2, 1), .batchNorm2d(channels: 256), relu,
            convT(256, 128, 4, 2, 1), .batchNorm2d(channels: 128), relu,
            convT(128, 64, 4, 2, 1), .batchNorm2d(channels: 64), relu,
            convT(64, c, 4, 2, 1), tanh,
        ] })

    private static func twentyEight(name: String, width w: Int) -> Architecture {
        Architecture(
            name: name, imageSize: 28, latentChannels: 4 * w,
            encoder: { c in [
                conv(c, w, 4, 2, 1), lrelu,
                conv(w, 2 * w, 4, 2, 1), .batchNorm2d(channels: 2 * w), lrelu,
                conv(2 * w, 4 * w, 3, 2, 1), .batchNorm2d(channels: 4 * w), lrelu,
                conv(4 * w, 4 * w, 4, 1, 0),
            ] },
            decoder: { c in [
                convT(4 * w, 4 * w, 4, 1, 0), .batchNorm2d(channels: 4 * w), relu,
                convT(4 * w, 2 * w, 3, 2, 1), .batchNorm2d(channels: 2 * w), relu,
                convT(2 * w, w, 4, 2, 1), .batchNorm2d(channels: w), relu,
                convT(w, c, 4, 2, 1), tanh,
            ] })
    }

    private static func conv(_ i: Int, _ o: Int, _ k: Int, _ s: Int, _ p: Int) -> LayerSpec {
        .conv2d(ConvSpec(i, o, kernel: k, stride: s, padding: p))
    }
    private static func convT(_ i: Int, _ o: Int, _ k: Int, _ s: Int, _ p: Int) -> LayerSpec {
        .convTranspose2d(ConvSpec(i, o, kernel: k, stride: s, padding: p))
    }
    private static let lrelu = LayerSpec.activation(.leakyReLU(slope: 0.2))
    private static let relu = LayerSpec.activation(.relu)
    private static let tanh = LayerSpec.activation(.tanh)
}
