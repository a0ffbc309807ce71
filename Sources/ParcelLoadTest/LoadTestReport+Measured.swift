import ParcelCore

extension LoadTestReport {
    /// Each stage whose latencies count other than the parcels that passed it, in words.
    ///
    /// Every parcel past a stage completed it once, and each completion is measured from its start
    /// (collection from the submit), so the two counts are equal: a difference is a parcel whose
    /// latency went missing (or another run's, in a store shared with running workers).
    static func unmeasured(_ latencies: [Stage: Latency], passed: [Stage: Int]) -> [String] {
        Stage.allCases.compactMap { stage in
            let (measured, past) = (latencies[stage]?.count ?? 0, passed[stage] ?? 0)
            guard measured != past else { return nil }
            return "\(stage.rawValue)'s latency counts \(NumberText.integer(measured)) parcel(s), "
                + "\(NumberText.integer(past)) passed it"
        }
    }
}
