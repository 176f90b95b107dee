// XCTest suite of the Swift binding, for a machine with a Swift toolchain (not run by this
// repository's CI, which has none; see ../../README.md). Against the bundled test server:
//   (repository root) make install PREFIX=$PWD/target/prefix
//   PKG_CONFIG_PATH=$PWD/target/prefix/lib/pkgconfig LD_LIBRARY_PATH=$PWD/target/prefix/lib \
//     scripts/with-test-server swift test --package-path bindings/swift
import Foundation
import OpikAttachments
import XCTest

final class OpikAttachmentsTests: XCTestCase {
    private func client() throws -> Client {
        guard ProcessInfo.processInfo.environment["OPIK_URL_OVERRIDE"] != nil else {
            throw XCTSkip("OPIK_URL_OVERRIDE is not set (run under scripts/with-test-server)")
        }
        return try Client()
    }

    private func newId() -> String { UUID().uuidString.lowercased() }

    func testVersion() {
        XCTAssertFalse(opikVersion.isEmpty)
        XCTAssertEqual(OpikStatus.notFound.description, "OPIK_ERR_NOT_FOUND")
    }

    // 0.2: the option setters take `opik_error **`, so a refused value throws the library's reason.
    func testRefusedOptionsThrowTheLibrarysReason() {
        let o = Options()
        XCTAssertThrowsError(try o.setUploadConcurrency(65)) { error in
            let e = error as? OpikError
            XCTAssertEqual(e?.status, .invalidArgument)
            XCTAssertTrue(e?.message.contains("65") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try o.setTimeout(milliseconds: 0)) { error in
            XCTAssertFalse((error as? OpikError)?.message.isEmpty ?? true)
        }
        XCTAssertNoThrow(try o.setUploadConcurrency(8))
    }

    func testUploadListDownloadDelete() throws {
        let c = try client()
        let trace = Entity.trace(newId(), project: "swift-tests")
        let bytes: [UInt8] = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let a = try Attachment(bytes: bytes, fileName: "frame.bin")
        XCTAssertEqual(a.size, 100_000)
        try c.upload(a, to: trace)
        try c.upload(try Attachment(base64: "aGVsbG8=", fileName: "hello.txt"), to: trace)

        let listed = try c.list(trace)
        XCTAssertEqual(Set(listed.map(\.fileName)), ["frame.bin", "hello.txt"])
        XCTAssertEqual(listed.first { $0.fileName == "frame.bin" }?.fileSize, 100_000)

        XCTAssertEqual(try c.download("frame.bin", from: trace), bytes)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("opik-swift-\(newId()).txt").path
        try c.download("hello.txt", from: trace, toFile: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "hello")
        try? FileManager.default.removeItem(atPath: path)

        try c.delete(["frame.bin", "hello.txt"], from: trace)
        XCTAssertEqual(try c.list(trace).count, 0)
    }

    func testErrors() throws {
        let c = try client()
        let trace = Entity.trace(newId(), project: "swift-tests")
        try c.upload(try Attachment(bytes: [1, 2, 3], fileName: "x.bin"), to: trace)
        XCTAssertThrowsError(try c.download("absent.bin", from: trace) as [UInt8]) { error in
            XCTAssertEqual((error as? OpikError)?.status, .notFound)
        }
        XCTAssertThrowsError(try c.upload(try Attachment(bytes: [1], fileName: "y.bin"), to: .trace("not-a-uuid"))) { error in
            XCTAssertEqual((error as? OpikError)?.status, .invalidArgument)
        }
        XCTAssertThrowsError(try c.download("x.bin", from: trace) { _ in false }) { error in
            XCTAssertEqual((error as? OpikError)?.status, .abortedByCallback)
        }
        XCTAssertThrowsError(try Attachment(file: "/no/such/file")) { error in
            XCTAssertEqual((error as? OpikError)?.status, .io)
        }
    }

    func testUploadAsyncCompletesOnceAndReleasesItsClosure() throws {
        final class Token {
            let onDeinit: () -> Void
            init(_ onDeinit: @escaping () -> Void) { self.onDeinit = onDeinit }
            deinit { onDeinit() }
        }
        let released = expectation(description: "closure released")
        let done = expectation(description: "completion")
        do {
            let c = try client()
            let token = Token { released.fulfill() }
            let op = try c.uploadAsync(try Attachment(bytes: [1, 2, 3], fileName: "async.bin"),
                                       to: .span(newId(), project: "swift-tests")) { result in
                _ = token
                if case .success = result { done.fulfill() }
            }
            XCTAssertTrue(op.wait(milliseconds: 30_000))
            XCTAssertEqual(op.status, .ok)
        }
        wait(for: [done, released], timeout: 30)
    }

    // Traces and spans: every field, scoped helpers, discard, refusals, counters.
    func testTracesAndSpans() throws {
        let c = try client()
        let trace = try c.trace(project: "swift-tests", name: "frame 1")
        XCTAssertEqual(trace.id.count, 36)
        try trace.setInput("\"a prompt\"")
        try trace.addTag("swift")
        try trace.setThreadID("session-1")
        XCTAssertThrowsError(try trace.setOutput("{\n  \"a\": ]\n}")) { error in
            XCTAssertEqual((error as? OpikError)?.status, .invalidArgument)
            XCTAssertTrue((error as? OpikError)?.message.contains("line 2") ?? false, "\(error)")
        }
        let llm = try trace.span("describe", type: .llm)
        try llm.setModel("gpt-4o", provider: "openai")
        try llm.setUsage(promptTokens: 10, completionTokens: 5, totalTokens: 15)
        XCTAssertThrowsError(try llm.setUsage(promptTokens: -2))
        try llm.attach(try Attachment(bytes: [0x89, 0x50, 0x4e, 0x47], fileName: "shot.png"))
        struct Refused: Error {}
        XCTAssertThrowsError(try llm.withChild("tool", type: .tool) { _ in throw Refused() })
        let dropped = try trace.span("dropped")
        dropped.discard()
        XCTAssertFalse(dropped.isActive)
        XCTAssertThrowsError(try dropped.end())
        try llm.end()
        try trace.end()
        XCTAssertThrowsError(try trace.end())
        try c.flush(milliseconds: 30_000)
        XCTAssertEqual(c.counter(.entitiesSent), 3)  // the trace, llm and the tool child
        XCTAssertEqual(c.counter(.attachmentsSent), 1)
        XCTAssertEqual(c.counter(.entitiesFailed), 0)
    }

    // Embedded media: a data-URI PNG leaves a placeholder and one SDK-named attachment, which
    // uploads like an owned one (and keeps its extraction alive).
    func testExtractEmbedded() throws {
        var png: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
        png += (0..<150).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let b64 = Data(png).base64EncodedString()
        XCTAssertGreaterThanOrEqual(b64.count, 100)
        let json = "{\"prompt\": \"what is this?\", \"image\": \"data:image/png;base64,\(b64)\"}"

        let x = try extractEmbedded(json, context: "input", minChars: 100)
        XCTAssertEqual(x.count, 1)
        let a = try XCTUnwrap(x.attachment(at: 0))
        XCTAssertNil(x.attachment(at: 1))
        XCTAssertNil(x.attachment(at: -1))
        XCTAssertNotNil(a.fileName.range(of: #"^input-attachment-[0-9]+-[0-9]+-sdk\.png$"#, options: .regularExpression),
                        a.fileName)
        XCTAssertEqual(a.contentType, "image/png")
        XCTAssertEqual(a.size, UInt64(png.count))
        XCTAssertTrue(x.json.contains("\"[\(a.fileName)]\""), x.json)
        XCTAssertFalse(x.json.contains(String(b64.prefix(40))), x.json)
        XCTAssertEqual(x.attachments.map(\.fileName), [a.fileName])

        let kept = try extractEmbedded(json, minChars: b64.count + 1000)
        XCTAssertEqual(kept.count, 0)
        XCTAssertEqual(kept.json, json)
        XCTAssertThrowsError(try extractEmbedded("{\"a\": ", minChars: 100)) { error in
            XCTAssertEqual((error as? OpikError)?.status, .invalidArgument)
            XCTAssertTrue((error as? OpikError)?.message.contains("line") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try extractEmbedded(json, minChars: -1))

        let c = try client()
        let trace = Entity.trace(newId(), project: "swift-tests")
        try c.upload(a, to: trace)
        XCTAssertEqual(try c.list(trace).map(\.fileName), [a.fileName])
        XCTAssertEqual(try c.download(a.fileName, from: trace), png)
    }

    // The log callback: retained by the options and the client, released after the client.
    func testLogCallbackLifetime() throws {
        guard ProcessInfo.processInfo.environment["OPIK_URL_OVERRIDE"] != nil else {
            throw XCTSkip("OPIK_URL_OVERRIDE is not set (run under scripts/with-test-server)")
        }
        final class Token {
            let onDeinit: () -> Void
            init(_ onDeinit: @escaping () -> Void) { self.onDeinit = onDeinit }
            deinit { onDeinit() }
        }
        let released = expectation(description: "log closure released")
        do {
            let o = Options()
            let token = Token { released.fulfill() }
            try o.setLogCallback(maxLevel: .debug) { _, _ in _ = token }
            let c = try Client(options: o)
            try c.withTrace(name: "logged") { t in try t.setInput("{}") }
            try c.flush(milliseconds: 30_000)
            XCTAssertEqual(c.counter(.entitiesSent), 1)
        }
        wait(for: [released], timeout: 30)
    }
}
