import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A shell-style pattern: `*` (any run of characters but `/`), `?` (one such character),
/// `**` (anything, `/` included; `**/` also matches no folder), `[abc]`, `[!abc]`.
/// A pattern without `/` is matched against the file name, one with `/` against the path
/// relative to the input folder.
public struct Glob: @unchecked Sendable {
    /// The pattern as written.
    public let pattern: String
    private let regex: NSRegularExpression
    private let matchesName: Bool

    /// Compiles a pattern; throws `.usage` for an empty pattern or an unclosed `[`.
    public init(_ pattern: String) throws {
        guard !pattern.isEmpty else { throw PipelineError(.usage, "empty glob pattern") }
        self.pattern = pattern
        matchesName = !pattern.contains("/")
        var source = "^"
        var characters = Array(pattern)[...]
        while let c = characters.popFirst() {
            switch c {
            case "*":
                if characters.first == "*" {
                    characters.removeFirst()
                    if characters.first == "/" {
                        characters.removeFirst()
                        source += "(?:.*/)?"
                    } else {
                        source += ".*"
                    }
                } else {
                    source += "[^/]*"
                }
            case "?":
                source += "[^/]"
            case "[":
                guard let close = characters.firstIndex(of: "]"), close > characters.startIndex else {
                    throw PipelineError(.usage, "glob \"\(pattern)\": unclosed [")
                }
                var set = String(characters[characters.startIndex..<close])
                if set.hasPrefix("!") { set = "^" + set.dropFirst() }
                source += "[" + set.replacingOccurrences(of: "\\", with: "\\\\") + "]"
                characters = characters[(close + 1)...]
            default:
                source += NSRegularExpression.escapedPattern(for: String(c))
            }
        }
        source += "$"
        do {
            regex = try NSRegularExpression(pattern: source)
        } catch {
            throw PipelineError(.usage, "glob \"\(pattern)\" is not a valid pattern")
        }
    }

    /// Whether a relative path (folders separated by `/`) matches.
    public func matches(_ relativePath: String) -> Bool {
        let subject = matchesName ? String(relativePath.split(separator: "/").last ?? "") : relativePath
        return regex.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) != nil
    }
}

/// Lists the files of an input folder: recursively, in a stable sorted order (by UTF-8
/// bytes), filtered by include/exclude globs. Hidden entries (names starting with `.`) are
/// skipped; symbolic links are skipped unless followed, and followed links never loop.
public struct Discovery: Sendable {
    /// A folder that could not be listed.
    public struct Problem: Equatable, Sendable {
        /// The folder, relative to the input.
        public let path: String
        /// Why it was skipped.
        public let message: String
    }

    /// What was found.
    public struct Result: Sendable {
        /// Files relative to the input folder, sorted.
        public var files: [String]
        /// Folders that could not be read.
        public var problems: [Problem]
    }

    /// The input folder.
    public let root: URL
    /// Files must match one of these (none: all files).
    public let include: [Glob]
    /// Files matching any of these are left out.
    public let exclude: [Glob]
    /// Follow symbolic links.
    public let followSymlinks: Bool
    /// A folder inside the input to leave out entirely (the output folder, when it lies there).
    public let skipping: URL?

    /// A discovery over `root`.
    public init(root: URL, include: [Glob] = [], exclude: [Glob] = [], followSymlinks: Bool = false, skipping: URL? = nil) {
        self.root = root
        self.include = include
        self.exclude = exclude
        self.followSymlinks = followSymlinks
        self.skipping = skipping
    }

    /// Walks the folder. Throws `.usage` if `root` is not a readable folder.
    public func run() throws -> Result {
        var info = stat()
        guard stat(root.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw PipelineError(.usage, "\(root.path): no such input folder")
        }
        var result = Result(files: [], problems: [])
        var visited: Set<[UInt64]> = [[UInt64(info.st_dev), UInt64(info.st_ino)]]
        let skipped = skipping.map { FileSystem.realPath($0.path) }
        var pending: [String] = [""]
        while let folder = pending.popLast() {
            let absolute = folder.isEmpty ? root.path : root.path + "/" + folder
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: absolute)
            } catch {
                if folder.isEmpty { throw PipelineError(.usage, "\(root.path): cannot list the input folder") }
                result.problems.append(Problem(path: folder, message: "cannot list the folder"))
                continue
            }
            for name in names where !name.hasPrefix(".") {
                let relative = folder.isEmpty ? name : folder + "/" + name
                let path = absolute + "/" + name
                var entry = stat()
                guard lstat(path, &entry) == 0 else { continue }
                var type = entry.st_mode & S_IFMT
                if type == S_IFLNK {
                    guard followSymlinks, stat(path, &entry) == 0 else { continue }
                    type = entry.st_mode & S_IFMT
                }
                if type == S_IFDIR {
                    if let skipped, FileSystem.realPath(path) == skipped { continue }
                    guard visited.insert([UInt64(entry.st_dev), UInt64(entry.st_ino)]).inserted else { continue }
                    pending.append(relative)
                } else if type == S_IFREG, wanted(relative) {
                    result.files.append(relative)
                }
            }
        }
        result.files.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        result.problems.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return result
    }

    private func wanted(_ relativePath: String) -> Bool {
        if !include.isEmpty && !include.contains(where: { $0.matches(relativePath) }) { return false }
        return !exclude.contains { $0.matches(relativePath) }
    }
}
