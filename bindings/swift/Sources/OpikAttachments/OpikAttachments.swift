// Swift API of opik-attachments: attach files to Opik traces and spans.
//
// A thin layer over the C API (module COpikAttachments): every handle is a final class that frees
// its C object in `deinit`; every fallible call `throws` an `OpikError` (status, message, HTTP
// status); strings and bytes are copied into the library. Threads, blocking and the meaning of
// every status are as documented in opik_attachments.h.
//
// NOT COMPILED IN THIS REPOSITORY'S CI (it has no Swift toolchain): see bindings/swift/README.md
// for what is checked (the module map and header, with clang -fmodules) and what is not.

import COpikAttachments

#if canImport(Foundation)
import Foundation
#endif

/// The status of an operation (the values of `opik_status`). Values this binding does not name
/// (from a newer library) are still representable. The numbers are the header's `OPIK_OK` /
/// `OPIK_ERR_*`; tests/status_numbers.rs fails when they disagree.
public struct OpikStatus: RawRepresentable, Hashable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let ok = OpikStatus(rawValue: 0)
    public static let invalidArgument = OpikStatus(rawValue: 1)
    public static let io = OpikStatus(rawValue: 2)
    public static let notFound = OpikStatus(rawValue: 3)
    public static let auth = OpikStatus(rawValue: 4)
    public static let http = OpikStatus(rawValue: 5)
    public static let network = OpikStatus(rawValue: 6)
    public static let timeout = OpikStatus(rawValue: 7)
    public static let cancelled = OpikStatus(rawValue: 8)
    public static let abortedByCallback = OpikStatus(rawValue: 9)
    public static let protocolError = OpikStatus(rawValue: 10)
    public static let tooLarge = OpikStatus(rawValue: 11)
    public static let config = OpikStatus(rawValue: 12)
    public static let shutdown = OpikStatus(rawValue: 13)
    public static let forked = OpikStatus(rawValue: 14)
    public static let internalError = OpikStatus(rawValue: 15)

    /// The C name, e.g. "OPIK_ERR_NOT_FOUND".
    public var description: String { String(cString: opik_status_str(rawValue)) }
}

/// What every throwing function of this module throws.
public struct OpikError: Error, CustomStringConvertible {
    public let status: OpikStatus
    /// Human-readable; never contains the API key.
    public let message: String
    /// The HTTP status the server answered with, or 0.
    public let httpStatus: Int32

    public var description: String { message.isEmpty ? status.description : "\(status): \(message)" }

    /// Copies a C error (may be nil) without freeing it.
    init(status: Int32, borrowing error: OpaquePointer?) {
        self.status = OpikStatus(rawValue: status)
        if let error = error {
            message = String(cString: opik_error_message(error))
            httpStatus = opik_error_http_status(error)
        } else {
            message = ""
            httpStatus = 0
        }
    }

    /// Copies a C error (may be nil) and frees it.
    init(status: Int32, consuming error: OpaquePointer?) {
        self.init(status: status, borrowing: error)
        opik_error_free(error)
    }

    /// An error of this binding, without a C error object.
    init(status: OpikStatus, message: String) {
        self.status = status
        self.message = message
        httpStatus = 0
    }

    static let ended = OpikError(status: .invalidArgument, message: "the trace or span was already ended or discarded")
}

/// Runs a C call taking a last `opik_error **err` and throws what it reports.
func check(_ call: (UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws {
    var error: OpaquePointer? = nil
    let status = withUnsafeMutablePointer(to: &error) { call($0) }
    if status != 0 {
        throw OpikError(status: status, consuming: error)
    }
}

/// NUL-terminated copies of Swift strings, alive until the enclosing `withCStrings` returns.
final class CStrings {
    private var owned: [UnsafeMutablePointer<CChar>] = []

    func get(_ s: String) -> UnsafePointer<CChar> {
        let utf8 = s.utf8CString
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        utf8.withUnsafeBufferPointer { buf in
            p.initialize(from: buf.baseAddress!, count: buf.count)
        }
        owned.append(p)
        return UnsafePointer(p)
    }

    /// nil stays NULL (the C default).
    func optional(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s = s else { return nil }
        return get(s)
    }

    deinit {
        for p in owned { p.deallocate() }
    }
}

func withCStrings<R>(_ body: (CStrings) throws -> R) rethrows -> R {
    let strings = CStrings()
    return try withExtendedLifetime(strings) { try body(strings) }
}

/// The version of the library loaded at run time, e.g. "0.2.0".
public var opikVersion: String { String(cString: opik_version()) }

/// A trace or a span (by its UUID), in a project (nil: the client's project).
public struct Entity: Hashable {
    public enum Kind: Int32 {
        case trace = 0
        case span = 1
    }

    public var kind: Kind
    public var id: String
    public var project: String?

    public init(kind: Kind, id: String, project: String? = nil) {
        self.kind = kind
        self.id = id
        self.project = project
    }

    public static func trace(_ id: String, project: String? = nil) -> Entity { Entity(kind: .trace, id: id, project: project) }
    public static func span(_ id: String, project: String? = nil) -> Entity { Entity(kind: .span, id: id, project: project) }
}

/// What kind of work a span is.
public enum SpanType: Int32 {
    case general = 0
    case llm = 1
    case tool = 2
    case guardrail = 3
}

/// Severity of a library log line (`Options.setLogCallback`).
public enum LogLevel: Int32 {
    /// Final failures of background work.
    case error = 0
    /// Retries, upload restarts, outbox replays.
    case warn = 1
    case info = 2
    case debug = 3
}

/// A counter of the client's background work (`Client.counter(_:)`).
public enum Counter: Int32 {
    case entitiesSent = 0
    case entitiesFailed = 1
    case attachmentsSent = 2
    case attachmentsFailed = 3
    case bytesSent = 4
    case retries = 5
}

/// The Swift side of a log callback: retained by the `Options` that set it and by every `Client`
/// made from them; passed to C unretained.
final class LogSink {
    let write: (LogLevel, String) -> Void
    init(_ write: @escaping (LogLevel, String) -> Void) { self.write = write }
}

/// Client settings. Anything not set comes from the environment (OPIK_URL_OVERRIDE, OPIK_API_KEY,
/// OPIK_WORKSPACE, OPIK_PROJECT_NAME), then ~/.opik.config, then defaults.
public final class Options {
    let raw: OpaquePointer
    /// The log callback, if any: `Client.init` retains it too.
    var logSink: LogSink?

    public init() {
        guard let raw = opik_options_new() else { fatalError("opik_options_new: out of memory") }
        self.raw = raw
    }

    deinit { opik_options_free(raw) }

    // Every setter takes the C `opik_error **`: a refused value throws the library's reason.
    public func setURL(_ url: String) throws {
        try withCStrings { c in try check { err in opik_options_set_url(raw, c.get(url), err) } }
    }
    public func setAPIKey(_ key: String) throws {
        try withCStrings { c in try check { err in opik_options_set_api_key(raw, c.get(key), err) } }
    }
    public func setWorkspace(_ workspace: String) throws {
        try withCStrings { c in try check { err in opik_options_set_workspace(raw, c.get(workspace), err) } }
    }
    public func setProjectName(_ project: String) throws {
        try withCStrings { c in try check { err in opik_options_set_project_name(raw, c.get(project), err) } }
    }
    public func setTimeout(milliseconds: UInt64) throws {
        try check { err in opik_options_set_timeout_ms(raw, milliseconds, err) }
    }
    public func setUploadConcurrency(_ partsInFlight: UInt32) throws {
        try check { err in opik_options_set_upload_concurrency(raw, partsInFlight, err) }
    }
    public func setTLSVerify(_ verify: Bool) throws {
        try check { err in opik_options_set_tls_verify(raw, verify, err) }
    }
    public func setCAFile(_ pemPath: String) throws {
        try withCStrings { c in try check { err in opik_options_set_ca_file(raw, c.get(pemPath), err) } }
    }
    public func setQueueLimits(maxQueued: UInt32, maxMemoryBytes: UInt64) throws {
        try check { err in opik_options_set_queue_limits(raw, maxQueued, maxMemoryBytes, err) }
    }
    public func setOutboxDirectory(_ dir: String) throws {
        try withCStrings { c in try check { err in opik_options_set_outbox_dir(raw, c.get(dir), err) } }
    }
    public func setShutdownTimeout(milliseconds: UInt64) throws {
        try check { err in opik_options_set_shutdown_timeout_ms(raw, milliseconds, err) }
    }

    /// Sends the library's log lines up to `maxLevel` to `write`: one line per call, without a
    /// newline, never containing the API key or a presigned query. It runs on the library's
    /// threads, possibly several at once, so it must be thread-safe. The closure is retained by
    /// these options and by every `Client` made from them, and released after the last of them
    /// (a client's threads are joined first). A later call replaces it.
    public func setLogCallback(maxLevel: LogLevel, _ write: @escaping (LogLevel, String) -> Void) throws {
        let sink = LogSink(write)
        try withExtendedLifetime(sink) {
            try check { err in
                opik_options_set_log_callback(
                    raw, maxLevel.rawValue,
                    { userData, level, message in
                        let sink = Unmanaged<LogSink>.fromOpaque(userData!).takeUnretainedValue()
                        sink.write(LogLevel(rawValue: level) ?? .debug, message.map { String(cString: $0) } ?? "")
                    },
                    Unmanaged.passUnretained(sink).toOpaque(), err)
            }
        }
        logSink = sink
    }

    /// Turns the log callback off (then `OPIK_LOG`, if set, prints to standard error).
    public func clearLogCallback() throws {
        try check { err in opik_options_set_log_callback(raw, LogLevel.error.rawValue, nil, nil, err) }
        logSink = nil
    }
}

/// A trace being recorded (`Client.trace`). Nothing is sent until `end()`, which queues it for
/// the client's background sender; no call touches the network.
///
/// Ending: call `end()` (it throws what went wrong: `.tooLarge` over the queue limits,
/// `.shutdown` when the client is closing), typically as `defer { try? trace.end() }`, or use
/// `Client.withTrace` / `withSpan`, which end on return and record a thrown error. A trace
/// released un-ended is ended by `deinit`, so nothing recorded is lost; but Swift may release an
/// object right after its last use rather than at the end of its scope, so relying on `deinit`
/// can make the end time early: end explicitly. `discard()` drops it unsent.
///
/// Use a trace from one thread at a time (`id` from any).
public final class Trace {
    private var raw: OpaquePointer?
    /// The trace's id (UUIDv7 text); kept after the trace ended.
    public let id: String

    init(raw: OpaquePointer) {
        self.raw = raw
        id = String(cString: opik_trace_id(raw))
    }

    deinit {
        if let raw = raw { _ = opik_trace_end(raw, nil) }
    }

    /// False once ended or discarded.
    public var isActive: Bool { raw != nil }

    private func handle() throws -> OpaquePointer {
        guard let raw = raw else { throw OpikError.ended }
        return raw
    }

    /// The input, as JSON text: an object is sent as is, another JSON value as `{"value": ...}`;
    /// text that is not JSON throws `.invalidArgument` naming its line and column.
    public func setInput(_ json: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_trace_set_input(h, c.get(json), err) } }
    }
    public func setOutput(_ json: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_trace_set_output(h, c.get(json), err) } }
    }
    public func setMetadata(_ json: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_trace_set_metadata(h, c.get(json), err) } }
    }
    /// Adds a tag (tags accumulate).
    public func addTag(_ tag: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_trace_add_tag(h, c.get(tag), err) } }
    }
    /// The conversation the trace belongs to.
    public func setThreadID(_ threadID: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_trace_set_thread_id(h, c.get(threadID), err) } }
    }
    /// Marks the trace as failed.
    public func setError(type exceptionType: String, message: String? = nil, traceback: String? = nil) throws {
        let h = try handle()
        try withCStrings { c in
            try check { err in opik_trace_set_error(h, c.get(exceptionType), c.optional(message), c.optional(traceback), err) }
        }
    }
    /// Uploads `attachment` to the trace in the background once the trace was sent.
    public func attach(_ attachment: Attachment) throws {
        let h = try handle()
        try check { err in opik_trace_attach(h, attachment.raw, err) }
    }

    /// Starts a top-level span of this trace.
    public func span(_ name: String? = nil, type: SpanType = .general) throws -> Span {
        let h = try handle()
        var out: OpaquePointer? = nil
        try withCStrings { c in try check { err in opik_span_start(h, nil, c.optional(name), type.rawValue, &out, err) } }
        return Span(raw: out!)
    }

    /// Runs `body` with a new top-level span, then ends it; if `body` throws, the span records the
    /// error (its type and description) before it ends, and the error is rethrown.
    @discardableResult
    public func withSpan<R>(_ name: String? = nil, type: SpanType = .general, _ body: (Span) throws -> R) throws -> R {
        try Span.scoped(try span(name, type: type), body)
    }

    /// Ends the trace (end time now) and queues it, then its attachments. The trace is finished
    /// whatever this throws; calling it again throws `.invalidArgument`.
    public func end() throws {
        let h = try handle()
        raw = nil
        try check { err in opik_trace_end(h, err) }
    }

    /// Drops the trace unsent. A no-op once ended or discarded.
    public func discard() {
        if let h = raw {
            raw = nil
            opik_trace_discard(h)
        }
    }
}

/// A span being recorded (`Trace.span`, `Span.child`). Like `Trace`: sent once ended, ended by
/// `deinit` if released un-ended (end explicitly for an exact end time), one thread at a time. A
/// span keeps its trace's and parent's ids, so spans, parents and the trace may end in any order.
public final class Span {
    private var raw: OpaquePointer?
    /// The span's id (UUIDv7 text); kept after the span ended.
    public let id: String

    init(raw: OpaquePointer) {
        self.raw = raw
        id = String(cString: opik_span_id(raw))
    }

    deinit {
        if let raw = raw { _ = opik_span_end(raw, nil) }
    }

    public var isActive: Bool { raw != nil }

    private func handle() throws -> OpaquePointer {
        guard let raw = raw else { throw OpikError.ended }
        return raw
    }

    /// See `Trace.setInput`.
    public func setInput(_ json: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_span_set_input(h, c.get(json), err) } }
    }
    public func setOutput(_ json: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_span_set_output(h, c.get(json), err) } }
    }
    public func setMetadata(_ json: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_span_set_metadata(h, c.get(json), err) } }
    }
    public func addTag(_ tag: String) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_span_add_tag(h, c.get(tag), err) } }
    }
    public func setError(type exceptionType: String, message: String? = nil, traceback: String? = nil) throws {
        let h = try handle()
        try withCStrings { c in
            try check { err in opik_span_set_error(h, c.get(exceptionType), c.optional(message), c.optional(traceback), err) }
        }
    }
    /// The model and its provider (nil: left out).
    public func setModel(_ model: String?, provider: String? = nil) throws {
        let h = try handle()
        try withCStrings { c in try check { err in opik_span_set_model(h, c.optional(model), c.optional(provider), err) } }
    }
    /// Token usage of an LLM span (nil: left out; negative: `.invalidArgument`).
    public func setUsage(promptTokens: Int64? = nil, completionTokens: Int64? = nil, totalTokens: Int64? = nil) throws {
        let h = try handle()
        for n in [promptTokens, completionTokens, totalTokens] {
            if let n = n, n < 0 { throw OpikError(status: .invalidArgument, message: "token counts must not be negative (\(n))") }
        }
        try check { err in opik_span_set_usage(h, promptTokens ?? -1, completionTokens ?? -1, totalTokens ?? -1, err) }
    }
    /// Uploads `attachment` to the span in the background once the span was sent.
    public func attach(_ attachment: Attachment) throws {
        let h = try handle()
        try check { err in opik_span_attach(h, attachment.raw, err) }
    }

    /// Starts a span under this one, in the same trace.
    public func child(_ name: String? = nil, type: SpanType = .general) throws -> Span {
        let h = try handle()
        var out: OpaquePointer? = nil
        try withCStrings { c in try check { err in opik_span_start(nil, h, c.optional(name), type.rawValue, &out, err) } }
        return Span(raw: out!)
    }

    /// Runs `body` with a new child span, then ends it (see `Trace.withSpan`).
    @discardableResult
    public func withChild<R>(_ name: String? = nil, type: SpanType = .general, _ body: (Span) throws -> R) throws -> R {
        try Span.scoped(try child(name, type: type), body)
    }

    /// See `Trace.end`.
    public func end() throws {
        let h = try handle()
        raw = nil
        try check { err in opik_span_end(h, err) }
    }

    /// Drops the span unsent. A no-op once ended or discarded.
    public func discard() {
        if let h = raw {
            raw = nil
            opik_span_discard(h)
        }
    }

    static func scoped<R>(_ span: Span, _ body: (Span) throws -> R) throws -> R {
        let result: R
        do {
            result = try body(span)
        } catch {
            if span.isActive {
                try? span.setError(type: String(describing: Swift.type(of: error)), message: String(describing: error))
                try? span.end()
            }
            throw error
        }
        if span.isActive { try span.end() }
        return result
    }
}

/// Something to upload: a file (streamed at upload time), bytes or base64 (copied). Immutable.
public final class Attachment: @unchecked Sendable {
    let raw: OpaquePointer
    /// The Extraction a borrowed attachment belongs to (nil when this object owns `raw`): kept
    /// alive as long as the attachment is.
    let owner: AnyObject?

    private init(raw: OpaquePointer) {
        self.raw = raw
        owner = nil
    }
    /// An attachment of an extraction, borrowed (never freed here).
    init(borrowed raw: OpaquePointer, owner: AnyObject) {
        self.raw = raw
        self.owner = owner
    }
    deinit {
        if owner == nil { opik_attachment_free(raw) }
    }

    /// A local file; `fileName` defaults to the path's base name, `contentType` is inferred when nil.
    public convenience init(file path: String, fileName: String? = nil, contentType: String? = nil) throws {
        var out: OpaquePointer? = nil
        try withCStrings { c in
            try check { err in opik_attachment_from_file(c.get(path), c.optional(fileName), c.optional(contentType), &out, err) }
        }
        self.init(raw: out!)
    }

    /// Bytes (copied); `fileName` is required.
    public convenience init(bytes: [UInt8], fileName: String, contentType: String? = nil) throws {
        var out: OpaquePointer? = nil
        try withCStrings { c in
            try bytes.withUnsafeBufferPointer { buf in
                try check { err in
                    opik_attachment_from_bytes(buf.baseAddress, buf.count, c.get(fileName), c.optional(contentType), &out, err)
                }
            }
        }
        self.init(raw: out!)
    }

    /// Base64 text (standard or URL-safe, padding optional, optional `data:<mime>;base64,` prefix).
    public convenience init(base64: String, fileName: String, contentType: String? = nil) throws {
        var out: OpaquePointer? = nil
        try withCStrings { c in
            try check { err in opik_attachment_from_base64(c.get(base64), c.get(fileName), c.optional(contentType), &out, err) }
        }
        self.init(raw: out!)
    }

    public var fileName: String { String(cString: opik_attachment_file_name(raw)) }
    public var contentType: String { String(cString: opik_attachment_content_type(raw)) }
    public var size: UInt64 { opik_attachment_size(raw) }
}

#if canImport(Foundation)
extension Attachment {
    /// Bytes (copied); `fileName` is required.
    public convenience init(data: Data, fileName: String, contentType: String? = nil) throws {
        try self.init(bytes: [UInt8](data), fileName: fileName, contentType: contentType)
    }
}
#endif

/// What `extractEmbedded` found: the rewritten JSON and the attachments taken out of it.
/// Immutable, usable from any thread. Its attachments keep it alive, so it may be dropped while
/// they are still being uploaded.
public final class Extraction: @unchecked Sendable {
    let raw: OpaquePointer

    init(raw: OpaquePointer) { self.raw = raw }
    deinit { opik_extraction_free(raw) }

    /// The JSON with every blob taken out replaced by "[<file name>]" (the input unchanged when
    /// nothing was found).
    public var json: String { String(cString: opik_extraction_json(raw)) }

    /// How many attachments were taken out.
    public var count: Int { Int(opik_extraction_len(raw)) }

    /// Attachment `index`, in the order of the placeholders (nil out of range), usable with
    /// `Client.upload`, `uploadAsync`, `Trace.attach` and `Span.attach`.
    public func attachment(at index: Int) -> Attachment? {
        guard index >= 0, let p = opik_extraction_attachment(raw, index) else { return nil }
        return Attachment(borrowed: p, owner: self)
    }

    /// Every attachment taken out, in the order of the placeholders.
    public var attachments: [Attachment] { (0..<count).compactMap { attachment(at: $0) } }
}

/// Moves the base64 media (optionally `data:<mime>;base64,` URIs) of at least `minChars`
/// characters found in the string values of `json` into attachments named
/// `<context>-attachment-<n>-<unix-ms>-sdk.<ext>`, leaving "[<that name>]" in their place, as
/// the Opik SDKs do. `context` is "input", "output" or "metadata"; 256000 is the SDKs' `minChars`.
/// Text that is not JSON throws `.invalidArgument` naming the line and column.
public func extractEmbedded(_ json: String, context: String = "input", minChars: Int = 256_000) throws -> Extraction {
    guard minChars >= 0 else { throw OpikError(status: .invalidArgument, message: "minChars is negative") }
    var out: OpaquePointer? = nil
    try withCStrings { c in
        try check { err in opik_extract_embedded(c.get(json), c.get(context), minChars, &out, err) }
    }
    return Extraction(raw: out!)
}

/// One listed attachment.
public struct AttachmentInfo: Hashable {
    public let fileName: String
    public let mimeType: String
    public let fileSize: UInt64
    /// A presigned storage URL or a backend URL; nil when the server gave none.
    public let link: String?
}

/// A background upload. Releasing it before the upload finished detaches: the upload goes on and
/// its completion still runs.
public final class UploadOperation: @unchecked Sendable {
    let raw: OpaquePointer

    init(raw: OpaquePointer) { self.raw = raw }
    deinit { opik_op_free(raw) }

    /// Waits until the upload finished and its completion returned; false when `milliseconds`
    /// passed first.
    @discardableResult
    public func wait(milliseconds: UInt64 = UInt64.max) -> Bool { opik_op_wait(raw, milliseconds) == 0 }

    /// The result once finished; `.timeout` while the upload runs. Never blocks.
    public var status: OpikStatus { OpikStatus(rawValue: opik_op_status(raw)) }

    /// Bytes handed to the network so far, and the total.
    public func progress() throws -> (sent: UInt64, total: UInt64) {
        var sent: UInt64 = 0
        var total: UInt64 = 0
        try check { err in opik_op_progress(raw, &sent, &total, err) }
        return (sent, total)
    }

    /// Asks the upload to stop (it completes with `.cancelled`). Idempotent.
    public func cancel() { opik_op_cancel(raw) }
}

final class DownloadSink {
    let onData: (UnsafeRawBufferPointer) -> Bool
    init(_ onData: @escaping (UnsafeRawBufferPointer) -> Bool) { self.onData = onData }
}

final class Completion {
    let onDone: (Result<Void, OpikError>) -> Void
    init(_ onDone: @escaping (Result<Void, OpikError>) -> Void) { self.onDone = onDone }
}

/// A connection to one Opik installation. Thread-safe: share one per process. Releasing it lets
/// background uploads finish (up to the shutdown timeout) and joins the library's threads.
public final class Client: @unchecked Sendable {
    let raw: OpaquePointer
    /// The options' log callback: released after `deinit` freed the C client (stored properties
    /// are released after the deinit body), so after the threads that call it are joined.
    private let logSink: LogSink?

    /// A client configured by `options` (copied, its log callback retained; nil: only the
    /// environment, the config file and defaults).
    public init(options: Options? = nil) throws {
        var out: OpaquePointer? = nil
        try withExtendedLifetime(options) {
            try check { err in opik_client_new(options?.raw, &out, err) }
        }
        raw = out!
        logSink = options?.logSink
    }

    deinit { opik_client_free(raw) }

    /// Starts a trace in `project` (nil: the client's project) named `name`, with a new UUIDv7 id
    /// and the start time now. Throws `.shutdown` once the client is closing.
    public func trace(project: String? = nil, name: String? = nil) throws -> Trace {
        var out: OpaquePointer? = nil
        try withCStrings { c in try check { err in opik_trace_start(raw, c.optional(project), c.optional(name), &out, err) } }
        return Trace(raw: out!)
    }

    /// Runs `body` with a new trace, then ends it; if `body` throws, the trace records the error
    /// before it ends, and the error is rethrown.
    @discardableResult
    public func withTrace<R>(project: String? = nil, name: String? = nil, _ body: (Trace) throws -> R) throws -> R {
        let trace = try self.trace(project: project, name: name)
        let result: R
        do {
            result = try body(trace)
        } catch {
            if trace.isActive {
                try? trace.setError(type: String(describing: Swift.type(of: error)), message: String(describing: error))
                try? trace.end()
            }
            throw error
        }
        if trace.isActive { try trace.end() }
        return result
    }

    /// The current value of a counter of the background work (monotonic; thread-safe).
    public func counter(_ which: Counter) -> UInt64 { opik_client_counter(raw, which.rawValue) }

    /// Uploads `attachment` to `entity`; blocks until the server has all of it.
    public func upload(_ attachment: Attachment, to entity: Entity) throws {
        try withCStrings { c in
            try check { err in
                opik_upload(raw, c.optional(entity.project), entity.kind.rawValue, c.get(entity.id), attachment.raw, err)
            }
        }
    }

    /// Every attachment of `entity` (all pages).
    public func list(_ entity: Entity) throws -> [AttachmentInfo] {
        var out: OpaquePointer? = nil
        try withCStrings { c in
            try check { err in opik_list(raw, c.optional(entity.project), entity.kind.rawValue, c.get(entity.id), &out, err) }
        }
        defer { opik_attachment_list_free(out) }
        return (0..<opik_attachment_list_len(out)).map { i in
            AttachmentInfo(
                fileName: String(cString: opik_attachment_list_file_name(out, i)),
                mimeType: String(cString: opik_attachment_list_mime_type(out, i)),
                fileSize: opik_attachment_list_file_size(out, i),
                link: opik_attachment_list_link(out, i).map { String(cString: $0) })
        }
    }

    /// Streams the attachment `fileName` to `onData`, on this thread. `onData` receives chunks
    /// borrowed for the call and returns false to stop (then this throws `.abortedByCallback`).
    public func download(_ fileName: String, from entity: Entity, mimeType: String? = nil,
                         onData: (UnsafeRawBufferPointer) -> Bool) throws {
        try withoutActuallyEscaping(onData) { escapable in
            let sink = DownloadSink(escapable)
            try withExtendedLifetime(sink) {
                try withCStrings { c in
                    try check { err in
                        opik_download(
                            raw, c.optional(entity.project), entity.kind.rawValue, c.get(entity.id), c.get(fileName),
                            c.optional(mimeType),
                            { userData, chunk, len in
                                let sink = Unmanaged<DownloadSink>.fromOpaque(userData!).takeUnretainedValue()
                                return sink.onData(UnsafeRawBufferPointer(start: chunk, count: len)) ? 0 : 1
                            },
                            Unmanaged.passUnretained(sink).toOpaque(), err)
                    }
                }
            }
        }
    }

    /// The whole attachment `fileName`, in memory.
    public func download(_ fileName: String, from entity: Entity, mimeType: String? = nil) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try download(fileName, from: entity, mimeType: mimeType) { chunk in
            bytes.append(contentsOf: chunk)
            return true
        }
        return bytes
    }

    /// Downloads into `path` atomically (a temporary file renamed into place on success).
    public func download(_ fileName: String, from entity: Entity, toFile path: String, mimeType: String? = nil) throws {
        try withCStrings { c in
            try check { err in
                opik_download_to_file(raw, c.optional(entity.project), entity.kind.rawValue, c.get(entity.id), c.get(fileName),
                                      c.optional(mimeType), c.get(path), err)
            }
        }
    }

    /// Deletes the named attachments (names that do not exist are not an error).
    public func delete(_ fileNames: [String], from entity: Entity) throws {
        try withCStrings { c in
            let names: [UnsafePointer<CChar>?] = fileNames.map { c.get($0) }
            try names.withUnsafeBufferPointer { buf in
                try check { err in
                    opik_delete(raw, c.optional(entity.project), entity.kind.rawValue, c.get(entity.id), buf.baseAddress, buf.count, err)
                }
            }
        }
    }

    /// Queues an upload and returns at once. `onDone` runs exactly once, on the library's callback
    /// thread (success, failure, cancel or client shutdown), and is then released, on that thread.
    /// If queueing fails it never runs and this throws.
    @discardableResult
    public func uploadAsync(_ attachment: Attachment, to entity: Entity,
                            onDone: @escaping (Result<Void, OpikError>) -> Void = { _ in }) throws -> UploadOperation {
        let context = Unmanaged.passRetained(Completion(onDone)).toOpaque()
        var op: OpaquePointer? = nil
        do {
            try withCStrings { c in
                try check { err in
                    opik_upload_async(
                        raw, c.optional(entity.project), entity.kind.rawValue, c.get(entity.id), attachment.raw,
                        { userData, status, error in
                            let completion = Unmanaged<Completion>.fromOpaque(userData!).takeUnretainedValue()
                            completion.onDone(status == 0 ? .success(()) : .failure(OpikError(status: status, borrowing: error)))
                        },
                        context,
                        { userData in Unmanaged<Completion>.fromOpaque(userData!).release() },
                        &op, err)
                }
            }
        } catch {
            Unmanaged<Completion>.fromOpaque(context).release()  // refused: never handed over
            throw error
        }
        return UploadOperation(raw: op!)
    }

    /// Waits until every background upload accepted so far finished and its completion returned;
    /// throws `.timeout` (with the number pending) when `milliseconds` passed first.
    public func flush(milliseconds: UInt64) throws { try check { err in opik_client_flush(raw, milliseconds, err) } }

    /// Background uploads accepted and not yet completed.
    public var pending: Int { Int(opik_client_pending(raw)) }
}
