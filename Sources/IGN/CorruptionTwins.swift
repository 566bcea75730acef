import Basics
import Engine
import Foundation

/// Differentiable twins of the grayscale and sobel-sketch corruptions (Imaging's `Corruption`),
/// for the consistency term. z_i holds the corruption of a training image (the same plane in every
/// channel; its first channel is read) and `kinds[i]` says which twin applies to sample i of `a`
/// (`.luminance`, `.edges`; any other kind gives 0). Per sample, the mean over the plane of:
///
/// - luminance: |Y(a) − z| (L1) or its square (L2), Y the luminance of linear-light sRGB (Rec. 709)
///   back through the sRGB curve, in [-1, 1], as `PlanarImage.luminance()`; a 1-channel sample is
///   its own luminance.
/// - edges: the sketch draws a pixel as `1 − 1.2·min(1, s)` with s = ½(|gx| + |gy|), the 3×3 sobel
///   responses of the luminance on a border-replicated plane (libvips' sobel on 8-bit luminance,
///   |gx| + |gy| saturating at 255, at the sketch's gain 0.6). So z tells the edge strength
///   s_z = (1 − z)/1.2 where it is below 1, and only s ≥ 1 where the line is at its darkest. The
///   term is 1.2·|s(a) − s_z| where s_z < 1 and 1.2·max(0, 1 − s(a)) where it saturates (squared for
///   L2): equal to |sketch(a) − z| wherever a's edges are not stronger than the sketch can draw, and,
///   unlike it, with a gradient that weakens false strong edges.
struct CorruptionTwins {
    let shape: SampleShape, distance: Distance

    private var plane: Int { shape.height * shape.width }

    /// The edge strength a sketch value stands for; from this on a line is at its darkest.
    private static let saturated: Float = 0.999

    func perSample(_ a: UnsafePointer<Float>, _ z: UnsafePointer<Float>, kinds: [KeptProperty], batch n: Int) -> [Double] {
        (0..<n).map { i in
            guard kinds[i].hasTwin else { return 0 }
            let gaps = gaps(luminance(a, sample: i, batch: n).luminance, z + i * plane, kind: kinds[i])
            return gaps.reduce(0.0) { $0 + (distance == .l1 ? Double(abs($1)) : Double($1 * $1)) } / Double(plane)
        }
    }

    /// Adds `Σ_i weight_i · ∂D_i/∂a` into `grad` (the same layout as `a`).
    func accumulateGradient(_ a: UnsafePointer<Float>, _ z: UnsafePointer<Float>, kinds: [KeptProperty], weights: [Float],
                            grad: UnsafeMutablePointer<Float>, batch n: Int) {
        for i in 0..<n where weights[i] != 0 && kinds[i].hasTwin {
            let (luminance, linear) = self.luminance(a, sample: i, batch: n)
            let w = weights[i] / Float(plane)
            let dGap = gaps(luminance, z + i * plane, kind: kinds[i]).map { distance == .l1 ? ($0 > 0 ? w : ($0 < 0 ? -w : 0)) : 2 * w * $0 }
            let dLuminance = kinds[i] == .edges ? edgeBackward(luminance, dGap) : dGap
            luminanceBackward(a, sample: i, batch: n, linear: linear, dLuminance, grad: grad)
        }
    }

    /// For each gray or sketch sample j of `z` (by `kinds`), the sample of `x` whose measurement is
    /// nearest z_j's first channel (mean |·|; ties to the lower index), leaving out any x made from
    /// the same training image as z_j (`origins`); none when every x is left out.
    func matches(for z: UnsafePointer<Float>, kinds: [KeptProperty], among x: UnsafePointer<Float>, origins: BatchOrigins?,
                 batch n: Int) -> [(z: Int, x: Int)] {
        var measured: [KeptProperty: [[Float]]] = [:]
        var result: [(z: Int, x: Int)] = []
        for j in 0..<n where kinds[j].hasTwin {
            let kind = kinds[j]
            if measured[kind] == nil { measured[kind] = (0..<n).map { measurement(x, sample: $0, kind: kind, batch: n)! } }
            let target = z + j * plane
            var best: (index: Int, distance: Float)?
            for (i, m) in measured[kind]!.enumerated() {
                if let origins, let source = origins.z[j], origins.x[i] == source { continue }
                var sum: Float = 0
                for p in 0..<plane { sum += abs(m[p] - target[p]) }
                if best == nil || sum < best!.distance { best = (i, sum) }
            }
            if let best { result.append((j, best.index)) }
        }
        return result
    }

    /// What the corruption of `kind` makes of sample i of `a`, as it draws it: its luminance, or its
    /// sobel sketch `1 − 1.2·min(1, s)` (without the 8-bit rounding); nil for kinds without a twin.
    func measurement(_ a: UnsafePointer<Float>, sample i: Int, kind: KeptProperty, batch n: Int) -> [Float]? {
        switch kind {
        case .luminance:
            return luminance(a, sample: i, batch: n).luminance
        case .edges:
            var sketch = [Float](repeating: 0, count: plane)
            forEachSobel(luminance(a, sample: i, batch: n).luminance) { p, gx, gy in
                sketch[p] = 1 - 1.2 * min(1, 0.5 * (abs(gx) + abs(gy)))
            }
            return sketch
        case .nothing, .localMeans:
            return nil
        }
    }

    /// Per pixel, the signed gap whose |·| (or square) the term averages, from a sample's luminance
    /// and its z plane (channel 0 of the sample, channel-major), for a kind with a twin.
    private func gaps(_ luminance: [Float], _ target: UnsafePointer<Float>, kind: KeptProperty) -> [Float] {
        guard kind == .edges else { return (0..<plane).map { luminance[$0] - target[$0] } }
        var gaps = [Float](repeating: 0, count: plane)
        forEachSobel(luminance) { p, gx, gy in
            let s = 0.5 * (abs(gx) + abs(gy)), drawn = (1 - target[p]) / 1.2
            gaps[p] = drawn < CorruptionTwins.saturated ? 1.2 * (s - drawn) : 1.2 * min(0, s - 1)
        }
        return gaps
    }

    /// Sample i's luminance plane and, for colour, the linear-light Y it came from.
    private func luminance(_ a: UnsafePointer<Float>, sample i: Int, batch n: Int) -> (luminance: [Float], linear: [Float]) {
        if shape.channels == 1 { return (Array(UnsafeBufferPointer(start: a + i * plane, count: plane)), []) }
        var luminance = [Float](repeating: 0, count: plane), linear = luminance
        let r = a + i * plane, g = a + (n + i) * plane, b = a + (2 * n + i) * plane
        for p in 0..<plane {
            let y = SRGB.linearLuminance((r[p] + 1) / 2, (g[p] + 1) / 2, (b[p] + 1) / 2)
            linear[p] = y
            luminance[p] = SRGB.fromLinear(y) * 2 - 1
        }
        return (luminance, linear)
    }

    /// Calls `tap(offset, x weight, y weight)` for the sobel taps of pixel (y, x) on the
    /// border-replicated plane: gx = Σ dx·(2 if dy = 0 else 1)·v, gy = Σ dy·(2 if dx = 0 else 1)·v.
    @inline(__always)
    private func forEachTap(_ y: Int, _ x: Int, _ tap: (Int, Float, Float) -> Void) {
        for dy in -1...1 {
            for dx in -1...1 where dx != 0 || dy != 0 {
                let yy = min(shape.height - 1, max(0, y + dy)), xx = min(shape.width - 1, max(0, x + dx))
                tap(yy * shape.width + xx, Float(dx * (dy == 0 ? 2 : 1)), Float(dy * (dx == 0 ? 2 : 1)))
            }
        }
    }

    /// Calls `body(pixel, gx, gy)` for every pixel of `plane`.
    private func forEachSobel(_ values: [Float], _ body: (Int, Float, Float) -> Void) {
        for y in 0..<shape.height {
            for x in 0..<shape.width {
                var gx: Float = 0, gy: Float = 0
                forEachTap(y, x) { offset, wx, wy in
                    gx += wx * values[offset]
                    gy += wy * values[offset]
                }
                body(y * shape.width + x, gx, gy)
            }
        }
    }

    /// ∂/∂luminance of the edge gaps, given ∂/∂gap.
    /// (Where the gap is not 0 its slope in s is 1.2, saturated target or not.)
    private func edgeBackward(_ luminance: [Float], _ dGap: [Float]) -> [Float] {
        var dLuminance = [Float](repeating: 0, count: plane)
        forEachSobel(luminance) { p, gx, gy in
            let ds = 1.2 * dGap[p] * 0.5
            let dgx = gx > 0 ? ds : (gx < 0 ? -ds : 0), dgy = gy > 0 ? ds : (gy < 0 ? -ds : 0)
            forEachTap(p / shape.width, p % shape.width) { offset, wx, wy in dLuminance[offset] += wx * dgx + wy * dgy }
        }
        return dLuminance
    }

    /// Adds ∂/∂a of the luminance, given ∂/∂luminance, into sample i's channels of `grad`.
    private func luminanceBackward(_ a: UnsafePointer<Float>, sample i: Int, batch n: Int, linear: [Float],
                                   _ dLuminance: [Float], grad: UnsafeMutablePointer<Float>) {
        if shape.channels == 1 {
            for p in 0..<plane { grad[i * plane + p] += dLuminance[p] }
            return
        }
        let w = SRGB.luminanceWeights
        for (ch, weight) in [w.r, w.g, w.b].enumerated() {
            let value = a + (ch * n + i) * plane, out = grad + (ch * n + i) * plane
            for p in 0..<plane {
                // luminance = 2·fromLinear(y) − 1, y = Σ w·toLinear((v + 1)/2)
                let dy = 2 * SRGB.fromLinearDerivative(linear[p]) * dLuminance[p]
                out[p] += dy * weight * SRGB.toLinearDerivative((value[p] + 1) / 2) / 2
            }
        }
    }
}
