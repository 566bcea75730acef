import Foundation

/// The sRGB transfer curve on [0, 1] values, its derivatives, and the luminance the imaging code
/// takes of a colour pixel (Rec. 709 weights on linear light, back through the curve).
public enum SRGB {
    @inline(__always)
    public static func toLinear(_ v: Float) -> Float {
        v <= 0.04045 ? v / 12.92 : powf((v + 0.055) / 1.055, 2.4)
    }

    @inline(__always)
    public static func fromLinear(_ v: Float) -> Float {
        let c = min(1, max(0, v))
        return c <= 0.0031308 ? c * 12.92 : 1.055 * powf(c, 1 / 2.4) - 0.055
    }

    /// d toLinear / dv.
    @inline(__always)
    public static func toLinearDerivative(_ v: Float) -> Float {
        v <= 0.04045 ? 1 / 12.92 : 2.4 / 1.055 * powf((v + 0.055) / 1.055, 1.4)
    }

    /// d fromLinear / dv (0 outside [0, 1], where it clamps).
    @inline(__always)
    public static func fromLinearDerivative(_ v: Float) -> Float {
        if v < 0 || v > 1 { return 0 }
        return v <= 0.0031308 ? 12.92 : 1.055 / 2.4 * powf(v, 1 / 2.4 - 1)
    }

    /// Rec. 709 luminance weights of linear R, G, B.
    public static let luminanceWeights: (r: Float, g: Float, b: Float) = (0.2126, 0.7152, 0.0722)

    /// The linear-light luminance Y of an sRGB pixel whose channels are on [0, 1];
    /// `fromLinear(Y)` is its luminance as an sRGB grey.
    @inline(__always)
    public static func linearLuminance(_ r: Float, _ g: Float, _ b: Float) -> Float {
        luminanceWeights.r * toLinear(r) + luminanceWeights.g * toLinear(g) + luminanceWeights.b * toLinear(b)
    }
}
