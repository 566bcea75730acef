import Foundation
import IGN
import Imaging

/// Schedules a run's work over its threads: `workers` threads that decode, corrupt and fit
/// images and finish (measure and write) them, and the calling thread, which projects batches.
///
/// Workers prefer finishing to decoding, and decode only while fewer than `maxImages`
/// images are in flight and the bytes they reserve stay within `PipelineRunner.memoryBudget`:
/// each image reserves what it may take (``ImageFit/reservation(width:height:channels:)``)
/// from its header, before it is decoded, and waits (finishing others meanwhile) until that
/// fits beside the rest, or nothing else is reserved. Samples wait for the network in a queue
/// of `2 × batch`. Finished images never wait for room, so the stages cannot deadlock.
final class Scheduler: @unchecked Sendable {
    private typealias Sample = (image: InFlightImage, index: Int)

    /// How long the projector waits for one more sample before running a part-full batch.
    static let batchWait: TimeInterval = 0.02

    private let job: Job
    private let files: [String]
    private let stamps: [String: FileStamp]
    private let plan: OutputPlan
    private let fit: ImageFit
    /// The network's channel count; nil without a network.
    private let channels: Int?
    /// The network's threads.
    private let threads: Int
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
    private var reservedBytes = 0
    private var finishing: [InFlightImage] = []
    private var fatal: Error?

    init(job: Job, files: [String], stamps: [String: FileStamp], plan: OutputPlan, fit: ImageFit, channels: Int?,
         threads: Int, finisher: Finisher, state: RunState, workers: Int) {
        self.threads = threads
        self.job = job
        self.files = files
        self.stamps = stamps
        self.plan = plan
        self.fit = fit
        self.channels = channels
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
                    case .finish(let image): finish(image)
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

    /// Gathers samples of one shape into batches (a batch runs when full, when no sample has
    /// come for `batchWait`, or when the next has another shape), applies f `steps` times (once
    /// more for drift) and hands each image whose samples are all back to the workers.
    private func project(with projector: Projector) {
        let drift = job.measures.contains(.drift)
        let applications = job.steps + (drift ? 1 : 0)
        let limit = fit.samplesPerPass(batch: job.batch, threads: threads)
        var input: [Float] = []
        var batch: [Sample] = []
        batch.reserveCapacity(limit)
        var held: Sample?  // taken, but of another shape than the batch before it
        while let first = held ?? samples.take() {
            held = nil
            batch.append(first)
            let shape = first.image.fitted.sampleShape
            while batch.count < limit, let sample = samples.take(until: Date().addingTimeInterval(Scheduler.batchWait)) {
                guard sample.image.fitted.sampleShape == shape else { held = sample; break }
                batch.append(sample)
            }
            let sampleSize = shape.count
            if input.count < batch.count * sampleSize { input = [Float](repeating: 0, count: batch.count * sampleSize) }
            input.withUnsafeMutableBufferPointer { buffer in
                for (k, sample) in batch.enumerated() {
                    sample.image.fitted.copySample(sample.index, to: buffer.baseAddress! + k * sampleSize)
                }
            }
            let results = input.withUnsafeBufferPointer {
                projector.apply($0.baseAddress!, count: batch.count, steps: applications, shape: shape)
            }
            let next = drift ? results[job.steps] : []
            results[job.steps - 1].withUnsafeBufferPointer { output in
                next.withUnsafeBufferPointer { next in
                    for (k, sample) in batch.enumerated() {
                        let offset = k * sampleSize
                        if sample.image.accept(sample.index, output: output.baseAddress! + offset,
                                               next: drift ? next.baseAddress! + offset : nil) {
                            enqueueFinish(sample.image)
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
        case finish(InFlightImage)
    }

    /// The next thing to do, waiting while there is nothing; nil when the run is over.
    private func nextTask() -> Task? {
        condition.lock()
        defer { condition.unlock() }
        while fatal == nil {
            if !finishing.isEmpty { return .finish(finishing.removeFirst()) }
            if nextFile < files.count && inFlight < maxImages && reservedBytes < PipelineRunner.memoryBudget {
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
        var image: InFlightImage?
        var reserved = 0
        do {
            guard let names = plan.names[path] else {
                throw InputFailure(code: "output", message: "its output file names clash with another input's")
            }
            try finisher.tree.checkLengths(names.values.sorted())
            let opened = try loader.open(URL(fileURLWithPath: job.input).appendingPathComponent(path))
            reserved = fit.reservation(width: opened.header.width, height: opened.header.height,
                                       channels: channels ?? (opened.header.isGrey ? 1 : 3))
            reserve(reserved)
            let decoded = try loader.decode(opened, channels: channels)
            let corrupter = Corrupter(corruptions: job.corruptions, seed: Corruption.seed(runSeed: job.seed, relativePath: path),
                                      keepsClean: job.keepsClean)
            let fitted = try Vips.attributed { try fit.fit(decoded, corrupt: corrupter) }
            image = InFlightImage(path: path, source: stamps[path], names: names, width: decoded.width, height: decoded.height,
                                  fitted: fitted, reserved: reserved)
        } catch {
            failed(path, error)
        }
        condition.lock()
        if image == nil {
            inFlight -= 1
            reservedBytes -= reserved
        }
        condition.unlock()
        if let image {
            if image.remaining == 0 {
                enqueueFinish(image)
            } else {
                for i in 0..<image.remaining where !samples.put((image, i)) { break }
            }
        }
        condition.lock()
        decoding -= 1
        let last = nextFile == files.count && decoding == 0
        condition.broadcast()
        condition.unlock()
        if last { samples.close() }
    }

    /// Waits until `bytes` more fit in the budget beside what is reserved (or nothing is),
    /// finishing images meanwhile, then reserves them.
    private func reserve(_ bytes: Int) {
        condition.lock()
        while fatal == nil && reservedBytes > 0 && reservedBytes + bytes > PipelineRunner.memoryBudget {
            if finishing.isEmpty {
                condition.wait()
            } else {
                let image = finishing.removeFirst()
                condition.unlock()
                finish(image)
                condition.lock()
            }
        }
        reservedBytes += bytes
        condition.unlock()
    }

    /// Finishes an image; anything that goes wrong with it is its own failure, but failing
    /// to record the outcome stops the run.
    private func finish(_ image: InFlightImage) {
        var record: ImageRecord?
        do { record = try finisher.finish(image) } catch { failed(image.path, error) }
        if let record {
            do { try state.finish(record) } catch { stop(error) }
        }
        condition.lock()
        inFlight -= 1
        reservedBytes -= image.reserved
        condition.broadcast()
        condition.unlock()
    }

    /// Records a failed input; a failure to record it stops the run.
    private func failed(_ path: String, _ error: Error) {
        let failure = InputFailure(error)
        do { try state.fail(FailureRecord(path: path, code: failure.code, message: failure.message)) } catch { stop(error) }
    }

    private func enqueueFinish(_ image: InFlightImage) {
        condition.lock()
        finishing.append(image)
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
