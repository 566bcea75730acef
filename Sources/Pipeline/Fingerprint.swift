import Basics
import Foundation

/// `pipeline.json`: the fingerprint of the job that made an output folder.
enum Fingerprint {
    /// The fingerprint as written: keys sorted, one per line, so the file is reproducible.
    static func text(_ fingerprint: [String: String]) -> String {
        "{\n" + fingerprint.keys.sorted().map { "  " + JSON.pair($0, JSON.string(fingerprint[$0]!)) }
            .joined(separator: ",\n") + "\n}\n"
    }

    /// The fingerprint in `url`; nil when there is none (or it cannot be read).
    static func read(_ url: URL) -> [String: String]? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: String]
    }

    /// FNV-1a 64 of a file's bytes, in hex.
    static func digest(of url: URL) throws -> String {
        String(FNV1a64.hash(try Data(contentsOf: url)), radix: 16)
    }
}
