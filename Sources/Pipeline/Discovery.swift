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

/// When an input file was last changed, and how big it is: an earlier run's result counts
/// only for the file as it was then.
public struct FileStamp: Equatable, Sendable {
    /// Size in bytes.
    public let size: Int64
    /// Modification time, `SECONDS.NANOSECONDS` since 1970.
    public let modified: String

    /// The stamp of what `stat` (or `fstatat`) found.
    init(_ info: stat) {
        size = Int64(info.st_size)
        modified = "\(info.st_mtim.tv_sec)." + String(format: "%09ld", info.st_mtim.tv_nsec)
    }

    public init(size: Int64, modified: String) {
        self.size = size
        self.modified = modified
    }
}

/// Lists the files of an input folder: recursively, in a stable sorted order (by UTF-8
/// bytes), filtered by include/exclude globs. Hidden entries (names starting with `.`) are
/// skipped; symbolic links are skipped unless followed, and followed links never loop.
///
/// Folders are read with `openat`/`fstatat`, so every regular file is seen whatever its name
/// or depth. One whose name is not valid UTF-8 (shown with `\xNN` for each byte that is not)
/// or whose path is longer than `PATH_MAX` is a ``Problem``, not a file to process.
public struct Discovery: Sendable {
    /// A file or folder that is not processed, with why.
    public struct Problem: Equatable, Sendable {
        /// The file or folder, relative to the input (escaped where it is not UTF-8).
        public let path: String
        /// `unreadable` (a folder that cannot be listed), `badName` or `pathTooLong`.
        public let code: String
        /// Why it was skipped.
        public let message: String
    }

    /// What was found.
    public struct Result: Sendable {
        /// Files relative to the input folder, sorted.
        public var files: [String]
        /// Each file's size and modification time when it was found.
        public var stamps: [String: FileStamp]
        /// Files and folders that are not processed.
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

    /// The longest path the system opens, terminating NUL included.
    static let pathMax = Int(PATH_MAX)

    /// Walks the folder. Throws `.usage` if `root` is not a readable folder.
    public func run() throws -> Result {
        var info = stat()
        guard stat(root.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw PipelineError(.usage, "\(root.path): no such input folder")
        }
        var result = Result(files: [], stamps: [:], problems: [])
        var visited: Set<[UInt64]> = [[UInt64(info.st_dev), UInt64(info.st_ino)]]
        var skipped: [UInt64]?
        if let skipping, stat(skipping.path, &info) == 0 { skipped = [UInt64(info.st_dev), UInt64(info.st_ino)] }
        let rootBytes = Array(root.path.utf8)
        var pending: [[UInt8]] = [[]]
        while let folder = pending.popLast() {
            guard let entries = list(folder, rootBytes: rootBytes) else {
                if folder.isEmpty { throw PipelineError(.usage, "\(root.path): cannot list the input folder") }
                result.problems.append(Problem(path: Discovery.display(folder), code: "unreadable", message: "cannot list the folder"))
                continue
            }
            for (name, entry) in entries {
                let relative = folder.isEmpty ? name : folder + [UInt8(ascii: "/")] + name
                let key = [UInt64(entry.st_dev), UInt64(entry.st_ino)]
                switch entry.st_mode & S_IFMT {
                case S_IFDIR:
                    if key == skipped { continue }
                    if visited.insert(key).inserted { pending.append(relative) }
                case S_IFREG:
                    let path = Discovery.display(relative)
                    guard wanted(path) else { continue }
                    let length = rootBytes.count + 1 + relative.count
                    if String(validating: relative, as: UTF8.self) == nil {
                        result.problems.append(Problem(path: path, code: "badName",
                            message: "the name is not valid UTF-8 (shown with \\xNN for the bytes that are not): not read"))
                    } else if length >= Discovery.pathMax {
                        result.problems.append(Problem(path: path, code: "pathTooLong",
                            message: "the path is \(length) bytes, over the system's limit of \(Discovery.pathMax - 1): not read"))
                    } else {
                        result.files.append(path)
                        result.stamps[path] = FileStamp(entry)
                    }
                default:
                    continue
                }
            }
        }
        result.files.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        result.problems.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return result
    }

    /// The visible entries of a folder (relative to the root, as bytes) with what `fstatat`
    /// says of each (links followed when asked; entries that vanish or dangle are left out);
    /// nil if the folder cannot be opened or read.
    private func list(_ folder: [UInt8], rootBytes: [UInt8]) -> [([UInt8], stat)]? {
        let descriptor = Discovery.openFolder(folder, rootBytes: rootBytes, following: followSymlinks)
        guard descriptor >= 0 else { return nil }
        guard let stream = fdopendir(descriptor) else { close(descriptor); return nil }
        defer { closedir(stream) }
        var entries: [([UInt8], stat)] = []
        let flags = followSymlinks ? 0 : AT_SYMLINK_NOFOLLOW
        while true {
            errno = 0
            guard let entry = readdir(stream) else { break }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard let first = name.first, first != UInt8(ascii: ".") else { continue }
            var info = stat()
            let found = (name + [0]).withUnsafeBufferPointer {
                fstatat(dirfd(stream), UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), &info, flags) == 0
            }
            if found { entries.append((name, info)) }
        }
        return errno == 0 ? entries : nil
    }

    /// A read-only descriptor of `folder` (relative to the root): opened by its path while
    /// that fits in `PATH_MAX`, else component by component from the deepest ancestor that does.
    static func openFolder(_ folder: [UInt8], rootBytes: [UInt8], following: Bool) -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (following ? 0 : O_NOFOLLOW)
        func open(_ bytes: [UInt8], at base: Int32) -> Int32 {
            (bytes + [0]).withUnsafeBufferPointer {
                openat(base, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), flags)
            }
        }
        var components = folder.split(separator: UInt8(ascii: "/")).map(Array.init)
        var prefix = rootBytes
        var taken = 0
        while taken < components.count && prefix.count + 1 + components[taken].count < pathMax {
            prefix += [UInt8(ascii: "/")] + components[taken]
            taken += 1
        }
        var descriptor = open(prefix, at: AT_FDCWD)
        components.removeFirst(taken)
        for component in components where descriptor >= 0 {
            let next = open(component, at: descriptor)
            close(descriptor)
            descriptor = next
        }
        return descriptor
    }

    /// A path as text: itself when it is valid UTF-8, else with `\xNN` for each byte that is not.
    static func display(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var out = "", i = 0
        outer: while i < bytes.count {
            for n in 1...min(4, bytes.count - i) {
                if let scalar = String(validating: bytes[i..<(i + n)], as: UTF8.self) {
                    out += scalar
                    i += n
                    continue outer
                }
            }
            out += "\\x" + String(format: "%02X", bytes[i])
            i += 1
        }
        return out
    }

    private func wanted(_ relativePath: String) -> Bool {
        if !include.isEmpty && !include.contains(where: { $0.matches(relativePath) }) { return false }
        return !exclude.contains { $0.matches(relativePath) }
    }
}
