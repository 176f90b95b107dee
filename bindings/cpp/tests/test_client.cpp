// GoogleTest suite of the C++ API (opik_attachments.hpp) against the bundled test server:
// every operation, the error paths, callbacks of every accepted shape, and the ownership of
// upload_async's callable (runs once, destroyed once, on the library's thread).
#include "support.hpp"

#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <type_traits>

using namespace std::chrono_literals;
using opik::Attachment;
using opik::Entity;
using opik::Status;

namespace {

const char *const kProject = "cpp-tests";

std::string collect(opik::Client &c, const Entity &e, const std::string &name) {
  std::string got;
  auto r = c.download(e, name, [&](const uint8_t *data, size_t len) {
    got.append(reinterpret_cast<const char *>(data), len);
    return true;
  });
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return got;
}

}  // namespace

// --- the types ---------------------------------------------------------------------------------

TEST(Types, HandlesAreMoveOnlyOwners) {
  static_assert(!std::is_copy_constructible_v<opik::Client> && std::is_nothrow_move_constructible_v<opik::Client>);
  static_assert(!std::is_copy_constructible_v<opik::Options> && std::is_nothrow_move_constructible_v<opik::Options>);
  static_assert(!std::is_copy_constructible_v<Attachment> && std::is_nothrow_move_constructible_v<Attachment>);
  static_assert(!std::is_copy_constructible_v<opik::AttachmentList>);
  static_assert(!std::is_copy_constructible_v<opik::Op> && std::is_nothrow_move_constructible_v<opik::Op>);
  static_assert(!std::is_copy_constructible_v<opik::Error> && std::is_nothrow_move_constructible_v<opik::Error>);
  static_assert(std::is_same_v<decltype(std::declval<opik::Client &>().get()), opik_client *>);
  static_assert(sizeof(opik::Options) == sizeof(opik_options *) + sizeof(std::shared_ptr<void>) &&
                    sizeof(opik::Client) == sizeof(opik_client *) + sizeof(std::shared_ptr<void>),
                "a handle is one pointer, plus the shared log callable for Options and Client");
  static_assert(sizeof(opik::Attachment) == sizeof(opik_attachment *) && sizeof(opik::Op) == sizeof(opik_op *));
  SUCCEED();
}

TEST(Types, VersionAndStatusNames) {
  char expected[32];
  std::snprintf(expected, sizeof expected, "%d.%d.%d", OPIK_VERSION_MAJOR, OPIK_VERSION_MINOR, OPIK_VERSION_PATCH);
  EXPECT_EQ(opik::version(), expected);
  EXPECT_STREQ(opik::status_name(Status::NotFound), "OPIK_ERR_NOT_FOUND");
  EXPECT_STREQ(opik::status_name(Status::AbortedByCallback), "OPIK_ERR_ABORTED_BY_CALLBACK");
  EXPECT_STREQ(opik::status_name(static_cast<Status>(9999)), "OPIK_ERR_UNKNOWN");
  EXPECT_EQ(static_cast<int32_t>(Status::Internal), OPIK_ERR_INTERNAL);
}

TEST(Types, ResultHoldsAValueOrAnError) {
  opik::Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(static_cast<bool>(good));
  EXPECT_EQ(good.value(), 42);
  EXPECT_EQ(good.status(), Status::Ok);

  opik::Result<int> bad = opik::Error(Status::Timeout);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status(), Status::Timeout);
  EXPECT_EQ(bad.error().message(), "OPIK_ERR_TIMEOUT");  // no C error object: the status name
  EXPECT_EQ(bad.error().http_status(), 0);

  opik::Result<void> done;
  EXPECT_TRUE(done.ok());
  opik::Result<void> failed = opik::Error(Status::Io);
  EXPECT_EQ(failed.status(), Status::Io);
}

TEST(TypesDeathTest, ValueOfAFailedResultAborts) {
  // Death tests run first (GoogleTest orders *DeathTest suites first), before any client made
  // threads, so the default fork-based style is safe.
  EXPECT_DEATH(
      {
        opik::Result<int> r = opik::Error(Status::NotFound);
        std::printf("%d\n", r.value());
      },
      "value\\(\\) called on a failed Result \\(OPIK_ERR_NOT_FOUND");
  EXPECT_DEATH(
      {
        opik::Result<void> r;
        (void)r.error();
      },
      "error\\(\\) called on a successful Result");
}

// --- options and client ------------------------------------------------------------------------

TEST(Options, InvalidValuesAreErrors) {
  opik::Options o;
  ASSERT_NE(o.get(), nullptr);
  EXPECT_EQ(o.set_upload_concurrency(0).status(), Status::InvalidArgument);
  EXPECT_EQ(o.set_timeout(0ms).status(), Status::InvalidArgument);
  EXPECT_EQ(o.set_queue_limits(0, 1).status(), Status::InvalidArgument);
  EXPECT_EQ(o.set_url(std::string_view("\xff", 1)).status(), Status::InvalidArgument);
  EXPECT_TRUE(o.set_upload_concurrency(8).ok());
  EXPECT_TRUE(o.set_timeout(30s).ok());
  EXPECT_TRUE(o.set_tls_verify(true).ok());
  EXPECT_TRUE(o.set_shutdown_timeout(1s).ok());
}

// A refused value carries the library's reason (the C setters take an opik_error **), not a
// message the wrapper made up from the status.
TEST(Options, RefusedValuesCarryTheLibrarysReason) {
  opik::Options o;
  auto expect_reason = [](const opik::Result<void> &r, const char *what) {
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status(), Status::InvalidArgument) << what;
    EXPECT_NE(r.error().get(), nullptr) << what << ": no C error object";
    EXPECT_FALSE(r.error().message().empty()) << what;
    EXPECT_NE(r.error().message(), "OPIK_ERR_INVALID_ARGUMENT") << what << ": the status name, not a reason";
    EXPECT_EQ(r.error().to_string().rfind("OPIK_ERR_INVALID_ARGUMENT: ", 0), 0u) << r.error().to_string();
  };
  expect_reason(o.set_upload_concurrency(65), "set_upload_concurrency(65)");
  expect_reason(o.set_timeout(0ms), "set_timeout(0ms)");
  expect_reason(o.set_queue_limits(0, 1), "set_queue_limits(0, 1)");
  expect_reason(o.set_url(std::string_view("\xff", 1)), "set_url(invalid UTF-8)");
  auto r = o.set_upload_concurrency(65);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("65"), std::string_view::npos) << r.error().message();
}

TEST(Client, BadUrlSchemeIsAConfigError) {
  opik::Options o;
  ASSERT_TRUE(o.set_url("ftp://127.0.0.1/").ok());
  auto c = opik::Client::create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().status(), Status::Config);
  EXPECT_FALSE(c.error().message().empty());
}

TEST(Client, NoUrlAnywhereIsAConfigError) {
  // Only this test touches the environment; it restores what it changed.
  const char *names[] = {"OPIK_URL_OVERRIDE", "OPIK_API_KEY", "OPIK_CONFIG_PATH"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  for (const char *n : names) {
    const char *v = std::getenv(n);
    saved.emplace_back(n, v ? std::optional<std::string>(v) : std::nullopt);
  }
  unsetenv("OPIK_URL_OVERRIDE");
  unsetenv("OPIK_API_KEY");
  setenv("OPIK_CONFIG_PATH", (test::Server::instance->dir + "/no-such.config").c_str(), 1);
  auto c = opik::Client::create();
  for (auto &[n, v] : saved) {
    if (v) setenv(n.c_str(), v->c_str(), 1);
    else unsetenv(n.c_str());
  }
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().status(), Status::Config);
}

// --- attachments -------------------------------------------------------------------------------

TEST(Attachment, FromBytesInfersTheContentType) {
  const std::string png("\x89PNG\r\n\x1a\n\0\0\0\0", 12);
  auto a = Attachment::from_bytes(png, "pixel.png");
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(a.value().file_name(), "pixel.png");
  EXPECT_EQ(a.value().content_type(), "image/png");
  EXPECT_EQ(a.value().size(), 12u);

  auto noext = Attachment::from_bytes(png.data(), png.size(), "pixel", "application/x-mine");
  ASSERT_TRUE(noext.ok());
  EXPECT_EQ(noext.value().content_type(), "application/x-mine");
}

TEST(Attachment, MissingFileIsAnIoError) {
  auto a = Attachment::from_file(test::Server::instance->dir + "/does-not-exist.bin");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().status(), Status::Io);
  EXPECT_NE(a.error().message().find("does-not-exist.bin"), std::string_view::npos) << a.error().message();
}

TEST(Attachment, MalformedBase64IsAnInvalidArgument) {
  auto a = Attachment::from_base64("not base64 at all!", "x.bin");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().status(), Status::InvalidArgument);
}

TEST(Attachment, FileNameIsRequiredForBytes) {
  auto a = Attachment::from_bytes("abc", "");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status(), Status::InvalidArgument);
}

// --- blocking operations -----------------------------------------------------------------------

TEST(Blocking, FileUploadListDownloadBothWaysAndDelete) {
  auto c = test::client();
  const auto trace = Entity::trace(test::uuid(), kProject);
  const std::string content = test::pattern(200 * 1024 + 17);
  const std::string path = test::write_temp_file("report.bin", content);

  auto file = Attachment::from_file(path);
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  EXPECT_EQ(file.value().file_name(), "report.bin");  // the path's base name
  EXPECT_EQ(file.value().size(), content.size());
  auto up = c.upload(trace, file.value());
  ASSERT_TRUE(up.ok()) << up.error().to_string();

  auto list = c.list(trace);
  ASSERT_TRUE(list.ok()) << list.error().to_string();
  ASSERT_EQ(list.value().size(), 1u);
  opik::AttachmentInfo info = list.value()[0];
  EXPECT_EQ(info.file_name, "report.bin");
  EXPECT_EQ(info.file_size, content.size());
  EXPECT_EQ(info.mime_type, "application/octet-stream");
  size_t iterated = 0;
  for (const opik::AttachmentInfo &a : list.value()) iterated += a.file_name == "report.bin";
  EXPECT_EQ(iterated, 1u);
  EXPECT_TRUE(list.value().find("report.bin").has_value());
  EXPECT_FALSE(list.value().find("other.bin").has_value());

  // Streamed to a callable taking (pointer, length), and to one taking a ByteView.
  EXPECT_EQ(collect(c, trace, "report.bin"), content);
  std::string viewed;
  size_t chunks = 0;
  auto r = c.download(trace, "report.bin", [&](opik::ByteView chunk) {
    viewed.append(chunk.as_chars());
    chunks++;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(viewed, content);
  EXPECT_GE(chunks, 1u);

  // With a matching and a non-matching MIME type.
  std::function<bool(const uint8_t *, size_t)> count = [&](const uint8_t *, size_t len) {
    chunks += len;
    return true;
  };
  EXPECT_TRUE(c.download(trace, "report.bin", count, "application/octet-stream").ok());
  EXPECT_EQ(c.download(trace, "report.bin", count, "image/png").status(), Status::NotFound);

  const std::string dest = test::Server::instance->dir + "/downloaded.bin";
  auto to_file = c.download_to_file(trace, "report.bin", dest);
  ASSERT_TRUE(to_file.ok()) << to_file.error().to_string();
  EXPECT_EQ(test::read_file(dest), content);

  auto del = c.remove(trace, {"report.bin", "never-uploaded.bin"});
  ASSERT_TRUE(del.ok()) << del.error().to_string();
  auto after = c.list(trace);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after.value().empty());
}

TEST(Blocking, BytesAndBase64ToASpan) {
  auto c = test::client();
  const auto span = Entity::span(test::uuid(), kProject);
  const std::string bytes = test::pattern(4096, 7);
  auto a = Attachment::from_bytes(bytes.data(), bytes.size(), "frame.raw", "application/octet-stream");
  ASSERT_TRUE(a.ok());
  auto b = Attachment::from_base64("data:application/json;base64,eyJzY29yZSI6IDAuOTd9", "metrics.json");
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_EQ(b.value().content_type(), "application/json");
  EXPECT_EQ(b.value().size(), 15u);
  auto url_safe = Attachment::from_base64("_-8", "url-safe.bin");  // URL-safe alphabet, no padding
  ASSERT_TRUE(url_safe.ok()) << url_safe.error().to_string();

  ASSERT_TRUE(c.upload(span, a.value()).ok());
  ASSERT_TRUE(c.upload(span, b.value()).ok());
  ASSERT_TRUE(c.upload(span, url_safe.value()).ok());

  auto list = c.list(span);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.value().size(), 3u);
  auto json = list.value().find("metrics.json");
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ(json->mime_type, "application/json");

  EXPECT_EQ(collect(c, span, "frame.raw"), bytes);
  EXPECT_EQ(collect(c, span, "metrics.json"), "{\"score\": 0.97}");
  EXPECT_EQ(collect(c, span, "url-safe.bin"), std::string("\xff\xef", 2));

  std::vector<std::string> names = {"frame.raw", "metrics.json", "url-safe.bin"};
  ASSERT_TRUE(c.remove(span, names).ok());
  EXPECT_TRUE(c.list(span).value().empty());
}

TEST(Blocking, EmptyProjectMeansTheClientsProject) {
  opik::Options o = test::options();
  ASSERT_TRUE(o.set_project_name("cpp-default-project").ok());
  auto c = opik::Client::create(o);
  ASSERT_TRUE(c.ok());
  const std::string id = test::uuid();
  auto a = Attachment::from_bytes("hello", "hello.txt");
  ASSERT_TRUE(c.value().upload(Entity::trace(id), a.value()).ok());
  auto list = c.value().list(Entity::trace(id, "cpp-default-project"));
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list.value().size(), 1u);
  EXPECT_EQ(list.value()[0].mime_type, "text/plain");
}

// --- error paths -------------------------------------------------------------------------------

TEST(Errors, BadEntityIdIsAnInvalidArgument) {
  auto c = test::client();
  auto a = Attachment::from_bytes("x", "x.txt");
  auto r = c.upload(Entity::trace("not-a-uuid", kProject), a.value());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status(), Status::InvalidArgument);
  EXPECT_EQ(r.error().http_status(), 0);
  EXPECT_FALSE(r.error().message().empty());
  EXPECT_EQ(c.list(Entity::trace("", kProject)).status(), Status::InvalidArgument);
  EXPECT_EQ(c.list(Entity{static_cast<opik::EntityType>(7), test::uuid(), kProject}).status(), Status::InvalidArgument);
}

TEST(Errors, UnknownAttachmentOrProjectIsNotFound) {
  auto c = test::client();
  const auto trace = Entity::trace(test::uuid(), kProject);
  ASSERT_TRUE(c.upload(trace, Attachment::from_bytes("x", "present.txt").value()).ok());
  auto r = c.download(trace, "absent.txt", [](const uint8_t *, size_t) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status(), Status::NotFound);
  EXPECT_EQ(c.download_to_file(trace, "absent.txt", test::Server::instance->dir + "/absent.txt").status(), Status::NotFound);
  EXPECT_EQ(c.list(Entity::trace(test::uuid(), "cpp-no-such-project")).status(), Status::NotFound);
}

TEST(Errors, WrongApiKeyIsAnAuthError) {
  auto c = test::client("wrong-key-123");
  auto r = c.list(Entity::trace(test::uuid(), kProject));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status(), Status::Auth);
  EXPECT_EQ(r.error().http_status(), 401);
  EXPECT_EQ(r.error().to_string().rfind("OPIK_ERR_AUTH: ", 0), 0u) << r.error().to_string();
  EXPECT_NE(r.error().to_string().find("(HTTP 401)"), std::string::npos) << r.error().to_string();
  EXPECT_EQ(r.error().message().find("wrong-key-123"), std::string_view::npos) << "the key leaked into the message";
  auto up = c.upload(Entity::trace(test::uuid(), kProject), Attachment::from_bytes("x", "x.txt").value());
  EXPECT_EQ(up.status(), Status::Auth);
}

TEST(Errors, CallbackReturningFalseAbortsTheDownload) {
  auto c = test::client();
  const auto trace = Entity::trace(test::uuid(), kProject);
  ASSERT_TRUE(c.upload(trace, Attachment::from_bytes(test::pattern(100000), "big.bin").value()).ok());
  int calls = 0;
  auto r = c.download(trace, "big.bin", [&](const uint8_t *, size_t) {
    calls++;
    return false;  // stop
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status(), Status::AbortedByCallback);
  EXPECT_EQ(calls, 1);
}

TEST(Errors, ExceptionFromACallbackIsRethrownAfterTheLibraryReturned) {
  auto c = test::client();
  const auto trace = Entity::trace(test::uuid(), kProject);
  ASSERT_TRUE(c.upload(trace, Attachment::from_bytes(test::pattern(100000), "big.bin").value()).ok());
  int calls = 0;
  EXPECT_THROW(
      {
        auto r = c.download(trace, "big.bin", [&](opik::ByteView) -> bool {
          calls++;
          throw std::runtime_error("disk full");
        });
        (void)r;
      },
      std::runtime_error);
  EXPECT_EQ(calls, 1);
  // The client is still usable.
  EXPECT_EQ(collect(c, trace, "big.bin").size(), 100000u);
}

// --- background uploads ------------------------------------------------------------------------

TEST(Async, LambdaRunsOnceOnTheCallbackThreadAndItsStateIsDestroyedOnce) {
  test::Counters counters;
  std::atomic<int> seen_status{-1};
  const auto trace = Entity::trace(test::uuid(), kProject);
  const std::string content = test::pattern(300000, 3);
  {
    auto c = test::client();
    auto a = Attachment::from_bytes(content, "async.bin");
    ASSERT_TRUE(a.ok());
    test::Tracked state(&counters);
    auto op = c.upload_async(trace, a.value(), [state = std::move(state), &seen_status](Status s, opik::ErrorView e) {
      state.c->calls++;
      seen_status = static_cast<int>(s);
      EXPECT_TRUE(e.ok()) << e.message();
      std::lock_guard<std::mutex> lock(state.c->m);
      state.c->call_thread = std::this_thread::get_id();
    });
    ASSERT_TRUE(op.ok()) << op.error().to_string();
    a.value() = Attachment();  // the attachment may go right away: the queue keeps what it needs
    EXPECT_EQ(op.value().wait(30s), Status::Ok);
    EXPECT_EQ(op.value().status(), Status::Ok);
    auto p = op.value().progress();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p.value().bytes_total, content.size());
    EXPECT_EQ(p.value().bytes_sent, content.size());
    EXPECT_EQ(counters.calls, 1);
    EXPECT_EQ(collect(c, trace, "async.bin"), content);
  }  // the client joined its threads: every completion and release has run
  EXPECT_EQ(seen_status, OPIK_OK);
  EXPECT_EQ(counters.calls, 1);
  EXPECT_EQ(counters.owners_destroyed, 1);
  EXPECT_EQ(counters.calls_when_owner_destroyed, 1) << "the callable was destroyed before it ran";
  EXPECT_EQ(counters.constructed, counters.destroyed);
  EXPECT_NE(counters.call_thread, std::this_thread::get_id());
  EXPECT_EQ(counters.owner_destroy_thread, counters.call_thread);
}

TEST(Async, StdFunctionCopiesAreReleasedToo) {
  test::Counters counters;
  const auto trace = Entity::trace(test::uuid(), kProject);
  {
    auto c = test::client();
    test::Tracked state(&counters);
    std::function<void(Status)> on_done = [state = std::move(state)](Status s) {
      EXPECT_EQ(s, Status::Ok);
      state.c->calls++;
    };
    for (int i = 0; i < 3; i++) {
      auto op = c.upload_async(trace, Attachment::from_bytes("abc", "f" + std::to_string(i) + ".txt").value(), on_done);
      ASSERT_TRUE(op.ok());
    }  // each Op handle destroyed before completion: detached, the uploads go on
    ASSERT_TRUE(c.flush(30s).ok());
    EXPECT_EQ(c.pending(), 0u);
    EXPECT_EQ(counters.calls, 3);
    EXPECT_EQ(c.list(trace).value().size(), 3u);
  }
  EXPECT_EQ(counters.owners_destroyed, 1);  // the original, in on_done's std::function
  EXPECT_EQ(counters.constructed, counters.destroyed);
}

TEST(Async, RefusedUploadNeverRunsTheCallableAndDestroysItOnce) {
  test::Counters counters;
  auto c = test::client();
  auto op = c.upload_async(Entity::trace("not-a-uuid", kProject), Attachment::from_bytes("x", "x.txt").value(),
                           [state = test::Tracked(&counters)](Status) { state.c->calls++; });
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().status(), Status::InvalidArgument);
  EXPECT_EQ(counters.calls, 0);
  EXPECT_EQ(counters.owners_destroyed, 1);
  EXPECT_EQ(counters.constructed, counters.destroyed);
}

TEST(Async, CancelAndShutdownCompleteExactlyOnce) {
  // Every upload-start waits 1.5 s, so the uploads are still running when cancelled or closed.
  test::Fault slow(R"({"path_contains": "upload-start", "delay_ms": 1500, "times": 0})");
  test::Counters cancelled, shut;
  std::atomic<int> cancelled_status{-1}, shut_status{-1};
  {
    opik::Options o = test::options();
    ASSERT_TRUE(o.set_shutdown_timeout(0ms).ok());
    auto c = opik::Client::create(o);
    ASSERT_TRUE(c.ok());
    const auto trace = Entity::trace(test::uuid(), kProject);
    auto a = Attachment::from_bytes(test::pattern(1000), "slow.bin");
    test::Tracked s1(&cancelled), s2(&shut);
    auto op = c.value().upload_async(trace, a.value(), [s = std::move(s1), &cancelled_status](Status st) {
      s.c->calls++;
      cancelled_status = static_cast<int>(st);
    });
    ASSERT_TRUE(op.ok());
    auto op2 = c.value().upload_async(trace, a.value(), [s = std::move(s2), &shut_status](Status st) {
      s.c->calls++;
      shut_status = static_cast<int>(st);
    });
    ASSERT_TRUE(op2.ok());
    EXPECT_EQ(op.value().status(), Status::Timeout);  // still running
    EXPECT_EQ(op.value().wait(20ms), Status::Timeout);
    op.value().cancel();
    op.value().cancel();  // idempotent
    EXPECT_EQ(op.value().wait(10s), Status::Ok);
    EXPECT_EQ(op.value().status(), Status::Cancelled);
    // The second upload is still waiting on the server. (Not EXPECT_EQ(pending, 1): the library
    // decrements the count just after the completion returned, so wait() may return first.)
    EXPECT_GE(c.value().pending(), 1u);
  }  // closing with a 0 ms shutdown timeout cancels the second upload
  EXPECT_EQ(cancelled_status, OPIK_ERR_CANCELLED);
  EXPECT_EQ(shut_status, OPIK_ERR_SHUTDOWN);
  for (test::Counters *k : {&cancelled, &shut}) {
    EXPECT_EQ(k->calls, 1);
    EXPECT_EQ(k->owners_destroyed, 1);
    EXPECT_EQ(k->constructed, k->destroyed);
  }
}

TEST(Async, UploadWithoutCallbackAndFlush) {
  auto c = test::client();
  const auto trace = Entity::trace(test::uuid(), kProject);
  std::vector<opik::Op> ops;
  for (int i = 0; i < 5; i++) {
    auto op = c.upload_async(trace, Attachment::from_bytes(test::pattern(5000, i + 1), "n" + std::to_string(i) + ".bin").value());
    ASSERT_TRUE(op.ok());
    ops.push_back(std::move(op).value());
  }
  auto f = c.flush(30s);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ(c.pending(), 0u);
  for (auto &op : ops) EXPECT_EQ(op.status(), Status::Ok);
  EXPECT_EQ(c.list(trace).value().size(), 5u);
}

// --- interop with the C API --------------------------------------------------------------------

TEST(Interop, GetLendsAndReleaseGivesUpOwnership) {
  auto c = test::client();
  const std::string id = test::uuid();
  auto a = Attachment::from_bytes("interop", "interop.txt");
  ASSERT_TRUE(a.ok());
  // A C call with the lent pointers.
  opik_error *err = nullptr;
  ASSERT_EQ(opik_upload(c.get(), kProject, OPIK_ENTITY_TRACE, id.c_str(), a.value().get(), &err), OPIK_OK);
  // A C object adopted by the C++ owner...
  opik_attachment_list *raw = nullptr;
  ASSERT_EQ(opik_list(c.get(), kProject, OPIK_ENTITY_TRACE, id.c_str(), &raw, &err), OPIK_OK);
  opik::AttachmentList list(raw);
  EXPECT_EQ(list.size(), 1u);
  // ...and one released back to C, freed there.
  opik_attachment *released = a.value().release();
  EXPECT_EQ(a.value().get(), nullptr);
  EXPECT_STREQ(opik_attachment_file_name(released), "interop.txt");
  opik_attachment_free(released);
  // An error adopted from C.
  opik_error *cerr = nullptr;
  ASSERT_EQ(opik_list(c.get(), "cpp-no-such-project", OPIK_ENTITY_TRACE, id.c_str(), &raw, &cerr), OPIK_ERR_NOT_FOUND);
  opik::Error e(cerr);
  EXPECT_EQ(e.status(), Status::NotFound);
  EXPECT_EQ(e.get(), cerr);
}

OPIK_TEST_MAIN()
