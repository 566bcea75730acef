import Engine

/// A built-in IGN architecture: an encoder and a decoder, named by position like PyTorch
/// `nn.Sequential`s, so tensors are called `encoder.N.weight`, `decoder.N.running_mean`, ….
///
/// The DCGAN architectures take one image size and squeeze it into a 1×1 latent vector. The
/// fully-convolutional ones (`sizeMultiple` > 0) keep a *spatial* latent of a few channels at
/// 1/4 of the resolution and run on any height and width that are multiples of `sizeMultiple`.
public struct Architecture: Sendable, Equatable {
    public let name: String
    /// Side of the square images it takes (fully-convolutional: the size it is built and trained at).
    public let imageSize: Int
    /// Channels of the latent between encoder and decoder (1×1 for DCGAN, per position for
    /// fully-convolutional architectures).
    public let latentChannels: Int
    /// 0 when only `imageSize`×`imageSize` fits; otherwise any H×W that are multiples of this.
    public var sizeMultiple: Int = 0
    /// How convolution weights start.
    public var initialization: Initialization = .dcgan

    public enum Initialization: Sendable {
        /// N(0, 0.02) (DCGAN; the BatchNorm layers rescale activations).
        case dcgan
        /// He: N(0, gain²/fan-in) with LeakyReLU(0.2)'s gain √(2/(1 + 0.2²)), so activations
        /// keep their scale through a deep stack without normalisation.
        case kaiming
    }
    let encoder: @Sendable (Int) -> [LayerSpec]
    let decoder: @Sendable (Int) -> [LayerSpec]

    public static func == (a: Architecture, b: Architecture) -> Bool { a.name == b.name }

    /// The layers for `channels`-channel images, named as in PyTorch.
    public func layers(channels: Int) -> [(name: String, spec: LayerSpec)] {
        encoder(channels).enumerated().map { ("encoder.\($0.offset)", $0.element) }
            + decoder(channels).enumerated().map { ("decoder.\($0.offset)", $0.element) }
    }

    public static let all: [Architecture] = [dcgan28, dcgan32, dcgan64, tiny28, fcn8, fcn16, fcn16Skip, fcn16Skip32, fcnTiny]

    public var isFullyConvolutional: Bool { sizeMultiple > 0 }

    /// Whether an image of `height`×`width` can go through the network in one piece.
    public func accepts(height: Int, width: Int) -> Bool {
        isFullyConvolutional
            ? height > 0 && width > 0 && height % sizeMultiple == 0 && width % sizeMultiple == 0
            : height == imageSize && width == imageSize
    }

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

    /// Fully convolutional, width 32, latent 8 channels at 1/4 resolution (1/6 of an RGB image's numbers).
    public static let fcn8 = fullyConvolutional(name: "fcn8", width: 32, latent: 8)
    /// Fully convolutional, width 32, latent 16 channels at 1/4 resolution (1/3 of an RGB image's numbers).
    public static let fcn16 = fullyConvolutional(name: "fcn16", width: 32, latent: 16)
    /// fcn16 with a full-resolution skip: the last conv also reads the first conv's features, so
    /// detail need not pass the latent. Same tensor names as fcn16 up to the last conv, whose
    /// input doubles (`decoder.14`).
    public static let fcn16Skip = fullyConvolutional(name: "fcn16-skip", width: 32, latent: 16, fullResolutionSkip: true)
    /// fcn16-skip trained and sampled at 32×32 (small images such as emoji); the same layers and tensors.
    public static let fcn16Skip32 = fullyConvolutional(name: "fcn16-skip32", width: 32, latent: 16, imageSize: 32, fullResolutionSkip: true)
    /// fcn8's layers at width 4, latent 2: for tests.
    public static let fcnTiny = fullyConvolutional(name: "fcn-tiny", width: 4, latent: 2, imageSize: 16)

    /// Encoder: 3×3 conv, two stride-2 convs down to 1/4, a residual block, a 1×1 conv to the
    /// latent. Decoder: a 1×1 conv, a residual block, two (nearest ×2 upsample, 3×3 conv) steps
    /// back to full size, a 3×3 conv to the image (with `fullResolutionSkip`, over those features
    /// concatenated with the first conv's), tanh. No normalisation: every output depends on its
    /// own input alone, at any size, in training and in use.
    private static func fullyConvolutional(
        name: String, width w: Int, latent k: Int, imageSize: Int = 64, fullResolutionSkip: Bool = false
    ) -> Architecture {
        Architecture(
            name: name, imageSize: imageSize, latentChannels: k, sizeMultiple: 4, initialization: .kaiming,
            encoder: { c in [
                conv(c, w, 3, 1, 1), lrelu,
                conv(w, 2 * w, 3, 2, 1), lrelu,
                conv(2 * w, 2 * w, 3, 2, 1), lrelu,
                conv(2 * w, 2 * w, 3, 1, 1), lrelu, conv(2 * w, 2 * w, 3, 1, 1), .add("encoder.5"), lrelu,
                conv(2 * w, k, 1, 1, 0),
            ] },
            decoder: { c in [
                conv(k, 2 * w, 1, 1, 0), lrelu,
                conv(2 * w, 2 * w, 3, 1, 1), lrelu, conv(2 * w, 2 * w, 3, 1, 1), .add("decoder.1"), lrelu,
                .upsample(factor: 2), conv(2 * w, w, 3, 1, 1), lrelu,
                .upsample(factor: 2), conv(w, w, 3, 1, 1), lrelu,
            ] + (fullResolutionSkip ? [.concat("encoder.1"), conv(2 * w, c, 3, 1, 1)] : [conv(w, c, 3, 1, 1)]) + [tanh] })
    }

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
