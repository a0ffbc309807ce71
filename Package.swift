// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ParcelFlow",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parcelctl", targets: ["parcelctl"]),
        .executable(name: "parcel-worker", targets: ["parcel-worker"]),
        .library(name: "AMQP", targets: ["AMQP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // rabbitmq-c (Debian librabbitmq-dev). Only the AMQP module imports it.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ParcelCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The worker's runtime, free of any broker: deciding what a task leads to (TaskProcessor), the
        // stage handlers, batching and settling deliveries, the reconnect policy, the session loop.
        // It talks to a broker through the small protocols in WorkerRuntime/Transport.swift.
        .target(
            name: "ParcelWorkerRuntime",
            dependencies: [
                "ParcelCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ParcelRabbit",
            dependencies: [
                "AMQP", "ParcelCore", "ParcelWorkerRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The HTTP side: a worker's /metrics, /health and /ready, and the dashboard. The dashboard's page,
        // style sheet and script are the files in Sources/ParcelHTTP/Dashboard, embedded by EmbedAssets.
        .target(
            name: "ParcelHTTP",
            dependencies: [
                "ParcelCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            plugins: ["EmbedAssets"]
        ),
        // EmbedAssets, a build-tool plugin (Plugins/EmbedAssets): every file of a target that SwiftPM does
        // not handle itself becomes a `static let` of `enum EmbeddedAssets` in a Swift file generated at
        // build time by parcelflow-embed (a host tool, not a product), byte for byte. The binary carries
        // its assets: no resource bundle beside it.
        .executableTarget(name: "parcelflow-embed"),
        .plugin(name: "EmbedAssets", capability: .buildTool(), dependencies: ["parcelflow-embed"]),
        // The SQLite status store, on GRDB (its connection, statement cache, serial queue and
        // migrator) over the system's SQLite (Debian libsqlite3-dev); GRDBSQLite is GRDB's module of
        // SQLite's C API, which the store's statements are stepped through.
        .target(
            name: "ParcelStoreSQLite",
            dependencies: [
                "ParcelCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The PostgreSQL status store (vapor/postgres-nio), for workers on many machines.
        .target(
            name: "ParcelStorePostgres",
            dependencies: [
                "ParcelCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The HTTP stage handler: a stage's work done by a service over HTTP (swift-server/async-http-client),
        // its client a `Service` of the worker's group.
        .target(
            name: "ParcelHTTPHandler",
            dependencies: [
                "ParcelCore", "ParcelWorkerRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Opens the status store a location names: the one place that names a store type.
        .target(
            name: "ParcelStores",
            dependencies: ["ParcelCore", "ParcelStoreSQLite", "ParcelStorePostgres",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // Not a product: the concurrent-writers test runs two of these on one store.
        .executableTarget(
            name: "parcelflow-store-writer",
            dependencies: ["ParcelCore", "ParcelStores", .product(name: "Logging", package: "swift-log")]
        ),
        // Options and errors the two executables share.
        .target(
            name: "ParcelCommandLine",
            dependencies: [
                "AMQP", "ParcelCore", "ParcelRabbit", "ParcelStores",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // `parcelctl loadtest`: a fleet of workers, chaos, and a verdict from the store and the broker.
        .target(
            name: "ParcelLoadTest",
            dependencies: [
                "AMQP", "ParcelCore", "ParcelRabbit", "ParcelStores",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ParcelBench",
            dependencies: ["AMQP", "ParcelCore"]
        ),
        .executableTarget(
            name: "parcelctl",
            dependencies: [
                "AMQP",
                "ParcelCore",
                "ParcelRabbit",
                "ParcelCommandLine",
                "ParcelStores",
                "ParcelBench",
                "ParcelHTTP",
                "ParcelLoadTest",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "parcel-worker",
            dependencies: [
                "AMQP",
                "ParcelCore",
                "ParcelRabbit",
                "ParcelWorkerRuntime",
                "ParcelCommandLine",
                "ParcelHTTP",
                "ParcelHTTPHandler",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // What the test targets share: running child processes, finding built programs, polling.
        .target(
            name: "ParcelTestSupport",
            dependencies: ["AMQP", "ParcelCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Support"
        ),
        // What must hold for any input to the decoders of untrusted bytes: checked by the fuzz targets
        // (below, with PARCELFLOW_FUZZ=1) and, over the committed corpus Tests/FuzzCorpus, by the tests.
        .target(
            name: "ParcelFuzzProperties",
            dependencies: ["AMQP", "CRabbitMQ", "ParcelCore"],
            path: "Tests/FuzzProperties"
        ),
        .testTarget(
            name: "AMQPTests",
            dependencies: ["AMQP", "ParcelTestSupport", "ParcelFuzzProperties"]
        ),
        .testTarget(
            name: "ParcelCoreTests",
            dependencies: [
                "ParcelCore", "ParcelTestSupport", "ParcelFuzzProperties",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ParcelRabbitTests",
            dependencies: ["ParcelRabbit", "ParcelWorkerRuntime", "ParcelCore", "AMQP", "ParcelStores", "ParcelStoreSQLite", "ParcelLoadTest", "ParcelHTTPHandler",
                           "ParcelTestSupport"]
        ),
        .testTarget(
            name: "ParcelWorkerRuntimeTests",
            dependencies: ["ParcelWorkerRuntime", "ParcelCore", "ParcelTestSupport"]
        ),
        .testTarget(
            name: "ParcelHTTPHandlerTests",
            dependencies: ["ParcelHTTPHandler", "ParcelWorkerRuntime", "ParcelCore", "ParcelLoadTest", "ParcelRabbit",
                           "ParcelStores", "ParcelTestSupport", "AMQP",
                           .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "ParcelHTTPTests",
            dependencies: ["ParcelHTTP"]
        ),
        .testTarget(
            name: "ParcelCommandLineTests",
            dependencies: ["ParcelCommandLine", "AMQP", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "ParcelStoreTests",
            dependencies: ["ParcelCore", "ParcelStoreSQLite", "ParcelStorePostgres", "ParcelStores", "ParcelBench",
                           "ParcelTestSupport", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets, one per decoder of untrusted bytes. Declared only for deploy/local/fuzz.sh
// (PARCELFLOW_FUZZ=1), which builds them with -sanitize=fuzzer -parse-as-library in a scratch path of
// its own; the ordinary build and `swift test` never see them.
if Context.environment["PARCELFLOW_FUZZ"] == "1" {
    // -sanitize=fuzzer reaches every target the build plans, the embedding tool included, and
    // libFuzzer's main clashes with the tool's. No fuzz target needs ParcelHTTP or its assets.
    for target in package.targets where target.name == "ParcelHTTP" { target.plugins = [] }
    for (name, path) in [("fuzz-task-decoder", "TaskDecoder"), ("fuzz-header-decoder", "HeaderDecoder"),
                         ("fuzz-submission-reader", "SubmissionReader")] {
        package.targets.append(.executableTarget(name: name, dependencies: ["ParcelFuzzProperties"], path: "Fuzz/\(path)"))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
