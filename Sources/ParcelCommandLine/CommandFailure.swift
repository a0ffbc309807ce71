/// A failure already explained on standard error; ArgumentParser prints this one line after it.
public struct CommandFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
