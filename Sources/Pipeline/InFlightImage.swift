import Imaging

/// One input between the pipeline's stages: where it came from, the names its files get,
/// and its pixels as fitted to the network. Made by a decoding worker, filled by the
/// projection thread, finished by a worker; the hand-overs go through the scheduler's
/// locks, so no two threads touch it at once.
final class InFlightImage: @unchecked Sendable {
    /// The input's path relative to the input folder.
    let path: String
    /// The input's size and time when it was found.
    let source: FileStamp?
    /// The output files it gets.
    let names: OutputPlan.Names
    /// The input's size.
    let width: Int, height: Int
    /// Its samples for the network and their assembly.
    let fitted: FittedImage
    /// Bytes of the memory budget it holds until it is finished.
    let reserved: Int
    /// Samples whose results have not come back yet.
    private(set) var remaining: Int

    init(path: String, source: FileStamp?, names: OutputPlan.Names, width: Int, height: Int, fitted: FittedImage, reserved: Int) {
        self.path = path
        self.source = source
        self.reserved = reserved
        self.names = names
        self.width = width
        self.height = height
        self.fitted = fitted
        remaining = fitted.sampleCount
    }

    /// Hands the network's result for sample `index` to the fitted image; true when it was
    /// the last one.
    func accept(_ index: Int, output: UnsafePointer<Float>, next: UnsafePointer<Float>?) -> Bool {
        fitted.accept(index, output: output, next: next)
        remaining -= 1
        return remaining == 0
    }
}

/// An input that could not be done: recorded in `errors.jsonl` while the run goes on (as
/// opposed to a ``PipelineError``, which stops the run).
struct InputFailure: Error, CustomStringConvertible {
    /// The kind of failure: an ``ImagingError`` code (`truncated`, `notAnImage`, `tooLarge`,
    /// …), `output` (its files could not be written) or `nonFinite` (the network gave NaN or
    /// infinity for it).
    let code: String
    /// What went wrong.
    let message: String

    /// The failure that `error`, thrown while doing one input, stands for.
    init(_ error: Error) {
        switch error {
        case let error as InputFailure: self = error
        case let error as ImagingError: self.init(code: error.code.rawValue, message: error.message)
        default: self.init(code: "failed", message: "\(error)")
        }
    }

    init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    var description: String { "\(code): \(message)" }
}
