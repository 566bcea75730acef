import CBLAS
import CGemm

/// Row-major single-precision GEMM: `C = alpha·op(A)·op(B) + beta·C`, with `op(A)` of size
/// `m×k`, `op(B)` `k×n` and `C` `m×n`. Leading dimensions are those of the stored matrices.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, _ a: UnsafePointer<Float>, lda: Int,
           _ b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    if n == 1 {
        // A matrix times one column: GEMV streams A instead of packing it first.
        let rows = transA ? k : m, columns = transA ? m : k
        cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, blasint(rows), blasint(columns), alpha, a, blasint(lda),
                    b, blasint(transB ? 1 : ldb), beta, c, blasint(ldc))
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                beta, c, blasint(ldc))
}

/// Row-major `C = op(A)·B`, or `C += op(A)·B` with `accumulate`: `op(A)` is `m×k` (A is stored
/// `k×m` when `transA`), B `k×n`, C `m×n`. Each element of C is one chain of fused multiply-adds
/// in `k` order, so a column of the result is the same bit for bit alone or inside any larger
/// product, at any leading dimension and on any thread: passes whose output must not depend on
/// the batch use it. Single-threaded.
@inline(__always)
public func orderedGemm(transA: Bool = false, m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, lda: Int,
                        _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int,
                        accumulate: Bool = false) {
    ign_gemm(transA ? 1 : 0, Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb), c, Int32(ldc), accumulate ? 1 : 0)
}

/// The instruction set ``orderedGemm(transA:m:n:k:_:lda:_:ldb:_:ldc:accumulate:)`` runs on here:
/// "avx512", "avx2" or "scalar" (the best the CPU has unless ``useOrderedGemmKernel(_:)`` chose).
public var orderedGemmKernel: String { String(cString: ign_gemm_kernel()) }

/// The kernels of the ordered GEMM this CPU can run.
public var orderedGemmKernels: [String] {
    let current = orderedGemmKernel
    defer { _ = useOrderedGemmKernel(current) }
    return ["avx512", "avx2", "scalar"].filter { useOrderedGemmKernel($0) }
}

/// Runs the ordered GEMM on `kernel` from now on, process-wide (results do not change, only
/// speed); false when this CPU cannot.
@discardableResult
public func useOrderedGemmKernel(_ kernel: String) -> Bool { ign_gemm_use_kernel(kernel) != 0 }
