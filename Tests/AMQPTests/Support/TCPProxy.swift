import Foundation
import ParcelTestSupport
import Synchronization

/// A loopback TCP proxy for fault injection: forwards to a target until told to go silent, when it
/// keeps the sockets open but drops every byte — what a dead network looks like to both ends.
/// With no target it accepts connections and never answers (a broker that hangs in the handshake).
final class TCPProxy: Sendable {
    let port: Int
    private let listener: Int32
    private let target: (host: String, port: Int)?
    private let silent = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let sockets = Mutex<[Int32]>([])

    init(target: (host: String, port: Int)?) throws {
        self.target = target
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        port = try bindToLoopback(fd, listen: true)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// From now on, drop all traffic in both directions without closing anything.
    func goSilent() { silent.store(true, ordering: .sequentiallyConsistent) }

    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in sockets.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            sockets.withLock { $0.append(client) }
            guard let target else { continue }  // hold it open, say nothing
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr(target.host)
            address.sin_port = UInt16(target.port).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else { close(client); close(upstream); continue }
            sockets.withLock { $0.append(upstream) }
            Thread { [self] in pump(from: client, to: upstream) }.start()
            Thread { [self] in pump(from: upstream, to: client) }.start()
        }
    }

    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            if silent.load(ordering: .sequentiallyConsistent) { continue }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, count - offset) }
                guard written > 0 else { return }
                offset += written
            }
        }
        // A dead network delivers no FIN either: once silent, one side closing tells the other nothing.
        if !silent.load(ordering: .sequentiallyConsistent) { shutdown(destination, Int32(SHUT_RDWR)) }
    }
}
