/// How well a score separates positives (inputs flagged as out of distribution) from negatives
/// (the in-distribution reference), when a higher score means "more likely out".
public struct Separation: Equatable, Sendable {
    /// Area under the ROC curve: the chance a random positive scores above a random negative,
    /// ties counting half (1 perfect, 0.5 chance).
    public let auroc: Double
    /// Area under the precision–recall curve as average precision: Σ (Rₖ − Rₖ₋₁)·Pₖ over the
    /// distinct thresholds from the highest down (tied scores form one threshold).
    public let aupr: Double
    /// The share of negatives at or above the highest threshold that keeps at least 95% of the
    /// positives at or above it.
    public let fprAt95TPR: Double

    /// The three figures for these scores; both sets must be non-empty and finite.
    public init(positives: [Double], negatives: [Double]) {
        precondition(!positives.isEmpty && !negatives.isEmpty, "both sets need scores")
        let p = Double(positives.count), n = Double(negatives.count)
        // Distinct scores from the highest down, with how many of each set hold each.
        let tagged = (positives.map { ($0, true) } + negatives.map { ($0, false) }).sorted { $0.0 > $1.0 }
        var groups: [(positives: Double, negatives: Double)] = []
        var previous: Double?
        for (score, isPositive) in tagged {
            if score != previous { groups.append((0, 0)); previous = score }
            if isPositive { groups[groups.count - 1].positives += 1 } else { groups[groups.count - 1].negatives += 1 }
        }
        var area = 0.0, precisionArea = 0.0, fpr: Double?
        var truePositives = 0.0, falsePositives = 0.0
        for group in groups {
            // This group's negatives lie below the positives above it and tie with its own.
            area += group.negatives * (truePositives + group.positives / 2)
            truePositives += group.positives; falsePositives += group.negatives
            precisionArea += group.positives / p * truePositives / (truePositives + falsePositives)
            if fpr == nil && truePositives >= 0.95 * p { fpr = falsePositives / n }
        }
        // `area` counts the pairs with the positive above the negative (ties half).
        auroc = area / (p * n)
        aupr = precisionArea
        fprAt95TPR = fpr ?? 1
    }
}
