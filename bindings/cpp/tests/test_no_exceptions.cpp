// The C++ API compiled with -fno-exceptions (as game engines build): the header must not throw
// anywhere, and every operation, error path and callback works the same.
#include "support.hpp"

#if OPIK_HPP_EXCEPTIONS
#error "this file must be compiled with -fno-exceptions"
#endif

using namespace std::chrono_literals;
using opik::Attachment;
using opik::Entity;
using opik::Status;

TEST(NoExceptions, RoundTripErrorsAndCallbacks) {
  auto c = test::client();
  const auto trace = Entity::trace(test::uuid(), "cpp-noexcept");
  const std::string content = test::pattern(70000, 5);
  const std::string path = test::write_temp_file("noexcept.bin", content);

  auto file = Attachment::from_file(path, "noexcept.bin");
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  ASSERT_TRUE(c.upload(trace, file.value()).ok());
  ASSERT_TRUE(c.upload(trace, Attachment::from_base64("aGVsbG8=", "hello.txt").value()).ok());

  auto list = c.list(trace);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.value().size(), 2u);

  std::string got;
  ASSERT_TRUE(c.download(trace, "noexcept.bin", [&](opik::ByteView v) { got.append(v.as_chars()); }).ok());
  EXPECT_EQ(got, content);
  const std::string dest = test::Server::instance->dir + "/noexcept-dest.bin";
  ASSERT_TRUE(c.download_to_file(trace, "hello.txt", dest).ok());
  EXPECT_EQ(test::read_file(dest), "hello");

  EXPECT_EQ(c.download(trace, "noexcept.bin", [](const uint8_t *, size_t) { return false; }).status(),
            Status::AbortedByCallback);
  EXPECT_EQ(c.download(trace, "absent.bin", [](const uint8_t *, size_t) { return true; }).status(), Status::NotFound);
  EXPECT_EQ(c.upload(Entity::trace("nope", "cpp-noexcept"), file.value()).status(), Status::InvalidArgument);
  EXPECT_EQ(test::client("wrong-key").list(trace).status(), Status::Auth);

  ASSERT_TRUE(c.remove(trace, {"noexcept.bin", "hello.txt"}).ok());
  EXPECT_TRUE(c.list(trace).value().empty());
}

TEST(NoExceptions, UploadAsyncReleasesTheCallableOnce) {
  test::Counters counters;
  {
    auto c = test::client();
    test::Tracked state(&counters);
    auto op = c.upload_async(Entity::span(test::uuid(), "cpp-noexcept"), Attachment::from_bytes("abc", "a.txt").value(),
                             [state = std::move(state)](Status s, opik::ErrorView) {
                               if (s == Status::Ok) state.c->calls++;
                             });
    ASSERT_TRUE(op.ok());
    EXPECT_EQ(op.value().wait(30s), Status::Ok);
    EXPECT_EQ(op.value().status(), Status::Ok);
  }
  EXPECT_EQ(counters.calls, 1);
  EXPECT_EQ(counters.owners_destroyed, 1);
  EXPECT_EQ(counters.constructed, counters.destroyed);
}

// Traces and spans without exceptions: RAII ending, discard, refusals as Results, the log
// callback and the counters.
TEST(NoExceptions, TracesSpansAndTheLogCallback) {
  std::atomic<int> lines{0};  // the trampoline instantiated without exceptions; LogCallback tests count lines
  opik::Options o = test::options();
  ASSERT_TRUE(o.set_project_name("cpp-noexcept").ok());
  ASSERT_TRUE(o.set_log_callback(opik::LogLevel::Debug, [&](opik::LogLevel, std::string_view) { lines++; }).ok());
  auto c = opik::Client::create(o).value();
  std::string trace_id, span_id, dropped_id;
  {
    opik::Trace trace = c.trace({}, "noexcept").value();
    trace_id = trace.id();
    opik::Span span = trace.span("llm", opik::SpanType::Llm).value();
    span_id = span.id();
    ASSERT_TRUE(span.set_model("m", "p").ok());
    ASSERT_TRUE(span.set_usage(1, 2, 3).ok());
    ASSERT_TRUE(span.attach(Attachment::from_bytes("png?", "shot.png").value()).ok());
    auto bad = span.set_input("[1,");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message().find("column"), std::string_view::npos);
    opik::Span dropped = span.child("dropped").value();
    dropped_id = dropped.id();
    dropped.discard();
  }  // span and trace end here
  ASSERT_TRUE(c.flush(30s).ok());
  EXPECT_EQ(c.counter(opik::Counter::EntitiesSent), 2u);
  EXPECT_EQ(c.counter(opik::Counter::AttachmentsSent), 1u);
  EXPECT_EQ(test::received("traces", trace_id)["name"].s, "noexcept");
  EXPECT_EQ(test::received("spans", span_id)["usage"]["total_tokens"].n, 3);
  EXPECT_EQ(test::times_received("spans", dropped_id), 0u);
}

OPIK_TEST_MAIN()
