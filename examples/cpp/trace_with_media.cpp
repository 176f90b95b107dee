// A game loop that logs what it does to Opik, in C++: for each of 5 frames, a trace with an LLM
// span (the prompt as input JSON, model, provider, token usage, and a "screenshot" of the frame
// as a PNG attachment) and a tool span under it. opik::Trace and opik::Span are RAII handles: one
// that goes out of scope is ended (queued for the library's background sender), so an early
// return still logs what was recorded. At the end it flushes, prints the counters and exits
// non-zero if anything failed. Builds with or without exceptions.
//
// Configuration comes from the environment, as in the Opik SDKs: OPIK_URL_OVERRIDE (for example
// http://localhost:5173/api/), OPIK_API_KEY, OPIK_WORKSPACE.
// Usage: trace_with_media [FRAMES]   (5 by default)
//
// Build against an installed library (make install PREFIX=...):
//   c++ -std=c++17 trace_with_media.cpp $(pkg-config --cflags --libs opik_attachments) -o trace_with_media
// or with CMake (CMakeLists.txt here).
#include <opik_attachments.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

constexpr const char *kProject = "cpp-trace-with-media";

/// An RGB screenshot of the frame (a gradient that moves with `frame`) as PNG bytes: zlib with
/// stored deflate blocks, so no compression library is needed.
std::string screenshot_png(int frame, int width = 64, int height = 48) {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  auto put32 = [](std::string &s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
  };
  std::string raw;
  for (int y = 0; y < height; y++) {
    raw.push_back(0);  // filter: none
    for (int x = 0; x < width; x++) {
      raw.push_back(static_cast<char>((x * 4 + frame * 20) & 0xff));
      raw.push_back(static_cast<char>((y * 5) & 0xff));
      raw.push_back(static_cast<char>(((x ^ y) * 3 + frame) & 0xff));
    }
  }
  std::string z = "\x78\x01";
  uint32_t a = 1, b = 0;
  for (size_t off = 0; off < raw.size();) {
    size_t n = std::min<size_t>(raw.size() - off, 65535);
    z.push_back(off + n == raw.size() ? 1 : 0);
    const uint16_t len = static_cast<uint16_t>(n), nlen = static_cast<uint16_t>(~len);
    z.push_back(static_cast<char>(len & 0xff));
    z.push_back(static_cast<char>(len >> 8));
    z.push_back(static_cast<char>(nlen & 0xff));
    z.push_back(static_cast<char>(nlen >> 8));
    z.append(raw, off, n);
    for (size_t i = off; i < off + n; i++) a = (a + static_cast<uint8_t>(raw[i])) % 65521, b = (b + a) % 65521;
    off += n;
  }
  put32(z, (b << 16) | a);

  std::string png("\x89PNG\r\n\x1a\n", 8);
  auto chunk = [&](const char *type, const std::string &data) {
    put32(png, static_cast<uint32_t>(data.size()));
    std::string typed = std::string(type, 4) + data;
    uint32_t c = 0xffffffffu;
    for (unsigned char ch : typed) c = table[(c ^ ch) & 0xff] ^ (c >> 8);
    png += typed;
    put32(png, c ^ 0xffffffffu);
  };
  std::string ihdr;
  put32(ihdr, static_cast<uint32_t>(width));
  put32(ihdr, static_cast<uint32_t>(height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, deflate, no filter, no interlace
  chunk("IHDR", ihdr);
  chunk("IDAT", z);
  chunk("IEND", {});
  return png;
}

/// Prints a failed call's error; true when it failed.
bool failed(const opik::Result<void> &r, const char *what) {
  if (r.ok()) return false;
  std::fprintf(stderr, "%s failed: %s\n", what, r.error().to_string().c_str());
  return true;
}

/// One frame: a trace, an LLM span with the screenshot, a tool span under it. Returns false when
/// a call failed; whatever was recorded is still ended by the destructors.
bool log_frame(opik::Client &client, int frame) {
  auto t = client.trace({}, "frame " + std::to_string(frame));
  if (!t.ok()) return !failed(opik::Result<void>(std::move(t).error()), "trace");
  opik::Trace trace = std::move(t).value();
  bool bad = failed(trace.set_input(R"({"frame": )" + std::to_string(frame) + R"(, "scene": "castle gate"})"), "set_input");
  bad |= failed(trace.add_tag("game-loop"), "add_tag");
  bad |= failed(trace.set_thread_id("play-session-1"), "set_thread_id");

  auto l = trace.span("describe the screen", opik::SpanType::Llm);
  if (!l.ok()) return !failed(opik::Result<void>(std::move(l).error()), "span");
  opik::Span llm = std::move(l).value();
  bad |= failed(llm.set_input(R"({"messages": [{"role": "user", "content": "What is on screen in frame )" +
                              std::to_string(frame) + R"(?"}]})"),
                "span set_input");
  bad |= failed(llm.set_model("gpt-4o-mini", "openai"), "set_model");
  bad |= failed(llm.set_usage(42, 12, 54), "set_usage");
  char file_name[40];
  std::snprintf(file_name, sizeof file_name, "frame-%04d.png", frame);
  auto shot = opik::Attachment::from_bytes(screenshot_png(frame), file_name, "image/png");
  if (shot.ok())
    bad |= failed(llm.attach(shot.value()), "attach");  // uploaded after the span was sent
  else
    bad |= failed(opik::Result<void>(std::move(shot).error()), "from_bytes");

  {
    auto tl = llm.child("open_gate", opik::SpanType::Tool);
    if (!tl.ok()) return !failed(opik::Result<void>(std::move(tl).error()), "child");
    opik::Span tool = std::move(tl).value();
    bad |= failed(tool.set_input(R"({"gate": "north"})"), "tool set_input");
    bad |= failed(tool.set_output(R"({"opened": true})"), "tool set_output");
  }  // the tool span ends here, going out of scope

  bad |= failed(llm.set_output(R"({"text": "A castle gate; the north gate opens."})"), "set_output");
  bad |= failed(llm.end(), "span end");  // or let it go out of scope; end() reports the result
  bad |= failed(trace.set_output(R"({"action": "open_gate"})"), "trace set_output");
  return !bad;  // the trace ends here
}

}  // namespace

int main(int argc, char **argv) {
  const int frames = argc > 1 ? std::atoi(argv[1]) : 5;
  if (frames < 1 || frames > 10000) {
    std::fprintf(stderr, "usage: %s [FRAMES (1-10000)]\n", argv[0]);
    return 2;
  }
  opik::Options options;
  if (failed(options.set_project_name(kProject), "set_project_name")) return 1;
  // Background failures would be reported here, on the library's threads.
  if (failed(options.set_log_callback(opik::LogLevel::Warn,
                                      [](opik::LogLevel level, std::string_view line) {
                                        std::fprintf(stderr, "opik %s: %.*s\n", level == opik::LogLevel::Error ? "error" : "warn",
                                                     static_cast<int>(line.size()), line.data());
                                      }),
             "set_log_callback"))
    return 1;
  auto c = opik::Client::create(options);  // the rest from OPIK_* and ~/.opik.config
  if (!c.ok()) {
    std::fprintf(stderr, "client: %s\n", c.error().to_string().c_str());
    return 1;
  }
  opik::Client &client = c.value();

  bool ok = true;
  for (int frame = 1; frame <= frames; frame++) ok &= log_frame(client, frame);

  ok &= !failed(client.flush(std::chrono::seconds(60)), "flush");
  const uint64_t sent = client.counter(opik::Counter::EntitiesSent);
  const uint64_t entities_failed = client.counter(opik::Counter::EntitiesFailed);
  const uint64_t shots = client.counter(opik::Counter::AttachmentsSent);
  const uint64_t shots_failed = client.counter(opik::Counter::AttachmentsFailed);
  std::printf("frames %d: entities sent %llu, failed %llu; screenshots sent %llu, failed %llu; %llu bytes; %llu retries\n",
              frames, static_cast<unsigned long long>(sent), static_cast<unsigned long long>(entities_failed),
              static_cast<unsigned long long>(shots), static_cast<unsigned long long>(shots_failed),
              static_cast<unsigned long long>(client.counter(opik::Counter::BytesSent)),
              static_cast<unsigned long long>(client.counter(opik::Counter::Retries)));
  if (!ok || entities_failed || shots_failed || sent != static_cast<uint64_t>(frames) * 3 ||
      shots != static_cast<uint64_t>(frames)) {
    std::fprintf(stderr, "trace_with_media: something was not delivered\n");
    return 1;
  }
  std::printf("c++ trace_with_media: %d frames logged, every trace, span and screenshot delivered\n", frames);
  return 0;
}
