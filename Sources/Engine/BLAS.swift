import CBLAS

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
