// GoogleTest suite of the C++ traces and spans (opik::Trace, opik::Span), the log callback and
// the counters, against the bundled test server. What the server received is read back through
// its test controls (GET /_test/traces, /_test/spans, /_test/attachments).
#include "support.hpp"

#include <atomic>
#include <mutex>
#include <regex>
#include <thread>
#include <type_traits>

using namespace std::chrono_literals;
using opik::Attachment;
using opik::Counter;
using opik::LogLevel;
using opik::Span;
using opik::SpanType;
using opik::Status;
using opik::Trace;

namespace {

const char *const kProject = "cpp-traces";

/// A client whose project is kProject (each test makes its own, so its counters start at 0).
opik::Client traced_client(opik::Options o = test::options()) {
  EXPECT_TRUE(o.set_project_name(kProject).ok());
  auto c = opik::Client::create(o);
  if (!c.ok()) ADD_FAILURE() << c.error().to_string();
  return std::move(c).value();
}

void flush(opik::Client &c) {
  auto r = c.flush(30s);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
}

bool is_uuid_v7(std::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < 36; i++) {
    char ch = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (ch != '-') return false;
    } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
      return false;
    }
  }
  return id[14] == '7' && std::string_view("89ab").find(id[19]) != std::string_view::npos;
}

/// File names the server holds for the entity `id`.
std::vector<std::string> attachment_names(const std::string &id) {
  std::string body;
  EXPECT_EQ(test::control("GET", "/_test/attachments", "", &body), 200);
  std::vector<std::string> names;
  const test::json::Value all = test::json::parse(body);
  for (const auto &a : all.items)
    if (a["entity_id"].s == id) names.push_back(a["file_name"].s);
  return names;
}

}  // namespace

TEST(TraceTypes, MoveOnlyOwners) {
  static_assert(!std::is_copy_constructible_v<Trace> && std::is_nothrow_move_constructible_v<Trace>);
  static_assert(!std::is_copy_assignable_v<Trace> && std::is_nothrow_move_assignable_v<Trace>);
  static_assert(!std::is_copy_constructible_v<Span> && std::is_nothrow_move_constructible_v<Span>);
  static_assert(sizeof(Trace) == sizeof(opik_trace *) && sizeof(Span) == sizeof(opik_span *));
  static_assert(std::is_same_v<decltype(std::declval<Trace &>().end()), opik::Result<void>>);
  Trace empty;
  EXPECT_FALSE(empty.active());
  EXPECT_TRUE(empty.id().empty());
  EXPECT_EQ(empty.end().status(), Status::InvalidArgument);
  EXPECT_EQ(empty.set_input("{}").status(), Status::InvalidArgument);
  EXPECT_EQ(empty.span("x").status(), Status::InvalidArgument);
  empty.discard();  // a no-op
}

// Every field set through the C++ API arrives on the server as set, in the trace and span
// creates; the attachments follow their entity; the counters count it all.
TEST(Traces, FieldsArriveOnTheServer) {
  auto c = traced_client();
  auto t = c.trace("", "frame 1");
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  Trace trace = std::move(t).value();
  ASSERT_TRUE(is_uuid_v7(trace.id())) << trace.id();
  const std::string trace_id(trace.id());
  ASSERT_TRUE(trace.set_input(R"("a prompt")").ok());
  ASSERT_TRUE(trace.set_output(R"({"answer": 42})").ok());
  ASSERT_TRUE(trace.set_metadata(R"({"engine": "cpp", "frame": 1})").ok());
  ASSERT_TRUE(trace.add_tag("game").ok());
  ASSERT_TRUE(trace.add_tag("cpp").ok());
  ASSERT_TRUE(trace.set_thread_id("session-7").ok());

  auto l = trace.span("describe the frame", SpanType::Llm);
  ASSERT_TRUE(l.ok()) << l.error().to_string();
  Span llm = std::move(l).value();
  const std::string llm_id(llm.id());
  EXPECT_TRUE(is_uuid_v7(llm_id));
  EXPECT_NE(llm_id, trace_id);
  ASSERT_TRUE(llm.set_input(R"({"prompt": "what is on screen?"})").ok());
  ASSERT_TRUE(llm.set_output(R"({"text": "a castle"})").ok());
  ASSERT_TRUE(llm.set_model("gpt-4o", "openai").ok());
  ASSERT_TRUE(llm.set_usage(120, 8, 128).ok());
  ASSERT_TRUE(llm.add_tag("vision").ok());
  const std::string shot = test::pattern(5000, 9);
  ASSERT_TRUE(llm.attach(Attachment::from_bytes(shot, "shot.png", "image/png").value()).ok());

  Span tool = llm.child("lookup", SpanType::Tool).value();
  const std::string tool_id(tool.id());
  ASSERT_TRUE(tool.set_error("KeyError", "no such item", "Traceback: lookup()").ok());
  Span general = trace.span({}).value();  // no name, the default type
  const std::string general_id(general.id());

  // Any order: the trace first, then the parent before its child.
  ASSERT_TRUE(trace.end().ok());
  EXPECT_FALSE(trace.active());
  ASSERT_TRUE(llm.end().ok());
  ASSERT_TRUE(tool.end().ok());
  ASSERT_TRUE(general.end().ok());
  flush(c);
  EXPECT_EQ(c.counter(Counter::EntitiesSent), 4u);
  EXPECT_EQ(c.counter(Counter::EntitiesFailed), 0u);
  EXPECT_EQ(c.counter(Counter::AttachmentsSent), 1u);
  EXPECT_EQ(c.counter(Counter::AttachmentsFailed), 0u);
  EXPECT_GE(c.counter(Counter::BytesSent), shot.size());

  auto tr = test::received("traces", trace_id);
  ASSERT_FALSE(tr.is_null()) << "the trace never arrived";
  EXPECT_EQ(tr["name"].s, "frame 1");
  EXPECT_EQ(tr["project_name"].s, kProject);
  EXPECT_EQ(tr["input"]["value"].s, "a prompt");  // a non-object is wrapped
  EXPECT_EQ(tr["output"]["answer"].n, 42);
  EXPECT_EQ(tr["metadata"]["engine"].s, "cpp");
  ASSERT_EQ(tr["tags"].items.size(), 2u);
  EXPECT_EQ(tr["tags"][0].s, "game");
  EXPECT_EQ(tr["tags"][1].s, "cpp");
  EXPECT_EQ(tr["thread_id"].s, "session-7");
  EXPECT_FALSE(tr["start_time"].s.empty());
  EXPECT_FALSE(tr["end_time"].s.empty());

  auto sp = test::received("spans", llm_id);
  ASSERT_FALSE(sp.is_null()) << "the llm span never arrived";
  EXPECT_EQ(sp["trace_id"].s, trace_id);
  EXPECT_TRUE(sp["parent_span_id"].is_null());
  EXPECT_EQ(sp["project_name"].s, kProject);
  EXPECT_EQ(sp["name"].s, "describe the frame");
  EXPECT_EQ(sp["type"].s, "llm");
  EXPECT_EQ(sp["model"].s, "gpt-4o");
  EXPECT_EQ(sp["provider"].s, "openai");
  EXPECT_EQ(sp["usage"]["prompt_tokens"].n, 120);
  EXPECT_EQ(sp["usage"]["completion_tokens"].n, 8);
  EXPECT_EQ(sp["usage"]["total_tokens"].n, 128);
  EXPECT_EQ(sp["input"]["prompt"].s, "what is on screen?");
  EXPECT_EQ(sp["output"]["text"].s, "a castle");
  EXPECT_EQ(sp["tags"][0].s, "vision");

  auto tl = test::received("spans", tool_id);
  ASSERT_FALSE(tl.is_null()) << "the tool span never arrived";
  EXPECT_EQ(tl["parent_span_id"].s, llm_id);
  EXPECT_EQ(tl["trace_id"].s, trace_id);
  EXPECT_EQ(tl["type"].s, "tool");
  EXPECT_EQ(tl["error_info"]["exception_type"].s, "KeyError");
  EXPECT_EQ(tl["error_info"]["message"].s, "no such item");
  EXPECT_EQ(tl["error_info"]["traceback"].s, "Traceback: lookup()");

  auto gn = test::received("spans", general_id);
  ASSERT_FALSE(gn.is_null());
  EXPECT_EQ(gn["type"].s, "general");
  EXPECT_FALSE(gn.has("name") && !gn["name"].is_null()) << "an empty name is sent as none";

  EXPECT_EQ(attachment_names(llm_id), std::vector<std::string>{"shot.png"});
  std::string got;
  ASSERT_TRUE(c.download(opik::Entity::span(llm_id, kProject), "shot.png", [&](opik::ByteView v) { got.append(v.as_chars()); }).ok());
  EXPECT_EQ(got, shot);
  EXPECT_TRUE(test::entity_log("traces")["unknown_fields"].items.empty());
  EXPECT_TRUE(test::entity_log("spans")["unknown_fields"].items.empty());
}

// A Trace or Span that goes out of scope un-ended is ended (and sent); so is the one a move
// assignment replaces.
TEST(Traces, ScopeEndEndsTheEntity) {
  auto c = traced_client();
  std::string trace_id, span_id, child_id, replaced_id;
  {
    Trace trace = c.trace("", "scoped").value();
    trace_id = trace.id();
    Span span = trace.span("outer", SpanType::General).value();
    span_id = span.id();
    ASSERT_TRUE(span.set_input(R"({"k": "v"})").ok());
    {
      Span child = span.child("inner", SpanType::Tool).value();
      child_id = child.id();
    }  // child ends here
    Trace other = c.trace("", "replaced").value();
    replaced_id = other.id();
    other = c.trace("", "replacement").value();  // "replaced" ends here
    other.discard();
  }  // span, then trace
  flush(c);
  EXPECT_EQ(c.counter(Counter::EntitiesSent), 4u);
  for (auto [kind, id] : {std::pair<const char *, std::string *>{"traces", &trace_id}, {"spans", &span_id},
                          {"spans", &child_id}, {"traces", &replaced_id}}) {
    auto e = test::received(kind, *id);
    ASSERT_FALSE(e.is_null()) << kind << " " << *id << " was not sent when it went out of scope";
    EXPECT_FALSE(e["end_time"].s.empty());
  }
  EXPECT_EQ(test::received("spans", span_id)["input"]["k"].s, "v");
  EXPECT_EQ(test::received("spans", child_id)["parent_span_id"].s, span_id);
}

// discard() drops the entity: nothing of it (nor of its attachments) reaches the server.
TEST(Traces, DiscardSendsNothing) {
  auto c = traced_client();
  Trace trace = c.trace("", "dropped").value();
  const std::string trace_id(trace.id());
  Span span = trace.span("dropped span", SpanType::Llm).value();
  const std::string span_id(span.id());
  ASSERT_TRUE(span.attach(Attachment::from_bytes("never", "never.txt").value()).ok());
  ASSERT_TRUE(trace.attach(Attachment::from_bytes("never", "never.txt").value()).ok());
  span.discard();
  trace.discard();
  EXPECT_FALSE(span.active());
  EXPECT_FALSE(trace.active());
  EXPECT_EQ(span.end().status(), Status::InvalidArgument);  // nothing left to end
  flush(c);
  EXPECT_EQ(c.counter(Counter::EntitiesSent), 0u);
  EXPECT_EQ(c.counter(Counter::AttachmentsSent), 0u);
  EXPECT_EQ(test::times_received("traces", trace_id), 0u);
  EXPECT_EQ(test::times_received("spans", span_id), 0u);
  EXPECT_TRUE(attachment_names(trace_id).empty());
  EXPECT_TRUE(attachment_names(span_id).empty());
}

// Refused values come back as Results carrying the library's reason; invalid JSON names the line
// and column of the error.
TEST(Traces, RefusedValuesCarryTheLibrarysReason) {
  auto c = traced_client();
  Trace trace = c.trace().value();
  auto r = trace.set_input("{\n  \"a\": 1,\n  \"b\": ]\n}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status(), Status::InvalidArgument);
  EXPECT_NE(r.error().message().find("line 3, column 8"), std::string_view::npos) << r.error().message();
  Span span = trace.span("s", SpanType::Llm).value();
  auto bad = span.set_metadata("{\"open\": ");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("line 1"), std::string_view::npos) << bad.error().message();
  EXPECT_NE(bad.error().message().find("column"), std::string_view::npos) << bad.error().message();
  EXPECT_EQ(span.set_output(std::string_view("\"\xff\"", 3)).status(), Status::InvalidArgument);
  EXPECT_EQ(span.set_usage(-2, std::nullopt).status(), Status::InvalidArgument);
  EXPECT_EQ(span.add_tag("").status(), Status::InvalidArgument);
  EXPECT_EQ(trace.set_error("").status(), Status::InvalidArgument);
  EXPECT_EQ(trace.set_thread_id("").status(), Status::InvalidArgument);
  EXPECT_EQ(trace.span("x", static_cast<SpanType>(7)).status(), Status::InvalidArgument);
  EXPECT_FALSE(trace.span("x", static_cast<SpanType>(7)).error().message().empty());
  EXPECT_EQ(c.trace(std::string_view("\xfe", 1)).status(), Status::InvalidArgument);
  // The handles still work after a refusal, and the refused values were not kept.
  ASSERT_TRUE(span.set_usage(std::nullopt, 3).ok());
  const std::string trace_id(trace.id()), span_id(span.id());
  ASSERT_TRUE(span.end().ok());
  ASSERT_TRUE(trace.end().ok());
  flush(c);
  auto sp = test::received("spans", span_id);
  ASSERT_FALSE(sp.is_null());
  EXPECT_FALSE(sp.has("metadata") && !sp["metadata"].is_null());
  EXPECT_EQ(sp["usage"]["completion_tokens"].n, 3);
  EXPECT_FALSE(sp["usage"].has("prompt_tokens"));
  EXPECT_FALSE(test::received("traces", trace_id).has("input"));
}

// end() reports what happened: over the queue limits the entity is not sent (TooLarge, and the
// message says so); the handle is consumed either way.
TEST(Traces, EndReportsQueueLimits) {
  opik::Options o = test::options();
  ASSERT_TRUE(o.set_queue_limits(2, 1u << 30).ok());
  auto c = traced_client(std::move(o));
  Trace a = c.trace("", "a").value(), b = c.trace("", "b").value(), d = c.trace("", "d").value();
  ASSERT_TRUE(a.end().ok());
  ASSERT_TRUE(b.end().ok());
  auto r = d.end();  // the sender waits up to 1 s to batch: a and b are still queued
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status(), Status::TooLarge);
  EXPECT_NE(r.error().message().find("not sent"), std::string_view::npos) << r.error().message();
  EXPECT_FALSE(d.active());
  flush(c);
  EXPECT_EQ(c.counter(Counter::EntitiesSent), 2u);
}

// Spans of one trace started and ended from several threads at once (span() is const).
TEST(Traces, SpansFromManyThreads) {
  auto c = traced_client();
  Trace trace = c.trace("", "threads").value();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; i++) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < 50; j++) {
        auto s = trace.span("worker " + std::to_string(i), SpanType::Tool);
        if (!s.ok() || !s.value().set_metadata("{\"j\": " + std::to_string(j) + "}").ok() || !s.value().end().ok())
          failures++;
      }
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(failures, 0);
  ASSERT_TRUE(trace.end().ok());
  flush(c);
  EXPECT_EQ(c.counter(Counter::EntitiesSent), 201u);
  EXPECT_EQ(c.counter(Counter::EntitiesFailed), 0u);
}

// A trace outliving its client: ending it then is Status::Shutdown, not a crash.
TEST(Traces, ATraceMayOutliveItsClient) {
  Trace trace;
  {
    auto c = traced_client();
    trace = c.trace("", "orphan").value();
  }
  EXPECT_EQ(trace.end().status(), Status::Shutdown);
}

// --- the log callback and the counters ---------------------------------------------------------

namespace {

struct LogLines {
  std::mutex m;
  std::vector<std::pair<LogLevel, std::string>> lines;
  bool has(LogLevel level, std::string_view needle) {
    std::lock_guard<std::mutex> lock(m);
    for (const auto &l : lines)
      if (l.first == level && l.second.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string all() {
    std::lock_guard<std::mutex> lock(m);
    std::string s;
    for (const auto &l : lines) s += std::to_string(static_cast<int>(l.first)) + " " + l.second + "\n";
    return s;
  }
};

}  // namespace

// Retries are logged at Warn and final failures at Error, with the entity id and file name, never
// the API key; the counters agree. The callable is shared by the options and the client and
// destroyed exactly once, after the client's threads are gone.
TEST(LogCallback, LinesCountersAndTheCallablesLifetime) {
  test::Counters counters;
  LogLines log;
  std::string trace_id, span_id;
  {
    opik::Client c;
    {
      opik::Options o = test::options();
      test::Tracked state(&counters);
      ASSERT_TRUE(o.set_log_callback(LogLevel::Debug, [state = std::move(state), &log](LogLevel level, std::string_view line) {
                      state.c->calls++;
                      std::lock_guard<std::mutex> lock(log.m);
                      log.lines.emplace_back(level, std::string(line));
                    }).ok());
      EXPECT_EQ(o.set_log_callback(static_cast<LogLevel>(9), [](LogLevel, std::string_view) {}).status(),
                Status::InvalidArgument);
      c = traced_client(std::move(o));
    }  // the options are gone: the client still holds the callable
    EXPECT_EQ(counters.owners_destroyed, 0);

    test::Fault refuse_traces(R"({"path_contains": "/traces/batch", "status": 400, "times": 0})");
    test::Fault retry_spans(R"({"path_contains": "/spans/batch", "status": 503, "retry_after": "0", "times": 1})");
    Trace trace = c.trace("", "refused").value();
    trace_id = trace.id();
    ASSERT_TRUE(trace.attach(Attachment::from_bytes("lost", "lost.bin").value()).ok());
    Span span = trace.span("retried").value();
    span_id = span.id();
    ASSERT_TRUE(span.end().ok());
    ASSERT_TRUE(trace.end().ok());
    flush(c);
    EXPECT_EQ(c.counter(Counter::EntitiesSent), 1u);  // the span, after one retry
    EXPECT_EQ(c.counter(Counter::EntitiesFailed), 1u);
    EXPECT_EQ(c.counter(Counter::AttachmentsFailed), 1u);
    EXPECT_GE(c.counter(Counter::Retries), 1u);
    EXPECT_TRUE(log.has(LogLevel::Error, trace_id)) << log.all();
    EXPECT_TRUE(log.has(LogLevel::Error, "lost.bin")) << log.all();
    EXPECT_TRUE(log.has(LogLevel::Warn, "HTTP 503")) << log.all();
    EXPECT_FALSE(log.has(LogLevel::Error, test::kApiKey) || log.has(LogLevel::Warn, test::kApiKey) ||
                 log.has(LogLevel::Info, test::kApiKey) || log.has(LogLevel::Debug, test::kApiKey));
    EXPECT_GE(counters.calls, 3);
    EXPECT_EQ(counters.owners_destroyed, 0);
  }  // the client: its threads joined, then the callable destroyed
  EXPECT_EQ(counters.owners_destroyed, 1);
  EXPECT_EQ(counters.calls_when_owner_destroyed, counters.calls.load());
  EXPECT_EQ(counters.constructed, counters.destroyed);
  EXPECT_EQ(test::times_received("spans", span_id), 1u) << log.all();
}

// Clearing the callback before making a client: the client never calls it.
TEST(LogCallback, ClearedCallbackIsNotCalled) {
  std::atomic<int> calls{0};
  opik::Options o = test::options();
  ASSERT_TRUE(o.set_log_callback(LogLevel::Debug, [&](LogLevel, std::string_view) { calls++; }).ok());
  ASSERT_TRUE(o.clear_log_callback().ok());
  auto c = traced_client(std::move(o));
  test::Fault refuse(R"({"path_contains": "/traces/batch", "status": 400, "times": 1})");
  ASSERT_TRUE(c.trace("", "unlogged").value().end().ok());
  flush(c);
  EXPECT_EQ(c.counter(Counter::EntitiesFailed), 1u);
  EXPECT_EQ(calls, 0);
}

namespace {

std::string base64(std::string_view bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

}  // namespace

// A data-URI PNG in the input JSON becomes one attachment named like the SDKs' and a
// placeholder; the borrowed attachment uploads with Span::attach like an owned one.
TEST(Embedded, ExtractsADataUriPngAndUploadsIt) {
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + test::pattern(150, 3);
  const std::string b64 = base64(png);
  ASSERT_GE(b64.size(), 100u);
  const std::string json = R"({"prompt": "what is this?", "image": "data:image/png;base64,)" + b64 + R"("})";

  auto r = opik::extract_embedded(json, "input", 100);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const opik::Extraction x = std::move(r).value();
  ASSERT_EQ(x.size(), 1u);
  EXPECT_FALSE(x.empty());
  const opik::AttachmentView a = x.attachment(0);
  ASSERT_TRUE(a);
  const std::string name(a.file_name());
  EXPECT_TRUE(std::regex_match(name, std::regex(R"(input-attachment-[0-9]+-[0-9]+-sdk\.png)"))) << name;
  EXPECT_EQ(a.content_type(), "image/png");
  EXPECT_EQ(a.size(), png.size());
  EXPECT_FALSE(x.attachment(1));  // out of range: an empty view
  EXPECT_NE(x.json().find("\"[" + name + "]\""), std::string_view::npos) << x.json();
  EXPECT_EQ(x.json().find(b64.substr(0, 40)), std::string_view::npos) << "the base64 is still in the JSON";
  EXPECT_NE(x.json().find("what is this?"), std::string_view::npos);

  // Shorter than min_chars: nothing taken, the JSON unchanged.
  auto kept = opik::extract_embedded(json, "input", b64.size() + 1000);
  ASSERT_TRUE(kept.ok()) << kept.error().to_string();
  EXPECT_EQ(kept.value().size(), 0u);
  EXPECT_EQ(kept.value().json(), json);

  // Not JSON: InvalidArgument naming where.
  auto bad = opik::extract_embedded("{\"a\": ", "input", 100);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status(), Status::InvalidArgument);
  EXPECT_NE(bad.error().message().find("line"), std::string_view::npos) << bad.error().message();

  // The rewritten JSON and the borrowed attachment go to the server.
  auto c = traced_client();
  Trace trace = c.trace("", "embedded").value();
  const std::string trace_id(trace.id());
  ASSERT_TRUE(trace.set_input(x.json()).ok());
  ASSERT_TRUE(trace.attach(x.attachment(0)).ok());
  ASSERT_TRUE(trace.end().ok());
  flush(c);
  EXPECT_EQ(c.counter(Counter::AttachmentsSent), 1u);
  const std::vector<std::string> names = attachment_names(trace_id);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0], name);
  auto tr = test::received("traces", trace_id);
  ASSERT_FALSE(tr.is_null()) << "the trace never arrived";
  EXPECT_EQ(tr["input"]["image"].s, "[" + name + "]");
}
