import Basics
import Engine
import XCTest

/// `orderedGemm` against the plain product it stands for (a scalar `fmaf` chain, bit for bit)
/// and against OpenBLAS's sgemm (to rounding), with every kernel this CPU has, on shapes that
/// exercise every edge of their tiles (whole panels, partial ones, and the few-column path).
final class OrderedGemmTests: XCTestCase {
    private struct Case { var transA: Bool, m: Int, n: Int, k: Int, accumulate: Bool }

    private let cases: [Case] = [
        Case(transA: false, m: 1, n: 1, k: 1, accumulate: false),
        Case(transA: false, m: 7, n: 33, k: 5, accumulate: false),
        Case(transA: true, m: 13, n: 17, k: 9, accumulate: false),
        Case(transA: false, m: 64, n: 196, k: 16, accumulate: false),
        Case(transA: true, m: 144, n: 49, k: 128, accumulate: true),
        Case(transA: false, m: 9, n: 70, k: 1_300, accumulate: false),  // more than one depth block
        Case(transA: true, m: 6, n: 2_000, k: 3, accumulate: true),     // more than one column block
        Case(transA: false, m: 5, n: 3, k: 0, accumulate: false),
        Case(transA: false, m: 40, n: 5, k: 700, accumulate: true),     // few columns, two depth blocks
        Case(transA: true, m: 4_096, n: 1, k: 40, accumulate: false),   // one column, A read in place
        Case(transA: false, m: 70, n: 1, k: 1_037, accumulate: true),   // one column, A packed transposed
        Case(transA: true, m: 100, n: 1, k: 9, accumulate: false),      // one column, a partial row block
        Case(transA: false, m: 11, n: 24, k: 8, accumulate: false),     // a padded last panel
        Case(transA: true, m: 20, n: 31, k: 8, accumulate: true),
        Case(transA: false, m: 25, n: 40, k: 33, accumulate: true),     // 12-row blocks, a 32-wide panel and 8 more
        Case(transA: true, m: 12, n: 56, k: 17, accumulate: false),
        Case(transA: false, m: 30, n: 45, k: 600, accumulate: true),    // on AVX-512: a 32-wide panel, 13 more on the AVX2 tile
        Case(transA: true, m: 50, n: 16, k: 70, accumulate: false),     // on AVX-512: all on the AVX2 tile
    ]

    func testMatchesTheScalarChainBitForBitAndOpenBLASToRounding() {
        let best = orderedGemmKernel
        defer { useOrderedGemmKernel(best) }
        print("ordered GEMM kernels: \(orderedGemmKernels), best \(best)")
        XCTAssertTrue(orderedGemmKernels.contains("scalar"))
        XCTAssertEqual(orderedGemmKernels.first, best)
        for kernel in orderedGemmKernels {
            XCTAssertTrue(useOrderedGemmKernel(kernel))
            XCTAssertEqual(orderedGemmKernel, kernel)
            checkCases(kernel)
        }
        XCTAssertFalse(useOrderedGemmKernel("sse9"))
    }

    private func checkCases(_ kernel: String) {
        var rng = RandomSource(seed: 42)
        for c in cases {
            let lda = (c.transA ? c.m : c.k) + 3, ldb = c.n + 2, ldc = c.n + 1
            let a = rng.normals((c.transA ? c.k : c.m) * lda), b = rng.normals(max(c.k, 1) * ldb)
            let start = rng.normals(c.m * ldc)
            var ours = start, reference = start, blas = start
            orderedGemm(transA: c.transA, m: c.m, n: c.n, k: c.k, a, lda: lda, b, ldb: ldb, &ours, ldc: ldc, accumulate: c.accumulate)
            referenceGemm(c, a, lda, b, ldb, &reference, ldc)
            sgemm(transA: c.transA, m: c.m, n: c.n, k: max(c.k, 1), a, lda: lda, b, ldb: ldb, beta: c.accumulate ? 1 : 0, &blas, ldc: ldc)
            if c.k == 0 { for i in 0..<c.m { for j in 0..<c.n { blas[i * ldc + j] = c.accumulate ? start[i * ldc + j] : 0 } } }
            for i in 0..<c.m {
                for j in 0..<ldc {
                    let e = i * ldc + j
                    if j >= c.n {
                        XCTAssertEqual(ours[e].bitPattern, start[e].bitPattern, "\(kernel) \(c): wrote past n at (\(i), \(j))")
                        continue
                    }
                    XCTAssertEqual(ours[e].bitPattern, reference[e].bitPattern, "\(kernel) \(c) at (\(i), \(j))")
                    XCTAssertEqual(ours[e], blas[e], accuracy: 1e-4 * Float(max(c.k, 1)).squareRoot() * max(1, abs(blas[e])), "\(c) at (\(i), \(j))")
                }
            }
        }
    }

    /// A column of B gives the same column of C alone, at any offset and inside any width.
    func testAColumnsResultDoesNotDependOnItsNeighbours() {
        var rng = RandomSource(seed: 7)
        let m = 37, k = 300, n = 101
        let a = rng.normals(m * k), b = rng.normals(k * n)
        var whole = [Float](repeating: 0, count: m * n)
        orderedGemm(m: m, n: n, k: k, a, lda: k, b, ldb: n, &whole, ldc: n)
        for (start, width) in [(0, 1), (5, 1), (17, 3), (40, 33), (99, 2)] {
            var part = [Float](repeating: 0, count: m * width)
            b.withUnsafeBufferPointer { bp in
                orderedGemm(m: m, n: width, k: k, a, lda: k, bp.baseAddress! + start, ldb: n, &part, ldc: width)
            }
            for i in 0..<m { for j in 0..<width { XCTAssertEqual(part[i * width + j].bitPattern, whole[i * n + start + j].bitPattern) } }
        }
    }

    private func referenceGemm(_ c: Case, _ a: [Float], _ lda: Int, _ b: [Float], _ ldb: Int, _ out: inout [Float], _ ldc: Int) {
        for i in 0..<c.m {
            for j in 0..<c.n {
                var s: Float = c.accumulate ? out[i * ldc + j] : 0
                for p in 0..<c.k { s = s.addingProduct(c.transA ? a[p * lda + i] : a[i * lda + p], b[p * ldb + j]) }  // one rounding: fma
                out[i * ldc + j] = s
            }
        }
    }
}
