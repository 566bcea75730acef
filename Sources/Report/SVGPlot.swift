import Foundation

/// Plots drawn as inline SVG: axes with a few ticks, bars or points, nothing interactive.
struct SVGPlot {
    let width = 420.0, height = 300.0
    private let left = 56.0, right = 26.0, top = 14.0, bottom = 44.0
    let xLabel: String, yLabel: String
    let xRange: ClosedRange<Double>, yRange: ClosedRange<Double>

    init(xLabel: String, yLabel: String, x: ClosedRange<Double>, y: ClosedRange<Double>) {
        self.xLabel = xLabel; self.yLabel = yLabel
        xRange = SVGPlot.widened(x); yRange = SVGPlot.widened(y)
    }

    /// A range with room for its points (a single value gets ±0.5).
    private static func widened(_ r: ClosedRange<Double>) -> ClosedRange<Double> {
        let span = r.upperBound - r.lowerBound
        return span > 0 ? r : (r.lowerBound - 0.5)...(r.upperBound + 0.5)
    }

    private func px(_ x: Double) -> Double {
        left + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * (width - left - right)
    }
    private func py(_ y: Double) -> Double {
        height - bottom - (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * (height - top - bottom)
    }
    private func n(_ v: Double) -> String { String(format: "%.1f", v) }

    /// The SVG element around `marks` (already in plot coordinates).
    private func frame(id: String, _ marks: String) -> String {
        var s = "<svg id=\"\(id)\" class=\"plot\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\">"
        s += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(width - left - right))\" height=\"\(n(height - top - bottom))\" class=\"area\"/>"
        for i in 0...4 {
            let x = xRange.lowerBound + Double(i) / 4 * (xRange.upperBound - xRange.lowerBound)
            let y = yRange.lowerBound + Double(i) / 4 * (yRange.upperBound - yRange.lowerBound)
            s += "<text x=\"\(n(px(x)))\" y=\"\(n(height - bottom + 16))\" class=\"tick\" text-anchor=\"middle\">\(HTML.figure(x))</text>"
            s += "<text x=\"\(n(left - 6))\" y=\"\(n(py(y) + 4))\" class=\"tick\" text-anchor=\"end\">\(HTML.figure(y))</text>"
        }
        s += marks
        s += "<text x=\"\(n((left + width - right) / 2))\" y=\"\(n(height - 6))\" class=\"label\" text-anchor=\"middle\">\(HTML.escape(xLabel))</text>"
        s += "<text x=\"14\" y=\"\(n((top + height - bottom) / 2))\" class=\"label\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(n((top + height - bottom) / 2)))\">\(HTML.escape(yLabel))</text>"
        return s + "</svg>"
    }

    /// Bars of a histogram with `edges.count − 1` bins.
    static func histogram(id: String, edges: [Double], counts: [Int], xLabel: String) -> String {
        let plot = SVGPlot(xLabel: xLabel, yLabel: "images", x: (edges.first ?? 0)...(edges.last ?? 1),
                           y: 0...Double(max(1, counts.max() ?? 1)))
        var marks = ""
        for (i, count) in counts.enumerated() where count > 0 {
            let x0 = plot.px(edges[i]), x1 = plot.px(edges[i + 1]), y = plot.py(Double(count))
            marks += "<rect class=\"bar\" x=\"\(plot.n(x0))\" y=\"\(plot.n(y))\" width=\"\(plot.n(max(0.5, x1 - x0 - 1)))\" height=\"\(plot.n(plot.py(0) - y))\"><title>\(HTML.figure(edges[i]))–\(HTML.figure(edges[i + 1])): \(count)</title></rect>"
        }
        return plot.frame(id: id, marks)
    }

    /// Points, at most `limit` of them (every k-th when there are more); with `diagonal`, the
    /// line y = x (where the output is as good as the input).
    static func scatter(id: String, points: [(Double, Double)], xLabel: String, yLabel: String,
                        diagonal: Bool = false, zeroLine: Bool = false, limit: Int = 5000) -> String {
        let finite = points.filter { $0.0.isFinite && $0.1.isFinite }
        let xs = finite.map(\.0), ys = finite.map(\.1)
        var xr = (xs.min() ?? 0)...(xs.max() ?? 1), yr = (ys.min() ?? 0)...(ys.max() ?? 1)
        if diagonal {
            let lo = min(xr.lowerBound, yr.lowerBound), hi = max(xr.upperBound, yr.upperBound)
            xr = lo...hi; yr = lo...hi
        }
        if zeroLine { yr = min(0, yr.lowerBound)...max(0, yr.upperBound) }
        // 5% margins, so points at the extremes are not drawn on the frame.
        func padded(_ r: ClosedRange<Double>) -> ClosedRange<Double> {
            let m = (r.upperBound - r.lowerBound) * 0.05
            return (r.lowerBound - m)...(r.upperBound + m)
        }
        xr = padded(xr); yr = padded(yr)
        let plot = SVGPlot(xLabel: xLabel, yLabel: yLabel, x: xr, y: yr)
        var marks = ""
        if diagonal {
            marks += "<line class=\"guide\" x1=\"\(plot.n(plot.px(xr.lowerBound)))\" y1=\"\(plot.n(plot.py(xr.lowerBound)))\" x2=\"\(plot.n(plot.px(xr.upperBound)))\" y2=\"\(plot.n(plot.py(xr.upperBound)))\"/>"
        }
        if zeroLine {
            marks += "<line class=\"guide\" x1=\"\(plot.n(plot.px(xr.lowerBound)))\" y1=\"\(plot.n(plot.py(0)))\" x2=\"\(plot.n(plot.px(xr.upperBound)))\" y2=\"\(plot.n(plot.py(0)))\"/>"
        }
        let step = max(1, (finite.count + limit - 1) / limit)
        var path = ""
        for i in stride(from: 0, to: finite.count, by: step) {
            // One path of tiny squares: far lighter than a circle element per point.
            path += "M\(plot.n(plot.px(finite[i].0) - 1.5)) \(plot.n(plot.py(finite[i].1) - 1.5))h3v3h-3z"
        }
        marks += "<path class=\"points\" d=\"\(path)\"/>"
        return plot.frame(id: id, marks)
    }

    /// A polyline through `points` in x order (at most `limit` of them, every k-th beyond).
    static func line(id: String, points: [(Double, Double)], xLabel: String, yLabel: String, limit: Int = 2000) -> String {
        let finite = points.filter { $0.0.isFinite && $0.1.isFinite }
        let plot = SVGPlot(xLabel: xLabel, yLabel: yLabel, x: (finite.map(\.0).min() ?? 0)...(finite.map(\.0).max() ?? 1),
                           y: (finite.map(\.1).min() ?? 0)...(finite.map(\.1).max() ?? 1))
        let step = max(1, (finite.count + limit - 1) / limit)
        let coordinates = stride(from: 0, to: finite.count, by: step).map { "\(plot.n(plot.px(finite[$0].0))),\(plot.n(plot.py(finite[$0].1)))" }
        return plot.frame(id: id, "<polyline class=\"curve\" fill=\"none\" points=\"\(coordinates.joined(separator: " "))\"/>")
    }
}
