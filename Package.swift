// swift-tools-version:6.0
import PackageDescription

// Dependencies flow one way (Basics depends on nothing; any Swift target may use it):
//   ign (CLI) → Evaluation, Report → Pipeline, Datasets → IGN, Imaging (Pipeline also names Engine's SampleShape)
//   IGN (model, objective, trainer, data) → Engine → Basics, CBLAS, CGemm, CZlib
//   Imaging → Basics, CVips → CVipsSystem
// ign also uses IGN, Engine and Imaging directly; Evaluation and Datasets use Engine.
let package = Package(
    name: "ign",
    products: [
        .executable(name: "ign", targets: ["ign"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        // C libraries from Debian's packages.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // libvips' headers and library (pkg-config "vips"); used only by CVips.
        .systemLibrary(name: "CVipsSystem", path: "Sources/CVipsSystem", pkgConfig: "vips",
                       providers: [.apt(["libvips-dev"])]),
        // C kernels: a matrix product with one fixed summation order per element, direct convolutions
        // that keep that order, a vectorised tanh (AVX-512, AVX2, scalar: the same bits on each).
        .target(name: "CGemm"),
        // Plain-C, non-variadic wrappers over the libvips calls Swift needs.
        .target(name: "CVips", dependencies: ["CVipsSystem"]),

        // One copy each of what several targets need: the seeded RNG, FNV-1a, atomic file writes, pixel noise.
        .target(name: "Basics"),
        // Tensors, layers with explicit forward/backward, losses, Adam, tensor files (safetensors, npy, IDX, gzip).
        .target(name: "Engine", dependencies: ["Basics", "CBLAS", "CGemm", "CZlib"]),
        // Architectures, model files, the IGN objective, noise, datasets, trainer, checkpoints, bundled models and classifier.
        .target(name: "IGN", dependencies: ["Basics", "Engine"], resources: [.copy("Models"), .copy("Classifiers")]),
        // Decode/encode, colour and channels, corruptions, resize/tiling, metrics, contact sheets.
        .target(name: "Imaging", dependencies: ["Basics", "CVips"]),
        // `ign eval`: reconstruction, drift, denoising/colorization/sketch figures against libvips baselines.
        .target(name: "Evaluation", dependencies: ["Basics", "Engine", "IGN", "Imaging"]),
        // Folder-to-folder batch projection: discovery, bounded stages, metrics, resume, pipeline files.
        .target(name: "Pipeline", dependencies: ["Basics", "Engine", "IGN", "Imaging", .product(name: "Yams", package: "Yams")]),
        // report.html: a run folder as a static page (tables, inline SVG plots, libvips thumbnails).
        .target(name: "Report", dependencies: ["Basics", "Imaging", "Pipeline"]),
        // `ign dataset`: the bundled models' training/validation/test sets (emoji font, photo patches, Fashion-MNIST).
        .target(name: "Datasets", dependencies: ["Basics", "IGN", "Engine", "Imaging"]),
        // The command-line tool.
        .executableTarget(name: "ign", dependencies: [
            "Basics", "IGN", "Engine", "Imaging", "Evaluation", "Pipeline", "Report", "Datasets",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "BasicsTests", dependencies: ["Basics"]),
        .testTarget(name: "EngineTests", dependencies: ["Basics", "Engine"]),
        .testTarget(name: "IGNTests", dependencies: ["Basics", "IGN", "Engine"], exclude: ["Fixtures"]),
        .testTarget(name: "ImagingTests", dependencies: ["Basics", "Imaging", "CVips"]),
        // Runs the built `ign`; depending on it makes `swift test` build it.
        .testTarget(name: "CLITests", dependencies: ["IGN", "Engine", "Imaging", "ign"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "IGN", "Engine", "Imaging"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "IGN", "Engine", "Imaging"]),
        // Depends on the executable so that `swift test` builds `ign` for the end-to-end tests.
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "IGN", "Imaging", "ign", .product(name: "Yams", package: "Yams")]),
        // Renders reports in a real headless Chromium.
        .testTarget(name: "ReportTests", dependencies: ["Report", "Pipeline", "Imaging", "Engine", "ign"]),
    ],
    swiftLanguageModes: [.v5]
)
