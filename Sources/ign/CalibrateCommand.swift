import ArgumentParser
import Engine
import Foundation
import IGN

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Re-estimate a model's BatchNorm running statistics on data (what eval mode normalises with).")

    @Option(help: "Model file or bundled name.") var model: String
    @Option(help: "Data to calibrate on (IDX or .npy), e.g. the training images.") var data: String
    @Option(help: "Training-mode passes.") var batches = 200
    @Option(help: "Samples per pass.") var batch = 128
    @Option(help: "Where to write the calibrated model.") var out: String
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        compute.apply()
        let model = try loadModel(self.model)
        model.recalibrateBatchNorm(on: try Dataset.load(URL(fileURLWithPath: data)), batches: batches, batch: batch)
        try model.save(to: try outputFile(out))
    }
}
