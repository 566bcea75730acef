/// The number of elements of a tensor of `shape`, times `bytesPerElement`; nil when it
/// overflows (a shape read from a file may be anything).
func byteCount(of shape: [Int], bytesPerElement: Int) -> Int? {
    var count = bytesPerElement
    for dim in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: dim)
        guard !overflow else { return nil }
        count = product
    }
    return count
}
