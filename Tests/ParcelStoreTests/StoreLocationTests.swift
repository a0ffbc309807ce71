import ParcelCore
import Testing

@Suite("Store location (PARCELFLOW_STORE)")
struct StoreLocationTests {
    @Test("SQLite paths and PostgreSQL URLs are understood", arguments: [
        ("sqlite:/var/lib/parcelflow/status.db", StoreLocation.sqlite(path: "/var/lib/parcelflow/status.db")),
        ("sqlite:status.db", .sqlite(path: "status.db")),
        ("sqlite:data/status.db", .sqlite(path: "data/status.db")),
        ("sqlite:///srv/status.db", .sqlite(path: "/srv/status.db")),
        ("SQLite:Status.db", .sqlite(path: "Status.db")),
        ("postgres://parcelflow@db.internal:5432/parcelflow", .postgres(url: "postgres://parcelflow@db.internal:5432/parcelflow")),
        ("postgresql://db/parcelflow", .postgres(url: "postgresql://db/parcelflow")),
    ])
    func parses(text: String, expected: StoreLocation) throws {
        #expect(try StoreLocation.parse(text) == expected)
    }

    @Test("anything else is refused with a reason", arguments: [
        ("", "expected sqlite:PATH"),
        ("status.db", "expected sqlite:PATH"),
        ("mysql://db/parcelflow", "expected sqlite:PATH"),
        ("sqlite:", "path is missing"),
        ("sqlite://status.db", "sqlite:///PATH for an absolute one"),
        ("postgres://", "host is missing"),
    ])
    func refuses(text: String, reason: String) {
        let error = #expect(throws: InvalidStoreLocation.self) { try StoreLocation.parse(text) }
        #expect(error?.description.contains(reason) == true, "\(error.map(String.init(describing:)) ?? "")")
    }

    @Test("a password never shows, in the location or in an error")
    func redacts() throws {
        let location = try StoreLocation.parse("postgres://worker:s3cret@db:5432/parcelflow?sslmode=require")
        #expect(location.description == "postgres://worker:***@db:5432/parcelflow?sslmode=require")
        let error = #expect(throws: InvalidStoreLocation.self) { try StoreLocation.parse("postgress://worker:s3cret@db/x") }
        #expect(error?.description.contains("s3cret") == false)
        #expect(error?.text == "postgress://worker:***@db/x")
    }

    @Test("a password is hidden whole even when it is not percent-encoded, or the scheme is missing", arguments: [
        ("postgres://worker:s3cret@db/parcelflow", "postgres://worker:***@db/parcelflow"),
        ("postgres://worker:s3/cr?et#x@db:5432/parcelflow", "postgres://worker:***@db:5432/parcelflow"),
        ("postgres://worker:s3@cret@db/parcelflow", "postgres://worker:***@db/parcelflow"),
        ("worker:s3cret@db/parcelflow", "worker:***@db/parcelflow"),
        ("postgres://worker@db/parcelflow", "postgres://worker@db/parcelflow"),
        ("postgres://db:5432/parcelflow", "postgres://db:5432/parcelflow"),
        ("sqlite:/var/lib/parcelflow/status.db", "sqlite:/var/lib/parcelflow/status.db"),
    ])
    func redactsWhole(text: String, shown: String) {
        let error = #expect(throws: InvalidStoreLocation.self) { try StoreLocation.parse("x" + text) }
        #expect(error?.text == "x" + shown)
        #expect(error?.description.contains("s3") == false)
    }

    @Test("a flag wins over the environment, which wins over the default")
    func precedence() throws {
        let environment = [StoreLocation.environmentVariable: "sqlite:/env.db"]
        #expect(try StoreLocation.resolve(flag: "sqlite:/flag.db", environment: environment) == .sqlite(path: "/flag.db"))
        #expect(try StoreLocation.resolve(flag: nil, environment: environment) == .sqlite(path: "/env.db"))
        #expect(try StoreLocation.resolve(flag: "", environment: environment) == .sqlite(path: "/env.db"))
        #expect(try StoreLocation.resolve(flag: nil, environment: [:]) == .sqlite(path: "parcelflow.db"))
        #expect(try StoreLocation.parse(StoreLocation.defaultValue) == StoreLocation.default)
        #expect(StoreLocation.environmentVariable == "PARCELFLOW_STORE")
    }
}
