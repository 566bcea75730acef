import Engine
import Foundation

extension IGNModel {
    /// Re-estimates every BatchNorm's running statistics from `batches` training-mode passes over
    /// `data` (running statistics reset first, then updated with PyTorch's momentum, which forgets
    /// the reset after ~100 batches).
    ///
    /// Training updates the statistics from f(x), f(z) and f(f(z)) alike, so eval mode normalises
    /// real images with statistics partly taken from noise. Recalibrating on the images the model
    /// will be applied to makes eval mode behave like training mode on them, while each sample's
    /// output stays independent of its batch-mates.
    public func recalibrateBatchNorm(on data: Dataset, batches: Int = 200, batch: Int = 128, seed: UInt64 = 0) {
        network.resetBatchNormState()
        let shape = sampleShape, n = min(batch, data.count)
        var rng = RandomSource(seed: seed)
        let trace = Trace(), workspace = Workspace()
        var x = [Float](repeating: 0, count: n * shape.count), channelMajor = x
        for _ in 0..<batches {
            for i in 0..<n {
                let index = Int(rng.next() % UInt64(data.count))
                for k in 0..<shape.count { x[i * shape.count + k] = data.values[index * shape.count + k] }
            }
            Layout.toChannelMajor(x, &channelMajor, batch: n, shape: shape)
            network.forward(channelMajor, batch: n, mode: .train(updateRunningStats: true), trace: trace, workspace: workspace)
        }
        metadata["batchnorm"] = "recalibrated on \(batches) batches of \(n) samples"
    }
}
