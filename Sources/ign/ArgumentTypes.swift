import ArgumentParser
import Engine
import IGN
import Imaging
import Pipeline

// The library types options take. ArgumentParser lists `allValueStrings` in the help text
// ("(values: …)") and in the error for a value it cannot read ("Please provide one of …"),
// so each list of choices is written once, by the type that owns it.

extension ImageFormat: ExpressibleByArgument {
    /// A format by extension, as for file names: png, jpg/jpeg, webp, tif/tiff.
    public init?(argument: String) { self.init(pathExtension: argument) }
    public var defaultValueDescription: String { fileExtension }
    public static var allValueStrings: [String] { allCases.map(\.fileExtension) }
    public static var allValueDescriptions: [String: String] { [:] }
}

extension Architecture: ExpressibleByArgument {
    /// An architecture by name (`dcgan28`).
    public init?(argument: String) {
        guard let architecture = Architecture.named(argument) else { return nil }
        self = architecture
    }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { all.map(\.name) }
}

extension Job.Fit: ExpressibleByArgument {}
extension NoiseKind: ExpressibleByArgument {}
extension Distance: ExpressibleByArgument {}
extension ObjectiveKind: ExpressibleByArgument {}

/// An architecture with a channel count, `ARCH:CHANNELS` (`dcgan32:3`; `ARCH` alone means 1 channel).
struct ArchitectureChannels: CustomStringConvertible {
    let architecture: Architecture
    let channels: Int

    /// The channel counts images have: grey or colour.
    static let channelCounts = [1, 3]

    init(_ architecture: Architecture, _ channels: Int) {
        self.architecture = architecture
        self.channels = channels
    }

    /// Reads `ARCH[:CHANNELS]`; a bad value is a usage error that lists the choices.
    init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let architecture = Architecture(argument: parts[0]),
              let channels = parts.count == 2 ? Int(parts[1]) : 1, ArchitectureChannels.channelCounts.contains(channels) else {
            throw ValidationError("use ARCH or ARCH:CHANNELS with ARCH one of \(Architecture.allValueStrings.joined(separator: ", "))"
                                  + " and CHANNELS \(ArchitectureChannels.channelCounts.map(String.init).joined(separator: " or "))")
        }
        self.init(architecture, channels)
    }

    var description: String { "\(architecture.name):\(channels)" }
}

/// Reads a `--corrupt` value: one corruption spec or a comma-separated chain (`grayscale,noise:0.1`).
/// A bad spec is a usage error whose message says what is wrong with it.
func corruptionChain(_ text: String) throws -> [Corruption] {
    do {
        return try Corruption.parseChain(text)
    } catch let error as ImagingError {
        throw ValidationError(error.message)
    }
}

extension NameSpecification {
    /// `--output`, the one spelling of every output flag, with `--out` accepted too.
    static var output: NameSpecification { [.customLong("output"), .customLong("out")] }
}
