import Basics
import Evaluation
import XCTest

final class SeparationTests: XCTestCase {
    /// Worked by hand: pairs (pos above neg, ties half) 4 + 4 + 2.5 of 12; average precision
    /// ⅓·1 + ⅓·1 + ⅓·⅗ (the tie at 0.4 is one threshold); 95% of 3 positives needs all three,
    /// reached at 0.4 with 2 of 4 negatives.
    func testHandComputedCase() {
        let s = Separation(positives: [0.9, 0.8, 0.4], negatives: [0.7, 0.4, 0.2, 0.1])
        XCTAssertEqual(s.auroc, 10.5 / 12, accuracy: 1e-12)
        XCTAssertEqual(s.aupr, 2.0 / 3 + 0.2, accuracy: 1e-12)
        XCTAssertEqual(s.fprAt95TPR, 0.5, accuracy: 1e-12)
    }

    func testPerfectChanceAndReversedScores() {
        let perfect = Separation(positives: [3, 4, 5], negatives: [0, 1, 2])
        XCTAssertEqual(perfect, Separation(positives: [3, 4, 5], negatives: [0, 1, 2]))
        XCTAssertEqual(perfect.auroc, 1); XCTAssertEqual(perfect.aupr, 1); XCTAssertEqual(perfect.fprAt95TPR, 0)
        let reversed = Separation(positives: [0, 1, 2], negatives: [3, 4, 5])
        XCTAssertEqual(reversed.auroc, 0); XCTAssertEqual(reversed.fprAt95TPR, 1)
        let tied = Separation(positives: [1, 1], negatives: [1, 1, 1])
        XCTAssertEqual(tied.auroc, 0.5); XCTAssertEqual(tied.aupr, 0.4, accuracy: 1e-12); XCTAssertEqual(tied.fprAt95TPR, 1)
    }

    /// The sorted sweep against the plain count over all pairs, on scores with many ties.
    func testAUROCMatchesPairCount() {
        var rng = RandomSource(seed: 9)
        let positives = (0..<300).map { _ in Double(Int(rng.nextUniform() * 40) + 5) }
        let negatives = (0..<200).map { _ in Double(Int(rng.nextUniform() * 40)) }
        var pairs = 0.0
        for p in positives { for n in negatives { pairs += p > n ? 1 : (p == n ? 0.5 : 0) } }
        let s = Separation(positives: positives, negatives: negatives)
        XCTAssertEqual(s.auroc, pairs / Double(positives.count * negatives.count), accuracy: 1e-12)
        XCTAssertGreaterThan(s.auroc, 0.5)
        // FPR at 95% TPR against a plain scan over every threshold.
        let thresholds = Set(positives + negatives).sorted(by: >)
        let first = thresholds.first { t in Double(positives.filter { $0 >= t }.count) >= 0.95 * Double(positives.count) }!
        XCTAssertEqual(s.fprAt95TPR, Double(negatives.filter { $0 >= first }.count) / Double(negatives.count), accuracy: 1e-12)
    }
}
