// opik_attachments.hpp — C++17 API of opik-attachments: attach files to Opik traces and spans.
//
// Header-only, over the C API in opik_attachments.h (link libopik_attachments as for C). It adds
// ownership and types, nothing else:
//
//  - Every handle (Client, Options, Attachment, AttachmentList, Op, Error) is a move-only owner
//    built on std::unique_ptr with the C free function as deleter. get() lends the C pointer for
//    calls into the C API; release() gives up ownership; the constructor taking a raw pointer
//    adopts one.
//  - Nothing here throws: fallible calls return a [[nodiscard]] Result<T> holding either a T or an
//    Error (status, message, HTTP status). It works in code built with -fno-exceptions. value() on
//    an error result prints the error and calls std::abort(): check ok() first.
//  - Strings in are std::string_view (copied, so they need not be NUL-terminated). An empty
//    optional string means "not given" (NULL in C: the default). Strings out are std::string_view
//    borrowed from the object that returned them, valid until it is destroyed.
//  - Callbacks are any callable. Download callbacks run on the calling thread; an exception they
//    throw (when exceptions are enabled) stops the download and is rethrown by download() once the
//    library has returned. upload_async's completion runs on the library's callback thread and
//    must not throw (as in std::thread, an escaping exception calls std::terminate).
//  - Trace and Span record a trace or a span (Client::trace, Trace::span, Span::child). They are
//    RAII owners too, but their destructor *ends* the entity (queues it for sending), so a span
//    that goes out of scope un-ended is still logged; discard() drops one unsent, end() ends it
//    and reports the result. Setters return Result<void> with the library's reason (invalid JSON
//    names its line and column). Nothing they do touches the network on the calling thread.
//  - Threads, blocking and the meaning of every status are as documented in opik_attachments.h.
//
//   auto client = opik::Client::create();                 // config from OPIK_* env vars
//   if (!client.ok()) { std::cerr << client.error().to_string() << '\n'; return 1; }
//   auto shot = opik::Attachment::from_file("frame-0042.png");
//   auto done = client.value().upload(opik::Entity::span(span_id, "my-game"), shot.value());
//
//   auto trace = client.value().trace("my-game", "frame 42").value();
//   auto llm = trace.span("describe the frame", opik::SpanType::Llm).value();
//   llm.set_input(R"({"prompt": "what is on screen?"})").value();
//   llm.attach(shot.value()).value();          // uploaded after the span was sent
//   // llm and trace end when they go out of scope (or call end() to see the result)

#ifndef OPIK_ATTACHMENTS_HPP
#define OPIK_ATTACHMENTS_HPP

#include "opik_attachments.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#include <exception>
#define OPIK_HPP_EXCEPTIONS 1
#else
#define OPIK_HPP_EXCEPTIONS 0
#endif

namespace opik {

/// The status of an operation (the values of opik_status). Values this header does not name
/// (from a newer library) are still representable.
enum class Status : int32_t {
  Ok = OPIK_OK,
  InvalidArgument = OPIK_ERR_INVALID_ARGUMENT,
  Io = OPIK_ERR_IO,
  NotFound = OPIK_ERR_NOT_FOUND,
  Auth = OPIK_ERR_AUTH,
  Http = OPIK_ERR_HTTP,
  Network = OPIK_ERR_NETWORK,
  Timeout = OPIK_ERR_TIMEOUT,
  Cancelled = OPIK_ERR_CANCELLED,
  AbortedByCallback = OPIK_ERR_ABORTED_BY_CALLBACK,
  Protocol = OPIK_ERR_PROTOCOL,
  TooLarge = OPIK_ERR_TOO_LARGE,
  Config = OPIK_ERR_CONFIG,
  Shutdown = OPIK_ERR_SHUTDOWN,
  Forked = OPIK_ERR_FORKED,
  Internal = OPIK_ERR_INTERNAL,
};

/// The status's C name, e.g. "OPIK_ERR_IO" ("OPIK_ERR_UNKNOWN" for values it does not know).
inline const char *status_name(Status s) noexcept { return opik_status_str(static_cast<int32_t>(s)); }

/// What an attachment belongs to.
enum class EntityType : int32_t {
  Trace = OPIK_ENTITY_TRACE,
  Span = OPIK_ENTITY_SPAN,
};

/// What kind of work a span is.
enum class SpanType : int32_t {
  General = OPIK_SPAN_GENERAL,
  Llm = OPIK_SPAN_LLM,
  Tool = OPIK_SPAN_TOOL,
  Guardrail = OPIK_SPAN_GUARDRAIL,
};

/// Severity of a library log line (Options::set_log_callback).
enum class LogLevel : int32_t {
  Error = OPIK_LOG_ERROR,  ///< final failures of background work
  Warn = OPIK_LOG_WARN,    ///< retries, upload restarts, outbox replays
  Info = OPIK_LOG_INFO,
  Debug = OPIK_LOG_DEBUG,
};

/// A counter of the client's background work (Client::counter).
enum class Counter : int32_t {
  EntitiesSent = OPIK_COUNTER_ENTITIES_SENT,
  EntitiesFailed = OPIK_COUNTER_ENTITIES_FAILED,
  AttachmentsSent = OPIK_COUNTER_ATTACHMENTS_SENT,
  AttachmentsFailed = OPIK_COUNTER_ATTACHMENTS_FAILED,
  BytesSent = OPIK_COUNTER_BYTES_SENT,
  Retries = OPIK_COUNTER_RETRIES,
};

/// The version of the library loaded at run time, e.g. "0.2.0".
inline std::string_view version() noexcept { return opik_version(); }

namespace detail {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T *p) const noexcept {
    Free(p);
  }
};

template <typename T, auto Free>
using Owned = std::unique_ptr<T, Deleter<Free>>;

inline std::string_view view(const char *s) noexcept { return s ? std::string_view(s) : std::string_view(); }

/// A NUL-terminated copy of a string_view for the C API. With `empty_is_null`, an empty view
/// becomes NULL ("not given").
class CString {
 public:
  explicit CString(std::string_view s, bool empty_is_null = false) : s_(s), null_(empty_is_null && s.empty()) {}
  const char *get() const noexcept { return null_ ? nullptr : s_.c_str(); }

 private:
  std::string s_;
  bool null_;
};

/// An optional string argument: empty means NULL.
inline CString opt(std::string_view s) { return CString(s, true); }

[[noreturn]] inline void fail(const char *what, Status s, std::string_view message) noexcept {
  std::fprintf(stderr, "opik: %s (%s: %.*s)\n", what, status_name(s), static_cast<int>(message.size()),
               message.data());
  std::abort();
}

}  // namespace detail

/// A borrowed view of a failure (or of a success, when status() is Ok): what an upload_async
/// completion receives. Valid only during the call it was passed to.
class ErrorView {
 public:
  ErrorView(Status status, const opik_error *raw) noexcept : status_(status), raw_(raw) {}
  Status status() const noexcept { return status_; }
  /// The message; empty on success.
  std::string_view message() const noexcept { return raw_ ? detail::view(opik_error_message(raw_)) : std::string_view(); }
  /// The HTTP status the server answered with, or 0.
  int32_t http_status() const noexcept { return raw_ ? opik_error_http_status(raw_) : 0; }
  /// True for a success (as Result::ok()).
  bool ok() const noexcept { return status_ == Status::Ok; }
  const opik_error *get() const noexcept { return raw_; }

 private:
  Status status_;
  const opik_error *raw_;
};

/// A failure: its status, a message and the HTTP status. Owns the C error object the C function
/// made (every fallible C function makes one, the option setters included). An Error made from a
/// status alone (opik_op_wait and opik_op_status return no error object) has the status name as
/// its message.
class Error {
 public:
  /// Adopts `raw` (may be null) for a failure with status `status`.
  Error(Status status, opik_error *raw) noexcept : status_(status), raw_(raw) {}
  explicit Error(Status status) noexcept : status_(status) {}
  /// Adopts a non-null C error.
  explicit Error(opik_error *raw) noexcept : status_(static_cast<Status>(opik_error_status(raw))), raw_(raw) {}

  Status status() const noexcept { return status_; }
  std::string_view message() const noexcept {
    return raw_ ? detail::view(opik_error_message(raw_.get())) : std::string_view(status_name(status_));
  }
  int32_t http_status() const noexcept { return raw_ ? opik_error_http_status(raw_.get()) : 0; }
  /// "OPIK_ERR_AUTH: <message> (HTTP 401)".
  std::string to_string() const {
    std::string s = status_name(status_);
    if (raw_) s.append(": ").append(message());
    if (int32_t http = http_status()) s.append(" (HTTP ").append(std::to_string(http)).append(")");
    return s;
  }
  ErrorView view() const noexcept { return ErrorView(status_, raw_.get()); }

  const opik_error *get() const noexcept { return raw_.get(); }
  opik_error *release() noexcept { return raw_.release(); }

 private:
  Status status_;
  detail::Owned<opik_error, opik_error_free> raw_;
};

/// Either a T or an Error. Never throws: value() on an error prints it and aborts, so test ok()
/// (or the result itself, in a condition) first.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  /// Status::Ok or the error's status.
  Status status() const noexcept { return ok() ? Status::Ok : std::get_if<1>(&v_)->status(); }

  T &value() & noexcept { return *std::get_if<0>(&check_value()); }
  const T &value() const & noexcept { return *std::get_if<0>(&check_value()); }
  T &&value() && noexcept { return std::move(*std::get_if<0>(&check_value())); }

  /// The error; calling it on a success aborts.
  const Error &error() const & noexcept { return *std::get_if<1>(&check_error()); }
  Error &error() & noexcept { return *std::get_if<1>(&check_error()); }
  Error &&error() && noexcept { return std::move(*std::get_if<1>(&check_error())); }

 private:
  using Storage = std::variant<T, Error>;
  Storage &check_value() const noexcept {
    if (!ok()) {
      const Error &e = *std::get_if<1>(&v_);
      detail::fail("value() called on a failed Result", e.status(), e.message());
    }
    return const_cast<Storage &>(v_);
  }
  Storage &check_error() const noexcept {
    if (ok()) detail::fail("error() called on a successful Result", Status::Ok, {});
    return const_cast<Storage &>(v_);
  }
  Storage v_;
};

/// Success, or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() noexcept = default;
  Result(Error error) : e_(std::move(error)) {}

  bool ok() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  Status status() const noexcept { return e_ ? e_->status() : Status::Ok; }
  /// Aborts on an error (for symmetry with Result<T>: "this must have worked").
  void value() const noexcept {
    if (e_) detail::fail("value() called on a failed Result", e_->status(), e_->message());
  }
  const Error &error() const & noexcept { return check_error(); }
  Error &error() & noexcept { return check_error(); }
  Error &&error() && noexcept { return std::move(check_error()); }

 private:
  Error &check_error() const noexcept {
    if (!e_) detail::fail("error() called on a successful Result", Status::Ok, {});
    return const_cast<Error &>(*e_);
  }
  std::optional<Error> e_;
};

namespace detail {

/// Turns a C status (and the error it produced, adopted here) into a Result<void>.
inline Result<void> check(opik_status s, opik_error *err = nullptr) {
  if (s == OPIK_OK) {
    opik_error_free(err);  // never set on success; harmless either way
    return {};
  }
  return Error(static_cast<Status>(s), err);
}

}  // namespace detail

/// An entity an attachment belongs to: a trace or a span (its UUID), in a project (empty: the
/// client's project, from Options::set_project_name, OPIK_PROJECT_NAME or "Default Project").
struct Entity {
  EntityType type;
  std::string id;
  std::string project;

  static Entity trace(std::string_view id, std::string_view project = {}) {
    return Entity{EntityType::Trace, std::string(id), std::string(project)};
  }
  static Entity span(std::string_view id, std::string_view project = {}) {
    return Entity{EntityType::Span, std::string(id), std::string(project)};
  }
};

namespace detail {

template <typename F>
void log_trampoline(void *user_data, opik_log_level level, const char *message) noexcept {
  static_assert(std::is_invocable_v<F &, LogLevel, std::string_view>,
                "a log callback takes (opik::LogLevel, std::string_view)");
  (*static_cast<F *>(user_data))(static_cast<LogLevel>(level), view(message));
}

/// Keeps a log callable alive for good: what release() does when the C object it hands over may
/// still call it.
inline void leak(std::shared_ptr<void> &keep) noexcept {
  if (keep) (void)new std::shared_ptr<void>(std::move(keep));
}

}  // namespace detail

class Client;

/// Client settings (see opik_options in opik_attachments.h). Anything not set comes from the
/// environment, then ~/.opik.config, then defaults. A setter refusing a value returns an Error
/// with the library's reason (e.g. the accepted range).
class Options {
 public:
  Options() noexcept : raw_(opik_options_new()) {}
  explicit Options(opik_options *raw) noexcept : raw_(raw) {}

  Result<void> set_url(std::string_view url) {
    return set([&](opik_error **err) { return opik_options_set_url(get(), detail::CString(url).get(), err); });
  }
  Result<void> set_api_key(std::string_view key) {
    return set([&](opik_error **err) { return opik_options_set_api_key(get(), detail::CString(key).get(), err); });
  }
  Result<void> set_workspace(std::string_view workspace) {
    return set([&](opik_error **err) { return opik_options_set_workspace(get(), detail::CString(workspace).get(), err); });
  }
  Result<void> set_project_name(std::string_view project) {
    return set([&](opik_error **err) { return opik_options_set_project_name(get(), detail::CString(project).get(), err); });
  }
  Result<void> set_timeout(std::chrono::milliseconds timeout) {
    return set([&](opik_error **err) { return opik_options_set_timeout_ms(get(), ms(timeout), err); });
  }
  Result<void> set_upload_concurrency(uint32_t parts_in_flight) {
    return set([&](opik_error **err) { return opik_options_set_upload_concurrency(get(), parts_in_flight, err); });
  }
  Result<void> set_tls_verify(bool verify) {
    return set([&](opik_error **err) { return opik_options_set_tls_verify(get(), verify, err); });
  }
  Result<void> set_ca_file(std::string_view pem_path) {
    return set([&](opik_error **err) { return opik_options_set_ca_file(get(), detail::CString(pem_path).get(), err); });
  }
  Result<void> set_queue_limits(uint32_t max_queued, uint64_t max_memory_bytes) {
    return set([&](opik_error **err) { return opik_options_set_queue_limits(get(), max_queued, max_memory_bytes, err); });
  }
  Result<void> set_outbox_dir(std::string_view dir) {
    return set([&](opik_error **err) { return opik_options_set_outbox_dir(get(), detail::CString(dir).get(), err); });
  }
  Result<void> set_shutdown_timeout(std::chrono::milliseconds timeout) {
    return set([&](opik_error **err) { return opik_options_set_shutdown_timeout_ms(get(), ms(timeout), err); });
  }

  /// Sends the library's log lines up to `max_level` to `fn`, any callable taking
  /// (LogLevel, std::string_view) — the line, borrowed for the call, without a newline, never
  /// holding the API key or a presigned query. It runs on the library's threads, possibly on
  /// several at once (make it thread-safe), and must not throw (std::terminate). It is moved to
  /// the heap and shared by these options and every Client made from them: it is destroyed when
  /// the last of them is, after that client's threads were joined. A later call replaces it.
  template <typename F>
  Result<void> set_log_callback(LogLevel max_level, F &&fn) {
    using Fn = std::decay_t<F>;
    auto boxed = std::make_shared<Fn>(std::forward<F>(fn));
    Result<void> r = set([&](opik_error **err) {
      return opik_options_set_log_callback(get(), static_cast<opik_log_level>(max_level), &detail::log_trampoline<Fn>,
                                           boxed.get(), err);
    });
    if (r.ok()) log_ = std::move(boxed);  // refused: the previous callback (if any) stays
    return r;
  }
  /// Turns the log callback off (then OPIK_LOG, if set, prints to standard error).
  Result<void> clear_log_callback() {
    Result<void> r = set([&](opik_error **err) {
      return opik_options_set_log_callback(get(), OPIK_LOG_ERROR, nullptr, nullptr, err);
    });
    if (r.ok()) log_.reset();
    return r;
  }

  opik_options *get() const noexcept { return raw_.get(); }
  /// Gives up the C options. A log callback they hold is then never destroyed (the C side may
  /// still call it).
  opik_options *release() noexcept {
    detail::leak(log_);
    return raw_.release();
  }

 private:
  friend class Client;
  static uint64_t ms(std::chrono::milliseconds d) noexcept { return d.count() < 0 ? 0 : static_cast<uint64_t>(d.count()); }
  /// Runs one C setter with an error out-parameter: a refused value comes with the library's reason.
  template <typename F>
  static Result<void> set(F &&setter) {
    opik_error *err = nullptr;
    opik_status s = setter(&err);
    return detail::check(s, err);
  }
  detail::Owned<opik_options, opik_options_free> raw_;
  std::shared_ptr<void> log_;  // the log callable, if any
};

/// A borrowed, non-owning view of an attachment: what Extraction::attachment returns, and what
/// every function taking an attachment accepts (an Attachment converts to one implicitly). Valid
/// as long as the object it was taken from.
class AttachmentView {
 public:
  AttachmentView() noexcept = default;
  explicit AttachmentView(const opik_attachment *raw) noexcept : raw_(raw) {}

  std::string_view file_name() const noexcept { return detail::view(opik_attachment_file_name(raw_)); }
  std::string_view content_type() const noexcept { return detail::view(opik_attachment_content_type(raw_)); }
  uint64_t size() const noexcept { return opik_attachment_size(raw_); }
  /// False for an empty view (an index out of range).
  explicit operator bool() const noexcept { return raw_ != nullptr; }

  const opik_attachment *get() const noexcept { return raw_; }

 private:
  const opik_attachment *raw_ = nullptr;
};

/// Something to upload: a file (streamed at upload time), bytes or base64 (copied). Immutable;
/// may be uploaded any number of times, from any thread.
class Attachment {
 public:
  Attachment() noexcept = default;
  explicit Attachment(opik_attachment *raw) noexcept : raw_(raw) {}

  /// A local file. `file_name` defaults to the path's base name; `content_type` is inferred
  /// when empty. A missing or unreadable file is Status::Io.
  static Result<Attachment> from_file(std::string_view path, std::string_view file_name = {},
                                      std::string_view content_type = {}) {
    opik_attachment *out = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_attachment_from_file(detail::CString(path).get(), detail::opt(file_name).get(),
                                              detail::opt(content_type).get(), &out, &err);
    return adopt(s, out, err);
  }

  /// `len` bytes at `data`, copied. `file_name` is required.
  static Result<Attachment> from_bytes(const void *data, size_t len, std::string_view file_name,
                                       std::string_view content_type = {}) {
    opik_attachment *out = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_attachment_from_bytes(static_cast<const uint8_t *>(data), len, detail::CString(file_name).get(),
                                               detail::opt(content_type).get(), &out, &err);
    return adopt(s, out, err);
  }
  static Result<Attachment> from_bytes(std::string_view data, std::string_view file_name,
                                       std::string_view content_type = {}) {
    return from_bytes(data.data(), data.size(), file_name, content_type);
  }

  /// Base64 text (standard or URL-safe, padding optional, optional `data:<mime>;base64,` prefix).
  static Result<Attachment> from_base64(std::string_view base64, std::string_view file_name,
                                        std::string_view content_type = {}) {
    opik_attachment *out = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_attachment_from_base64(detail::CString(base64).get(), detail::CString(file_name).get(),
                                                detail::opt(content_type).get(), &out, &err);
    return adopt(s, out, err);
  }

  std::string_view file_name() const noexcept { return detail::view(opik_attachment_file_name(get())); }
  std::string_view content_type() const noexcept { return detail::view(opik_attachment_content_type(get())); }
  uint64_t size() const noexcept { return opik_attachment_size(get()); }

  const opik_attachment *get() const noexcept { return raw_.get(); }
  opik_attachment *release() noexcept { return raw_.release(); }
  /// A borrowed view (valid while this Attachment lives).
  AttachmentView view() const noexcept { return AttachmentView(get()); }
  operator AttachmentView() const noexcept { return view(); }

 private:
  static Result<Attachment> adopt(opik_status s, opik_attachment *out, opik_error *err) {
    if (s != OPIK_OK) return Error(static_cast<Status>(s), err);
    return Attachment(out);
  }
  detail::Owned<opik_attachment, opik_attachment_free> raw_;
};

/// One listed attachment; the strings are borrowed from the AttachmentList.
struct AttachmentInfo {
  std::string_view file_name;
  std::string_view mime_type;
  uint64_t file_size;
  /// A presigned storage URL or a backend URL; empty when the server gave none.
  std::string_view link;
};

/// The attachments of one entity, as listed. Immutable; iterable.
class AttachmentList {
 public:
  AttachmentList() noexcept = default;
  explicit AttachmentList(opik_attachment_list *raw) noexcept : raw_(raw) {}

  size_t size() const noexcept { return opik_attachment_list_len(get()); }
  bool empty() const noexcept { return size() == 0; }
  /// Entry `i` (< size()).
  AttachmentInfo operator[](size_t i) const noexcept {
    const opik_attachment_list *l = get();
    return AttachmentInfo{detail::view(opik_attachment_list_file_name(l, i)), detail::view(opik_attachment_list_mime_type(l, i)),
                          opik_attachment_list_file_size(l, i), detail::view(opik_attachment_list_link(l, i))};
  }
  /// The entry named `file_name`, if any.
  std::optional<AttachmentInfo> find(std::string_view file_name) const noexcept {
    for (size_t i = 0, n = size(); i < n; i++)
      if (detail::view(opik_attachment_list_file_name(get(), i)) == file_name) return (*this)[i];
    return std::nullopt;
  }

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = AttachmentInfo;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = AttachmentInfo;
    iterator(const AttachmentList *l, size_t i) noexcept : l_(l), i_(i) {}
    AttachmentInfo operator*() const noexcept { return (*l_)[i_]; }
    iterator &operator++() noexcept {
      ++i_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator old = *this;
      ++i_;
      return old;
    }
    bool operator==(const iterator &o) const noexcept { return i_ == o.i_ && l_ == o.l_; }
    bool operator!=(const iterator &o) const noexcept { return !(*this == o); }

   private:
    const AttachmentList *l_;
    size_t i_;
  };
  iterator begin() const noexcept { return iterator(this, 0); }
  iterator end() const noexcept { return iterator(this, size()); }

  const opik_attachment_list *get() const noexcept { return raw_.get(); }
  opik_attachment_list *release() noexcept { return raw_.release(); }

 private:
  detail::Owned<opik_attachment_list, opik_attachment_list_free> raw_;
};

/// Bytes handed to a download callback, borrowed for the call.
struct ByteView {
  const uint8_t *data;
  size_t size;
  const uint8_t *begin() const noexcept { return data; }
  const uint8_t *end() const noexcept { return data + size; }
  std::string_view as_chars() const noexcept { return std::string_view(reinterpret_cast<const char *>(data), size); }
};

/// Bytes of a background upload handed to the network so far, and its total size.
struct Progress {
  uint64_t bytes_sent;
  uint64_t bytes_total;
};

/// A background upload (from Client::upload_async). Destroying it before the upload finished
/// detaches: the upload goes on and its completion still runs.
class Op {
 public:
  Op() noexcept = default;
  explicit Op(opik_op *raw) noexcept : raw_(raw) {}

  /// Waits until the upload finished and its completion returned: Status::Ok then (the result is
  /// status()), Status::Timeout when `timeout` passed first.
  Status wait(std::chrono::milliseconds timeout) noexcept {
    return static_cast<Status>(opik_op_wait(get(), timeout.count() < 0 ? 0 : static_cast<uint64_t>(timeout.count())));
  }
  /// Waits without a time limit.
  Status wait() noexcept { return static_cast<Status>(opik_op_wait(get(), UINT64_MAX)); }
  /// The result once finished; Status::Timeout while it runs. Never blocks.
  Status status() const noexcept { return static_cast<Status>(opik_op_status(get())); }
  Result<Progress> progress() const {
    Progress p{0, 0};
    opik_error *err = nullptr;
    opik_status s = opik_op_progress(get(), &p.bytes_sent, &p.bytes_total, &err);
    if (s != OPIK_OK) return Error(static_cast<Status>(s), err);
    return p;
  }
  /// Asks the upload to stop (it then completes with Status::Cancelled). Idempotent, and safe from
  /// any thread while others use the same Op (const, like opik_op_cancel).
  void cancel() const noexcept { opik_op_cancel(get()); }

  opik_op *get() const noexcept { return raw_.get(); }
  opik_op *release() noexcept { return raw_.release(); }

 private:
  detail::Owned<opik_op, opik_op_free> raw_;
};

namespace detail {

template <typename F>
struct Download {
  F *fn;
#if OPIK_HPP_EXCEPTIONS
  std::exception_ptr exception;
#endif
};

template <typename R>
constexpr void check_continue_type() {
  static_assert(std::is_void_v<R> || std::is_same_v<R, bool>,
                "a download callback returns bool (true: go on, false: stop) or void");
}

template <typename F>
bool call_on_data(F &fn, const uint8_t *chunk, size_t len) {
  if constexpr (std::is_invocable_v<F &, const uint8_t *, size_t>) {
    using R = std::invoke_result_t<F &, const uint8_t *, size_t>;
    check_continue_type<R>();
    if constexpr (std::is_void_v<R>) {
      fn(chunk, len);
      return true;
    } else {
      return fn(chunk, len);
    }
  } else {
    static_assert(std::is_invocable_v<F &, ByteView>,
                  "a download callback takes (const uint8_t *data, size_t len) or (opik::ByteView)");
    using R = std::invoke_result_t<F &, ByteView>;
    check_continue_type<R>();
    if constexpr (std::is_void_v<R>) {
      fn(ByteView{chunk, len});
      return true;
    } else {
      return fn(ByteView{chunk, len});
    }
  }
}

template <typename F>
int32_t on_data_trampoline(void *user_data, const uint8_t *chunk, size_t len) noexcept {
  auto *d = static_cast<Download<F> *>(user_data);
#if OPIK_HPP_EXCEPTIONS
  try {
    return call_on_data(*d->fn, chunk, len) ? 0 : 1;
  } catch (...) {
    d->exception = std::current_exception();
    return 1;
  }
#else
  return call_on_data(*d->fn, chunk, len) ? 0 : 1;
#endif
}

template <typename F>
void on_done_trampoline(void *user_data, opik_status status, const opik_error *err) noexcept {
  F &fn = *static_cast<F *>(user_data);
  if constexpr (std::is_invocable_v<F &, Status, ErrorView>) {
    fn(static_cast<Status>(status), ErrorView(static_cast<Status>(status), err));
  } else {
    static_assert(std::is_invocable_v<F &, Status>,
                  "an upload_async completion takes (opik::Status, opik::ErrorView) or (opik::Status)");
    fn(static_cast<Status>(status));
  }
}

template <typename F>
void delete_trampoline(void *user_data) noexcept {
  delete static_cast<F *>(user_data);
}

}  // namespace detail

namespace detail {

// The deleters of Trace and Span: going out of scope ends the entity (the result is dropped: a
// failure is counted and logged by the library, see Client::counter and set_log_callback).
inline void end_trace_quietly(opik_trace *t) noexcept { (void)opik_trace_end(t, nullptr); }
inline void end_span_quietly(opik_span *s) noexcept { (void)opik_span_end(s, nullptr); }

/// Runs one C call with an error out-parameter.
template <typename F>
Result<void> call(F &&f) {
  opik_error *err = nullptr;
  opik_status s = f(&err);
  return check(s, err);
}

/// Token counts for the C API: not given is -1 ("leave out").
inline int64_t count(std::optional<int64_t> n) noexcept { return n ? *n : -1; }

}  // namespace detail

class Span;

/// A trace being recorded (Client::trace). Move-only; used by one thread at a time, except id()
/// and span(), which are const and may be called from any thread. Its destructor ends a trace
/// that was neither ended nor discarded. A moved-from or ended Trace is empty: id() is empty
/// and every call fails with Status::InvalidArgument.
class Trace {
 public:
  Trace() noexcept = default;
  /// Adopts a C trace (it is ended when this object is destroyed).
  explicit Trace(opik_trace *raw) noexcept : raw_(raw) {}

  /// The trace's id (UUIDv7 text), borrowed from this object: valid until it ends.
  std::string_view id() const noexcept { return detail::view(opik_trace_id(get())); }
  /// True until end(), discard() or release().
  bool active() const noexcept { return raw_ != nullptr; }
  explicit operator bool() const noexcept { return active(); }

  /// Input, output and metadata as JSON text: an object is sent as is, another JSON value as
  /// {"value": ...}; text that is not JSON is Status::InvalidArgument with its line and column.
  Result<void> set_input(std::string_view json) {
    return detail::call([&](opik_error **e) { return opik_trace_set_input(get(), detail::CString(json).get(), e); });
  }
  Result<void> set_output(std::string_view json) {
    return detail::call([&](opik_error **e) { return opik_trace_set_output(get(), detail::CString(json).get(), e); });
  }
  Result<void> set_metadata(std::string_view json) {
    return detail::call([&](opik_error **e) { return opik_trace_set_metadata(get(), detail::CString(json).get(), e); });
  }
  /// Adds a tag (tags accumulate).
  Result<void> add_tag(std::string_view tag) {
    return detail::call([&](opik_error **e) { return opik_trace_add_tag(get(), detail::CString(tag).get(), e); });
  }
  /// The conversation the trace belongs to.
  Result<void> set_thread_id(std::string_view thread_id) {
    return detail::call([&](opik_error **e) { return opik_trace_set_thread_id(get(), detail::CString(thread_id).get(), e); });
  }
  /// Marks the trace as failed (message and traceback optional).
  Result<void> set_error(std::string_view exception_type, std::string_view message = {}, std::string_view traceback = {}) {
    return detail::call([&](opik_error **e) {
      return opik_trace_set_error(get(), detail::CString(exception_type).get(), detail::opt(message).get(),
                                  detail::opt(traceback).get(), e);
    });
  }
  /// Uploads `a` to the trace in the background once the trace was sent; `a` may be destroyed
  /// right after.
  Result<void> attach(AttachmentView a) {
    return detail::call([&](opik_error **e) { return opik_trace_attach(get(), a.get(), e); });
  }

  /// Starts a top-level span of this trace (`name` empty: none).
  inline Result<Span> span(std::string_view name, SpanType type = SpanType::General) const;

  /// Ends the trace (end time now) and queues it for sending, then its attachments. The C
  /// handle is consumed whatever the result: this object is empty afterwards. Status::TooLarge
  /// over the queue limits (not sent), Status::Shutdown when the client is closing.
  Result<void> end() {
    return detail::call([&](opik_error **e) { return opik_trace_end(raw_.release(), e); });
  }
  /// Drops the trace: nothing of it is sent. A no-op on an empty Trace.
  void discard() noexcept { opik_trace_discard(raw_.release()); }

  opik_trace *get() const noexcept { return raw_.get(); }
  /// Gives up the C handle without ending it.
  opik_trace *release() noexcept { return raw_.release(); }

 private:
  detail::Owned<opik_trace, detail::end_trace_quietly> raw_;
};

/// A span being recorded (Trace::span, Span::child). Like Trace: move-only, ended by its
/// destructor unless ended or discarded, one thread at a time except id() and child(). A span
/// keeps its trace's and parent's ids, so spans, their parents and the trace may end in any
/// order.
class Span {
 public:
  Span() noexcept = default;
  /// Adopts a C span (it is ended when this object is destroyed).
  explicit Span(opik_span *raw) noexcept : raw_(raw) {}

  std::string_view id() const noexcept { return detail::view(opik_span_id(get())); }
  bool active() const noexcept { return raw_ != nullptr; }
  explicit operator bool() const noexcept { return active(); }

  /// See Trace::set_input.
  Result<void> set_input(std::string_view json) {
    return detail::call([&](opik_error **e) { return opik_span_set_input(get(), detail::CString(json).get(), e); });
  }
  Result<void> set_output(std::string_view json) {
    return detail::call([&](opik_error **e) { return opik_span_set_output(get(), detail::CString(json).get(), e); });
  }
  Result<void> set_metadata(std::string_view json) {
    return detail::call([&](opik_error **e) { return opik_span_set_metadata(get(), detail::CString(json).get(), e); });
  }
  Result<void> add_tag(std::string_view tag) {
    return detail::call([&](opik_error **e) { return opik_span_add_tag(get(), detail::CString(tag).get(), e); });
  }
  Result<void> set_error(std::string_view exception_type, std::string_view message = {}, std::string_view traceback = {}) {
    return detail::call([&](opik_error **e) {
      return opik_span_set_error(get(), detail::CString(exception_type).get(), detail::opt(message).get(),
                                 detail::opt(traceback).get(), e);
    });
  }
  /// The model and its provider (an empty provider is left out).
  Result<void> set_model(std::string_view model, std::string_view provider = {}) {
    return detail::call([&](opik_error **e) {
      return opik_span_set_model(get(), detail::opt(model).get(), detail::opt(provider).get(), e);
    });
  }
  /// Token usage (an LLM span); a count not given is left out, a negative one other than -1 is
  /// Status::InvalidArgument.
  Result<void> set_usage(std::optional<int64_t> prompt_tokens, std::optional<int64_t> completion_tokens,
                         std::optional<int64_t> total_tokens = std::nullopt) {
    return detail::call([&](opik_error **e) {
      return opik_span_set_usage(get(), detail::count(prompt_tokens), detail::count(completion_tokens),
                                 detail::count(total_tokens), e);
    });
  }
  /// See Trace::attach.
  Result<void> attach(AttachmentView a) {
    return detail::call([&](opik_error **e) { return opik_span_attach(get(), a.get(), e); });
  }

  /// Starts a child span of this one, in the same trace.
  Result<Span> child(std::string_view name, SpanType type = SpanType::General) const {
    return start(nullptr, get(), name, type);
  }

  /// See Trace::end.
  Result<void> end() {
    return detail::call([&](opik_error **e) { return opik_span_end(raw_.release(), e); });
  }
  void discard() noexcept { opik_span_discard(raw_.release()); }

  opik_span *get() const noexcept { return raw_.get(); }
  opik_span *release() noexcept { return raw_.release(); }

 private:
  friend class Trace;
  static Result<Span> start(const opik_trace *t, const opik_span *parent, std::string_view name, SpanType type) {
    opik_span *out = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_span_start(t, parent, detail::opt(name).get(), static_cast<opik_span_type>(type), &out, &err);
    if (s != OPIK_OK) return Error(static_cast<Status>(s), err);
    return Span(out);
  }
  detail::Owned<opik_span, detail::end_span_quietly> raw_;
};

inline Result<Span> Trace::span(std::string_view name, SpanType type) const { return Span::start(get(), nullptr, name, type); }

/// What extract_embedded found: the rewritten JSON and the attachments taken out of it.
/// Move-only owner of the C extraction; immutable, so its const functions may be called from
/// any thread. Keep it alive until the uploads that use its attachments returned.
class Extraction {
 public:
  Extraction() noexcept = default;
  /// Adopts a C extraction.
  explicit Extraction(opik_extraction *raw) noexcept : raw_(raw) {}

  /// The JSON with every blob taken out replaced by "[<file name>]" (the input unchanged when
  /// nothing was found); borrowed from this object.
  std::string_view json() const noexcept { return detail::view(opik_extraction_json(get())); }
  /// How many attachments were taken out.
  size_t size() const noexcept { return opik_extraction_len(get()); }
  bool empty() const noexcept { return size() == 0; }
  /// Attachment `i`, in the order of the placeholders, borrowed from this object: pass it to
  /// Client::upload, upload_async, Trace::attach or Span::attach. An empty view when `i` is out
  /// of range.
  AttachmentView attachment(size_t i) const noexcept { return AttachmentView(opik_extraction_attachment(get(), i)); }

  const opik_extraction *get() const noexcept { return raw_.get(); }
  opik_extraction *release() noexcept { return raw_.release(); }

 private:
  detail::Owned<opik_extraction, opik_extraction_free> raw_;
};

/// Moves the base64 media (optionally `data:<mime>;base64,` URIs) of at least `min_chars`
/// characters found in the string values of `json` into attachments named
/// `<context>-attachment-<n>-<unix-ms>-sdk.<ext>`, as the Opik SDKs do. `context` is "input",
/// "output" or "metadata"; 256000 is the SDKs' `min_chars`. Text that is not JSON is
/// Status::InvalidArgument naming the line and column.
inline Result<Extraction> extract_embedded(std::string_view json, std::string_view context = "input",
                                           size_t min_chars = 256000) {
  opik_extraction *out = nullptr;
  opik_error *err = nullptr;
  opik_status s = opik_extract_embedded(detail::CString(json).get(), detail::CString(context).get(), min_chars, &out, &err);
  if (s != OPIK_OK) return Error(static_cast<Status>(s), err);
  return Extraction(out);
}

/// A connection to one Opik installation. Fully thread-safe: share one per process. Destroying
/// it lets background uploads finish (up to the shutdown timeout) and joins every thread.
class Client {
 public:
  Client() noexcept = default;
  explicit Client(opik_client *raw) noexcept : raw_(raw) {}
  Client(Client &&) noexcept = default;
  /// Frees the client this one held first (joining its threads), then its log callable.
  Client &operator=(Client &&o) noexcept {
    raw_ = std::move(o.raw_);
    log_ = std::move(o.log_);
    return *this;
  }

  /// A client configured by `options` (copied, the log callback shared), then the environment,
  /// config file and defaults.
  static Result<Client> create(const Options &options) {
    Result<Client> r = create_from(options.get());
    if (r.ok()) r.value().log_ = options.log_;
    return r;
  }
  /// A client configured by the environment (OPIK_URL_OVERRIDE, OPIK_API_KEY, ...), the config
  /// file and defaults.
  static Result<Client> create() { return create_from(nullptr); }

  /// Uploads `attachment` to `entity`; blocks until the server has all of it.
  Result<void> upload(const Entity &entity, AttachmentView attachment) {
    opik_error *err = nullptr;
    opik_status s = opik_upload(get(), detail::opt(entity.project).get(), type(entity), detail::CString(entity.id).get(),
                                attachment.get(), &err);
    return detail::check(s, err);
  }

  /// Every attachment of `entity` (all pages).
  Result<AttachmentList> list(const Entity &entity) {
    opik_attachment_list *out = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_list(get(), detail::opt(entity.project).get(), type(entity), detail::CString(entity.id).get(), &out, &err);
    if (s != OPIK_OK) return Error(static_cast<Status>(s), err);
    return AttachmentList(out);
  }

  /// Streams the attachment `file_name` (of MIME type `mime_type`, unless empty) to `on_data`, on
  /// this thread. `on_data` is any callable taking (const uint8_t *, size_t) or (ByteView) and
  /// returning void (always go on) or bool (false stops the download: Status::AbortedByCallback).
  template <typename F>
  Result<void> download(const Entity &entity, std::string_view file_name, F &&on_data, std::string_view mime_type = {}) {
    using Fn = std::remove_reference_t<F>;
    detail::Download<Fn> d{&on_data};
    opik_error *err = nullptr;
    opik_status s = opik_download(get(), detail::opt(entity.project).get(), type(entity), detail::CString(entity.id).get(),
                                  detail::CString(file_name).get(), detail::opt(mime_type).get(),
                                  &detail::on_data_trampoline<Fn>, &d, &err);
#if OPIK_HPP_EXCEPTIONS
    if (d.exception) {
      opik_error_free(err);
      std::rethrow_exception(d.exception);
    }
#endif
    return detail::check(s, err);
  }

  /// Downloads into `dest_path` atomically (a temporary file renamed into place on success).
  Result<void> download_to_file(const Entity &entity, std::string_view file_name, std::string_view dest_path,
                                std::string_view mime_type = {}) {
    opik_error *err = nullptr;
    opik_status s = opik_download_to_file(get(), detail::opt(entity.project).get(), type(entity), detail::CString(entity.id).get(),
                                          detail::CString(file_name).get(), detail::opt(mime_type).get(),
                                          detail::CString(dest_path).get(), &err);
    return detail::check(s, err);
  }

  /// Deletes the named attachments of `entity` (names that do not exist are not an error).
  /// `file_names` is any range of things convertible to std::string_view.
  template <typename Range>
  Result<void> remove(const Entity &entity, const Range &file_names) {
    std::vector<std::string> owned;
    for (const auto &name : file_names) owned.emplace_back(std::string_view(name));
    std::vector<const char *> ptrs;
    ptrs.reserve(owned.size());
    for (const auto &name : owned) ptrs.push_back(name.c_str());
    opik_error *err = nullptr;
    opik_status s = opik_delete(get(), detail::opt(entity.project).get(), type(entity), detail::CString(entity.id).get(),
                                ptrs.empty() ? nullptr : ptrs.data(), ptrs.size(), &err);
    return detail::check(s, err);
  }
  Result<void> remove(const Entity &entity, std::initializer_list<std::string_view> file_names) {
    return remove<std::initializer_list<std::string_view>>(entity, file_names);
  }

  /// Queues an upload and returns at once (no network I/O, no file reads on this thread); the
  /// attachment may be destroyed right after. `on_done` — any callable taking (Status, ErrorView)
  /// or (Status) — is moved to the heap and runs exactly once on the library's callback thread
  /// (success, failure, cancel or client shutdown), then is destroyed exactly once, on that thread.
  /// If queueing fails it never runs and is destroyed before this returns.
  template <typename F>
  Result<Op> upload_async(const Entity &entity, AttachmentView attachment, F &&on_done) {
    using Fn = std::decay_t<F>;
    std::unique_ptr<Fn> boxed(new Fn(std::forward<F>(on_done)));
    opik_op *op = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_upload_async(get(), detail::opt(entity.project).get(), type(entity), detail::CString(entity.id).get(),
                                      attachment.get(), &detail::on_done_trampoline<Fn>, boxed.get(),
                                      &detail::delete_trampoline<Fn>, &op, &err);
    if (s != OPIK_OK) return Error(static_cast<Status>(s), err);  // `boxed` still ours: deleted here
    boxed.release();  // now the library's: delete_trampoline frees it
    return Op(op);
  }
  /// Queues an upload with no completion callback.
  Result<Op> upload_async(const Entity &entity, AttachmentView attachment) {
    opik_op *op = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_upload_async(get(), detail::opt(entity.project).get(), type(entity), detail::CString(entity.id).get(),
                                      attachment.get(), nullptr, nullptr, nullptr, &op, &err);
    if (s != OPIK_OK) return Error(static_cast<Status>(s), err);
    return Op(op);
  }

  /// Waits until every background upload accepted so far finished and its completion returned;
  /// Status::Timeout (with the number pending in the message) when `timeout` passed first.
  Result<void> flush(std::chrono::milliseconds timeout) {
    opik_error *err = nullptr;
    opik_status s = opik_client_flush(get(), timeout.count() < 0 ? 0 : static_cast<uint64_t>(timeout.count()), &err);
    return detail::check(s, err);
  }
  /// Background uploads accepted and not yet completed.
  size_t pending() const noexcept { return opik_client_pending(get()); }

  /// Starts a trace in `project` (empty: the client's project) named `name` (empty: none), with a
  /// new UUIDv7 id and the start time now. Nothing is sent before it ends. The Trace may outlive
  /// this Client (ending it then gives Status::Shutdown).
  Result<Trace> trace(std::string_view project = {}, std::string_view name = {}) {
    opik_trace *out = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_trace_start(get(), detail::opt(project).get(), detail::opt(name).get(), &out, &err);
    if (s != OPIK_OK) return Error(static_cast<Status>(s), err);
    return Trace(out);
  }

  /// The current value of a counter of the background work (monotonic; thread-safe).
  uint64_t counter(Counter which) const noexcept { return opik_client_counter(get(), static_cast<opik_counter>(which)); }

  opik_client *get() const noexcept { return raw_.get(); }
  /// Gives up the C client. A log callback it uses is then never destroyed.
  opik_client *release() noexcept {
    detail::leak(log_);
    return raw_.release();
  }

 private:
  static Result<Client> create_from(const opik_options *options) {
    opik_client *out = nullptr;
    opik_error *err = nullptr;
    opik_status s = opik_client_new(options, &out, &err);
    if (s != OPIK_OK) return Error(static_cast<Status>(s), err);
    return Client(out);
  }
  static opik_entity_type type(const Entity &e) noexcept { return static_cast<opik_entity_type>(e.type); }
  // Declared first, destroyed last: the client's threads (which call the log callable) are
  // joined before the callable goes.
  std::shared_ptr<void> log_;
  detail::Owned<opik_client, opik_client_free> raw_;
};

}  // namespace opik

#endif  // OPIK_ATTACHMENTS_HPP
