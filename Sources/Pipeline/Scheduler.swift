import Foundation
import IGN
import Imaging

/// The moving parts of a run: `workers` threads that decode, corrupt and fit images and
/// finish (measure and write) them, and the calling thread, which projects batches.
///
/// Workers prefer finishing to decoding, and decode only while fewer than `maxImages`
/// images and `PipelineRunner.memoryBudget` bytes are in flight; samples wait for the
/// network in a queue of `2 × batch`. Finished images never wait for room, so the stages
/// cannot deadlock.
final class Stages: @unchecked Sendable {
    private typealias Sample = (work: ImageWork, index: Int)

    /// How long the projector waits for one more sample before running a part-full batch.
    static let batchWait: TimeInterval = 0.02

    private let job: Job
    private let files: [String]
    private let plan: OutputPlan
    private let network: (size: Int, channels: Int)?
    private let finisher: Finisher
    private let state: RunState
    private let workers: Int
    private let maxImages: Int
    private let samples: BoundedQueue<Sample>
    private let loader: ImageLoader

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var nextFile = 0
    private var decoding = 0
    private var inFlight = 0
    private var inFlightBytes = 0
    private var finishing: [ImageWork] = []
    private var fatal: Error?

    init(job: Job, files: [String], plan: OutputPlan, network: (size: Int, channels: Int)?, finisher: Finisher,
         state: RunState, workers: Int) {
        self.job = job
        self.files = files
        self.plan = plan
        self.network = network
        self.finisher = finisher
        self.state = state
        self.workers = workers
        maxImages = 2 * job.batch + 2 * workers
        samples = BoundedQueue(capacity: 2 * job.batch)
        loader = ImageLoader(maxPixels: job.maxPixels)
    }

    /// Runs every file through; throws the first fatal error.
    func run(projector: Projector?) throws {
        if files.isEmpty { samples.close() }
        let group = DispatchGroup()
        for w in 0..<workers {
            group.enter()
            let thread = Thread { [self] in
                while let task = nextTask() {
                    switch task {
                    case .decode(let index): decode(files[index])
                    case .finish(let work): finish(work)
                    }
                }
                group.leave()
            }
            thread.name = "ign-pipeline-\(w)"
            thread.stackSize = 4 << 20
            thread.start()
        }
        if let projector { project(with: projector) }
        group.wait()
        if let fatal { throw fatal }
    }

    // MARK: Projection

    /// Gathers samples into batches (a batch runs when full, or when no sample has come for
    /// `batchWait`), applies f `steps` times (once more for drift) and hands each image
    /// whose samples are all back to the workers.
    private func project(with projector: Projector) {
        let sampleSize = projector.model.sampleShape.count
        let drift = job.measures.contains(.drift)
        let applications = job.steps + (drift ? 1 : 0)
        var input = [Float](repeating: 0, count: job.batch * sampleSize)
        var batch: [Sample] = []
        batch.reserveCapacity(job.batch)
        while let first = samples.take() {
            batch.append(first)
            while batch.count < job.batch, let sample = samples.take(until: Date().addingTimeInterval(Stages.batchWait)) {
                batch.append(sample)
            }
            input.withUnsafeMutableBufferPointer { buffer in
                for (k, sample) in batch.enumerated() {
                    sample.work.copySample(sample.index, to: buffer.baseAddress! + k * sampleSize)
                }
            }
            let results = input.withUnsafeBufferPointer {
                projector.apply($0.baseAddress!, count: batch.count, steps: applications)
            }
            let next = drift ? results[job.steps] : []
            results[job.steps - 1].withUnsafeBufferPointer { output in
                next.withUnsafeBufferPointer { next in
                    for (k, sample) in batch.enumerated() {
                        let offset = k * sampleSize
                        if sample.work.accept(sample.index, output: output.baseAddress! + offset,
                                              next: drift ? next.baseAddress! + offset : nil) {
                            enqueueFinish(sample.work)
                        }
                    }
                }
            }
            batch.removeAll(keepingCapacity: true)
            state.tick()
        }
    }

    // MARK: Workers

    private enum Task {
        case decode(Int)
        case finish(ImageWork)
    }

    /// The next thing to do, waiting while there is nothing; nil when the run is over.
    private func nextTask() -> Task? {
        condition.lock()
        defer { condition.unlock() }
        while fatal == nil {
            if !finishing.isEmpty { return .finish(finishing.removeFirst()) }
            if nextFile < files.count && inFlight < maxImages && inFlightBytes < PipelineRunner.memoryBudget {
                nextFile += 1
                decoding += 1
                inFlight += 1
                return .decode(nextFile - 1)
            }
            if nextFile == files.count && inFlight == 0 { return nil }
            condition.wait()
        }
        return nil
    }

    private func decode(_ path: String) {
        var work: ImageWork?
        do {
            guard let names = plan.names[path] else {
                throw PipelineError(.output, "its output file names clash with another input's")
            }
            let image = try loader.load(URL(fileURLWithPath: job.input).appendingPathComponent(path), channels: network?.channels)
            work = try ImageWork(path: path, names: names, image: image, job: job, modelSize: network?.size,
                                 seed: Corruption.seed(runSeed: job.seed, relativePath: path))
        } catch {
            failed(path, error)
        }
        condition.lock()
        if let work { inFlightBytes += work.footprint } else { inFlight -= 1 }
        condition.unlock()
        if let work {
            if work.sampleCount == 0 {
                enqueueFinish(work)
            } else {
                for i in 0..<work.sampleCount where !samples.put((work, i)) { break }
            }
        }
        condition.lock()
        decoding -= 1
        let last = nextFile == files.count && decoding == 0
        condition.broadcast()
        condition.unlock()
        if last { samples.close() }
    }

    private func finish(_ work: ImageWork) {
        do {
            try state.finish(try finisher.finish(work))
        } catch let error as PipelineError where error.code != .output {
            stop(error)
        } catch {
            failed(work.path, error)
        }
        condition.lock()
        inFlight -= 1
        inFlightBytes -= work.footprint
        condition.broadcast()
        condition.unlock()
    }

    /// Records a failed input; a failure to record it stops the run.
    private func failed(_ path: String, _ error: Error) {
        let record: FailureRecord
        switch error {
        case let error as ImagingError:
            record = FailureRecord(path: path, code: error.code.rawValue, message: error.message)
        case let error as PipelineError:
            record = FailureRecord(path: path, code: error.code.rawValue, message: error.message)
        default:
            record = FailureRecord(path: path, code: "failed", message: "\(error)")
        }
        do { try state.fail(record) } catch { stop(error) }
    }

    private func enqueueFinish(_ work: ImageWork) {
        condition.lock()
        finishing.append(work)
        condition.broadcast()
        condition.unlock()
    }

    private func stop(_ error: Error) {
        condition.lock()
        if fatal == nil { fatal = error }
        condition.broadcast()
        condition.unlock()
        samples.close()
    }
}
