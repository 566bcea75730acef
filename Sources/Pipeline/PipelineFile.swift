import Foundation
import IGN
import Imaging
import Yams

/// Reads pipeline files (`pipelines/*.yaml`): one YAML mapping whose keys are the fields of
/// ``Job``, spelled in kebab-case. Unknown keys, wrong types and bad values are refused with
/// the file, line and a hint.
///
/// ```yaml
/// input: samples/photos        # folders are relative to the current directory
/// output: runs/denoise
/// model: photo32               # a bundled model's name or a .safetensors path
/// fit: tiles                   # resize | cover | tiles | whole
/// corrupt: [noise:0.1]         # Corruption specs, applied in order
/// steps: 1
/// write: [output, strip]       # output | corrupted | strip; [] for metrics only
/// ```
public enum PipelineFile {
    /// Every key a pipeline file may hold.
    public static let keys = [
        "input", "output", "model", "fit", "size", "overlap", "block", "corrupt", "corrupt-at", "steps", "statistics", "batch", "workers",
        "threads", "format", "color", "write", "metrics", "include", "exclude", "follow-symlinks",
        "seed", "max-pixels",
    ]

    /// Reads and checks a pipeline file.
    public static func load(_ url: URL) throws -> Job {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw PipelineError(.usage, "\(url.path): cannot read the pipeline file")
        }
        return try parse(text, name: url.path)
    }

    /// Parses pipeline YAML; `name` prefixes error messages.
    public static func parse(_ text: String, name: String) throws -> Job {
        func fail(_ node: Node?, _ message: String) -> PipelineError {
            let line = node?.mark.map { ":\($0.line)" } ?? ""
            return PipelineError(.usage, "\(name)\(line): \(message)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            let first = String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            throw PipelineError(.usage, "\(name): not valid YAML: \(first)")
        }
        guard let root, let mapping = root.mapping else {
            throw fail(root, "a pipeline file is a mapping of keys such as input, output, model")
        }
        var values: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw fail(keyNode, "keys must be plain words") }
            guard keys.contains(key) else {
                let hint = closest(to: key, in: keys).map { "; did you mean \"\($0)\"?" } ?? ""
                throw fail(keyNode, "unknown key \"\(key)\"\(hint) (known: \(keys.joined(separator: ", ")))")
            }
            guard values[key] == nil else { throw fail(keyNode, "\"\(key)\" is given twice") }
            values[key] = value
        }

        func string(_ key: String) throws -> String? {
            guard let node = values[key] else { return nil }
            guard let scalar = node.scalar, !isNull(node) else { throw fail(node, "\(key) must be a single value") }
            return scalar.string
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = try string(key) else { return nil }
            guard let value = Int(text.replacingOccurrences(of: "_", with: "")), range.contains(value) else {
                throw fail(values[key], "\(key) must be a whole number in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"")
            }
            return value
        }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type) throws -> T? where T.RawValue == String {
            guard let text = try string(key) else { return nil }
            guard let value = T(rawValue: text.lowercased()) else {
                throw fail(values[key], "\(key) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
            return value
        }
        func list(_ key: String) throws -> [(String, Node)]? {
            guard let node = values[key] else { return nil }
            if isNull(node) { return [] }
            if let scalar = node.scalar { return [(scalar.string, node)] }  // one item, without brackets
            guard let sequence = node.sequence else { throw fail(node, "\(key) must be a list, e.g. [a, b]") }
            return try sequence.map { item in
                guard let text = item.scalar?.string else { throw fail(item, "\(key) items must be single values") }
                return (text, item)
            }
        }
        func choices<T: RawRepresentable & CaseIterable & Equatable>(_ key: String, _ type: T.Type) throws -> [T]? where T.RawValue == String {
            try list(key).map { items in
                var result: [T] = []
                for (text, node) in items {
                    guard let value = T(rawValue: text.lowercased()) else {
                        throw fail(node, "\(key) items must be among \(T.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
                    }
                    if !result.contains(value) { result.append(value) }
                }
                return result
            }
        }

        guard let input = try string("input") else { throw fail(root, "missing key \"input\" (the folder of images)") }
        guard let output = try string("output") else { throw fail(root, "missing key \"output\" (the folder for results)") }
        var job = Job(input: input, output: output, model: try string("model"))
        if let fit = try choice("fit", Job.Fit.self) { job.fit = fit }
        if let size = try choice("size", Job.Size.self) { job.size = size }
        if let overlap = try integer("overlap", 0...4096) { job.overlap = overlap }
        if let block = try integer("block", 16...8192) { job.block = block }
        if let specs = try list("corrupt") {
            job.corruptions = try specs.flatMap { text, node -> [Corruption] in
                do { return try Corruption.parseChain(text) } catch let error as ImagingError {
                    throw fail(node, error.message)
                }
            }
        }
        if let corruptAt = try choice("corrupt-at", Job.CorruptAt.self) { job.corruptAt = corruptAt }
        if let steps = try integer("steps", 1...100) { job.steps = steps }
        if let statistics = try choice("statistics", StatisticsSet.self) {
            guard statistics != .batch else {
                throw fail(values["statistics"], "statistics must be projection or generation (\(Job.batchStatisticsRefusal))")
            }
            job.statistics = statistics
        }
        if let batch = try integer("batch", 1...4096) { job.batch = batch }
        if let workers = try integer("workers", 0...256) { job.workers = workers }
        if let threads = try integer("threads", 0...256) { job.threads = threads }
        if let text = try string("format") {
            guard let format = ImageFormat(pathExtension: text) else {
                throw fail(values["format"], "format must be \(ImageFormat.names), got \"\(text)\"")
            }
            job.format = format
        }
        if let color = try choice("color", Job.Color.self) { job.color = color }
        if let artifacts = try choices("write", Job.Artifact.self) { job.artifacts = artifacts }
        if let measures = try choices("metrics", Job.Measure.self) { job.measures = measures }
        for key in ["include", "exclude"] {
            guard let patterns = try list(key) else { continue }
            for (pattern, node) in patterns {
                do { _ = try Glob(pattern) } catch let error as PipelineError { throw fail(node, error.message) }
            }
            if key == "include" { job.include = patterns.map(\.0) } else { job.exclude = patterns.map(\.0) }
        }
        if let text = try string("follow-symlinks") {
            guard let value = Bool(text.lowercased()) else {
                throw fail(values["follow-symlinks"], "follow-symlinks must be true or false, got \"\(text)\"")
            }
            job.followSymlinks = value
        }
        if let text = try string("seed") {
            guard let seed = UInt64(text) else { throw fail(values["seed"], "seed must be a whole number ≥ 0, got \"\(text)\"") }
            job.seed = seed
        }
        if let maxPixels = try integer("max-pixels", 1...Int(Int32.max)) { job.maxPixels = maxPixels }
        do { try job.validate() } catch let error as PipelineError { throw PipelineError(.usage, "\(name): \(error.message)") }
        return job
    }

    static func isNull(_ node: Node) -> Bool { node.tag.description == Tag.Name.null.rawValue }

    /// The known word nearest to `word`, if it is a likely typo (edit distance ≤ 2).
    static func closest(to word: String, in words: [String]) -> String? {
        guard let best = words.min(by: { editDistance(word, $0) < editDistance(word, $1) }),
              editDistance(word, best) <= 2 else { return nil }
        return best
    }

    /// Levenshtein distance.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in a.indices {
            var diagonal = row[0]
            row[0] = i + 1
            for j in b.indices {
                let above = row[j + 1]
                row[j + 1] = min(above + 1, row[j] + 1, diagonal + (a[i] == b[j] ? 0 : 1))
                diagonal = above
            }
        }
        return row[b.count]
    }
}
