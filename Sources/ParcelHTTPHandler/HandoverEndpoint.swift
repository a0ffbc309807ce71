import Foundation
import ParcelWorkerRuntime

/// The URL an HTTP handler POSTs to, as ops gave it (`--handler delivery=http:https://user:secret@carrier.example/handover`).
///
/// Credentials in the URL are taken out of it: they are sent as basic authentication
/// (`Authorization`), and nothing this handler says — a reason, a log line, an error — names them:
/// ``description`` is the scheme, host, port and path only (no query either, which may carry a token).
public struct HandoverEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The URL requests go to, without credentials.
    public let url: String
    /// `Basic …` when the URL carried a user, else nil.
    let authorization: String?
    /// `https://carrier.example:443/handover`: what reasons and logs name.
    public let description: String
    /// `carrier.example:443`: what a short reason names.
    public let host: String

    /// Reads and checks `text`: an absolute `http://` or `https://` URL with a host.
    public init(_ text: String) throws(HandoverEndpointError) {
        let shown = HandlerKind.withoutCredentials(text)
        guard var components = URLComponents(string: text) else {
            throw HandoverEndpointError(url: shown, problem: "is not a URL")
        }
        guard let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw HandoverEndpointError(url: shown, problem: "needs the scheme http or https")
        }
        guard let name = components.host, !name.isEmpty else {
            throw HandoverEndpointError(url: shown, problem: "has no host")
        }
        guard components.fragment == nil else {
            throw HandoverEndpointError(url: shown, problem: "has a fragment (#…), which is never sent")
        }
        if let user = components.user {
            let password = components.password ?? ""
            authorization = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        } else {
            authorization = nil
        }
        components.user = nil
        components.password = nil
        guard let cleaned = components.string else { throw HandoverEndpointError(url: shown, problem: "is not a URL") }
        url = cleaned
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let bracketed = name.contains(":") && !name.hasPrefix("[") ? "[\(name)]" : name
        host = "\(bracketed):\(port)"
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        description = "\(scheme)://\(host)\(path)"
    }
}

public struct HandoverEndpointError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The URL without its credentials.
    public var url: String
    public var problem: String

    public var description: String { "'\(url)' \(problem)" }
}
