import ArgumentParser

/// Checks the simulated faults' flags, which `parcel-worker` takes and `parcelctl loadtest` passes on
/// to its workers: each is a share of attempts (or of inspections), from 0 to 1. Throws naming the
/// first flag that is out of range (or not a number).
public func validateFaultRates(transient: Double, permanent: Double, hold: Double) throws(ValidationError) {
    for (flag, rate) in [("--transient-rate", transient), ("--permanent-rate", permanent), ("--hold-rate", hold)]
    where !(0...1).contains(rate) {
        throw ValidationError("\(flag) must be from 0 to 1")
    }
}
