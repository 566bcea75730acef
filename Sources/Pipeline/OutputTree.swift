import Basics
import Foundation
import Imaging
#if canImport(Glibc)
import Glibc
#endif

/// The output folder: mirrors the input tree and guarantees that nothing is ever written
/// outside it. Relative paths with `..`, `.`, empty or absolute components are refused, and
/// so is any folder on the way that is a symbolic link or not a folder.
public struct OutputTree: Sendable {
    /// The output folder with symbolic links resolved.
    public let root: URL

    /// Opens (creating if needed) the output folder.
    public init(root path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(.output, "\(path): cannot create the output folder (\(error.localizedDescription))")
        }
        root = URL(fileURLWithPath: FileSystem.realPath(path), isDirectory: true)
    }

    /// The file `relativePath` inside the output folder; throws an `output` ``InputFailure``
    /// if it would leave it.
    public func url(for relativePath: String) throws -> URL {
        try OutputTree.check(relativePath)
        return root.appendingPathComponent(relativePath)
    }

    /// Creates the folders above `relativePath` inside the output folder, one at a time,
    /// refusing any existing component that is a symbolic link or not a folder; returns the
    /// file's URL.
    public func prepare(_ relativePath: String) throws -> URL {
        let url = try url(for: relativePath)
        var path = root.path
        for component in relativePath.split(separator: "/").dropLast() {
            path += "/" + component
            var info = stat()
            if lstat(path, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR else {
                    let what = (info.st_mode & S_IFMT) == S_IFLNK ? "a symbolic link" : "not a folder"
                    throw InputFailure(code: "output", message: "\(path) is \(what): refusing to write through it")
                }
            } else if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw InputFailure(code: "output", message: "\(path): cannot create the folder (\(String(cString: strerror(errno))))")
            }
        }
        return url
    }

    /// Throws an `output` ``InputFailure`` unless `relativePath` is a plain relative path that
    /// stays inside.
    public static func check(_ relativePath: String) throws {
        let components = relativePath.split(separator: "/", omittingEmptySubsequences: false)
        guard !relativePath.hasPrefix("/"), !relativePath.contains("\0"),
              components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw InputFailure(code: "output", message: "\"\(relativePath)\" would leave the output folder: refused")
        }
    }

    /// Throws an `output` ``InputFailure`` unless each of `names` (relative paths inside) fits
    /// the system's limits: every component at most `NAME_MAX` bytes, and the whole path, and
    /// that of the temporary file written beside it, under `PATH_MAX`. Checked before an
    /// input's first file is written, so that none of them is left without the rest.
    func checkLengths(_ names: [String]) throws {
        let nameMax = Int(NAME_MAX), pathMax = Int(PATH_MAX)
        for name in names {
            let components = name.split(separator: "/")
            if let long = components.first(where: { $0.utf8.count > nameMax }) {
                throw InputFailure(code: "output", message: "the output name \"\(long)\" would be \(long.utf8.count) bytes, over the file system's limit of \(nameMax): nothing written")
            }
            let last = components.last?.utf8.count ?? 0
            let length = root.path.utf8.count + 1 + name.utf8.count - last + max(last, AtomicFile.temporaryNameLength)
            if length >= pathMax {
                throw InputFailure(code: "output", message: "the output path \(name) is too long for the output folder (over the system's limit of \(pathMax - 1) bytes with it): nothing written")
            }
        }
    }

    /// Removes the temporary files of atomic writes cut short by a kill (see ``AtomicFile``).
    public func removeStaleTemporaries() {
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return }
        while let relative = walker.nextObject() as? String {
            guard AtomicFile.isTemporary((relative as NSString).lastPathComponent) else { continue }
            try? FileManager.default.removeItem(atPath: root.path + "/" + relative)
        }
    }
}

/// The output files planned for every input, free of name clashes.
///
/// `a/b/c.jpg` gives `a/b/c.png` (the output format's extension), `a/b/c.corrupted.png` and
/// `a/b/c.strip.png`. Inputs whose names would clash (`c.jpg` and `c.png`) keep their full
/// name: `c.jpg.png`, `c.png.png`. An input whose names still clash gets no names.
struct OutputPlan {
    /// Relative output paths of one input, by artifact.
    typealias Names = [Job.Artifact: String]

    private(set) var names: [String: Names] = [:]

    init(files: [String], artifacts: [Job.Artifact], format: ImageFormat) {
        var fullName = Set<String>()
        func plan(_ file: String) -> Names {
            let stem = fullName.contains(file) ? file : (file as NSString).deletingPathExtension
            var result: Names = [:]
            for artifact in artifacts {
                let suffix = artifact == .output ? "" : "." + artifact.rawValue
                result[artifact] = stem + suffix + "." + format.fileExtension
            }
            return result
        }
        var clashing = Set<String>()
        for _ in 0..<3 {
            var owners: [String: [String]] = [:]
            for file in files {
                for name in plan(file).values { owners[name, default: []].append(file) }
            }
            clashing = Set(owners.values.filter { $0.count > 1 }.joined())
            if clashing.isSubset(of: fullName) { break }
            fullName.formUnion(clashing)
        }
        for file in files where !clashing.contains(file) { names[file] = plan(file) }
    }
}

/// Small file-system helpers.
enum FileSystem {
    /// The path with symbolic links resolved (made absolute and tidied if it does not exist).
    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return URL(fileURLWithPath: path).standardizedFileURL.path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `inner` is `outer` or lies inside it (both resolved).
    static func contains(_ outer: String, _ inner: String) -> Bool {
        inner == outer || inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/")
    }

    /// Whether a regular file exists at `path` (links not followed).
    static func isFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Writes bytes atomically (``AtomicFile``); a failure is an `.output` error.
    static func writeAtomically(_ data: Data, to url: URL) throws {
        do {
            try AtomicFile.write(data, to: url)
        } catch let error as AtomicWriteError {
            throw PipelineError(.output, error.description)
        }
    }
}
