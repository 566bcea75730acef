/// The channel-major `[C][N][H][W]` layout a network computes in (each convolution over a batch
/// is then one GEMM), and conversions from and to the sample-major NCHW of files and images.
public enum ChannelMajor {
    /// NCHW → CNHW.
    public static func fromSampleMajor(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                        batch n: Int, shape: SampleShape) {
        let plane = shape.height * shape.width
        for b in 0..<n {
            for c in 0..<shape.channels {
                (dst + (c * n + b) * plane).update(from: src + (b * shape.channels + c) * plane, count: plane)
            }
        }
    }

    /// CNHW → NCHW.
    public static func toSampleMajor(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                     batch n: Int, shape: SampleShape) {
        let plane = shape.height * shape.width
        for b in 0..<n {
            for c in 0..<shape.channels {
                (dst + (b * shape.channels + c) * plane).update(from: src + (c * n + b) * plane, count: plane)
            }
        }
    }

    /// Calls `body(sample, range)` for each contiguous run of a sample's values in a
    /// channel-major batch (one run per channel).
    @inline(__always)
    public static func forEachRun(batch n: Int, shape: SampleShape, _ body: (Int, Range<Int>) -> Void) {
        let plane = shape.height * shape.width
        for c in 0..<shape.channels {
            for b in 0..<n {
                let start = (c * n + b) * plane
                body(b, start..<(start + plane))
            }
        }
    }
}
