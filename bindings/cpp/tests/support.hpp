// Test support: the bundled Opik-compatible test server (started once per test program, with an
// API key so wrong credentials can be tested), its test controls, ids, and an instance counter.
#pragma once

#include <opik_attachments.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace test {

inline const char *const kApiKey = "cpp-test-key-8d1e";

/// The test server: OPIK_TEST_SERVER (or the path CMake baked in), mode OPIK_TEST_MODE
/// (direct by default, or s3).
class Server : public ::testing::Environment {
 public:
  static Server *instance;

  void SetUp() override {
    const char *bin = std::getenv("OPIK_TEST_SERVER");
    std::string server = bin && *bin ? bin : OPIK_TEST_SERVER_DEFAULT;
    const char *m = std::getenv("OPIK_TEST_MODE");
    mode = m && *m ? m : "direct";
    char dir_template[] = "/tmp/opik-cpp-tests-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir = dir_template;
    std::string port_file = dir + "/port", log = dir + "/server.log";
    std::vector<std::string> args = {server, "--mode", mode, "--port", "0", "--port-file", port_file, "--api-key", kApiKey};
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(access(server.c_str(), X_OK), 0) << "no test server at " << server << " (cargo build -p opik-test-server)";
    // fork + exec rather than posix_spawn, to tie the server's life to this process: it is
    // killed even if a test crashes this program (no other thread exists yet).
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execv(server.c_str(), argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && port == 0; i++) {
      std::ifstream in(port_file);
      if (!(in >> port)) {
        port = 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    }
    ASSERT_NE(port, 0) << "the test server did not start; see " << log;
    url = "http://127.0.0.1:" + std::to_string(port) + "/";
    std::printf("test server: %s (%s mode)\n", url.c_str(), mode.c_str());
  }

  void TearDown() override {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
    }
    std::string cmd = "rm -rf '" + dir + "'";
    if (!dir.empty() && std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  }

  pid_t pid = -1;
  int port = 0;
  std::string url, mode, dir;
};

inline Server *Server::instance = nullptr;

/// Options for the test server: URL, API key and workspace set explicitly, so the environment
/// of the test run does not matter.
inline opik::Options options(std::string_view api_key = kApiKey) {
  opik::Options o;
  EXPECT_TRUE(o.set_url(Server::instance->url).ok());
  EXPECT_TRUE(o.set_api_key(api_key).ok());
  EXPECT_TRUE(o.set_workspace("default").ok());
  return o;
}

inline opik::Client client(std::string_view api_key = kApiKey) {
  auto c = opik::Client::create(options(api_key));
  if (!c.ok()) ADD_FAILURE() << c.error().to_string();
  return std::move(c).value();
}

/// A random version-4 UUID, as trace and span ids are.
inline std::string uuid() {
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & ~0xf000ull) | 0x4000ull;
  lo = (lo & ~(3ull << 62)) | (2ull << 62);
  char s[37];
  std::snprintf(s, sizeof s, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(hi >> 32),
                (unsigned long long)((hi >> 16) & 0xffff), (unsigned long long)(hi & 0xffff),
                (unsigned long long)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffull));
  return s;
}

/// Sends one request to the test server's controls (POST /_test/faults, GET /_test/traces...);
/// returns the HTTP status, and the response body in `*response` when given.
inline int control(const std::string &method, const std::string &path, const std::string &body = "",
                   std::string *response = nullptr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(Server::instance->port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                    "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = write(fd, req.data() + off, req.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  int status = -1;
  if (std::sscanf(resp.c_str(), "HTTP/1.%*d %d", &status) != 1) return -1;
  if (response) {
    size_t head = resp.find("\r\n\r\n");
    *response = head == std::string::npos ? std::string() : resp.substr(head + 4);
  }
  return status;
}

/// A small JSON reader for the test server's answers (GET /_test/traces and /_test/spans).
namespace json {

struct Value {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;

  /// The member `key` of an object; a null value when absent (or not an object).
  const Value &operator[](std::string_view key) const {
    for (const auto &m : members)
      if (m.first == key) return m.second;
    return null();
  }
  bool has(std::string_view key) const {
    for (const auto &m : members)
      if (m.first == key) return true;
    return false;
  }
  const Value &operator[](size_t i) const { return i < items.size() ? items[i] : null(); }
  bool is_null() const { return kind == Null; }
  static const Value &null() {
    static const Value v;
    return v;
  }
};

class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {}
  bool parse(Value &out) {
    bool ok = value(out, 0);
    ws();
    return ok && i_ == t_.size();
  }

 private:
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t')) i_++;
  }
  bool lit(std::string_view w) {
    if (t_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool str(std::string &out) {
    if (i_ >= t_.size() || t_[i_] != '"') return false;
    i_++;
    while (i_ < t_.size() && t_[i_] != '"') {
      char c = t_[i_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= t_.size()) return false;
      char e = t_[i_++];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'u': {
          if (i_ + 4 > t_.size()) return false;
          unsigned cp = static_cast<unsigned>(std::stoul(std::string(t_.substr(i_, 4)), nullptr, 16));
          i_ += 4;
          if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          } else {  // surrogates are kept as they come: enough for these tests
            out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          }
          break;
        }
        default: out.push_back(e);
      }
    }
    if (i_ >= t_.size()) return false;
    i_++;
    return true;
  }
  bool value(Value &v, int depth) {
    if (depth > 64) return false;
    ws();
    if (i_ >= t_.size()) return false;
    char c = t_[i_];
    if (c == '{') {
      v.kind = Value::Object;
      i_++;
      ws();
      if (i_ < t_.size() && t_[i_] == '}') return ++i_, true;
      for (;;) {
        ws();
        std::pair<std::string, Value> m;
        if (!str(m.first)) return false;
        ws();
        if (!lit(":") || !value(m.second, depth + 1)) return false;
        v.members.push_back(std::move(m));
        ws();
        if (lit(",")) continue;
        return lit("}");
      }
    }
    if (c == '[') {
      v.kind = Value::Array;
      i_++;
      ws();
      if (i_ < t_.size() && t_[i_] == ']') return ++i_, true;
      for (;;) {
        Value item;
        if (!value(item, depth + 1)) return false;
        v.items.push_back(std::move(item));
        ws();
        if (lit(",")) continue;
        return lit("]");
      }
    }
    if (c == '"') return v.kind = Value::String, str(v.s);
    if (lit("true")) return v.kind = Value::Bool, v.b = true, true;
    if (lit("false")) return v.kind = Value::Bool, true;
    if (lit("null")) return true;
    size_t start = i_;
    while (i_ < t_.size() && std::strchr("+-0123456789.eE", t_[i_])) i_++;
    if (start == i_) return false;
    v.kind = Value::Number;
    v.n = std::strtod(std::string(t_.substr(start, i_ - start)).c_str(), nullptr);
    return true;
  }
  std::string_view t_;
  size_t i_ = 0;
};

inline Value parse(std::string_view text) {
  Value v;
  EXPECT_TRUE(Parser(text).parse(v)) << "not JSON: " << text;
  return v;
}

}  // namespace json

/// The test server's log of the traces or the spans ("traces" or "spans"): received, updates,
/// stored, unknown_fields (see tests/server/src/entities.rs).
inline json::Value entity_log(const std::string &kind) {
  std::string body;
  EXPECT_EQ(control("GET", "/_test/" + kind, "", &body), 200);
  return json::parse(body);
}

/// The entity with `id` as the server received it in a batch create; null when it never came.
inline json::Value received(const std::string &kind, std::string_view id) {
  json::Value log = entity_log(kind);
  for (const auto &e : log["received"].items)
    if (e["id"].s == id) return e;
  return json::Value();
}

/// How many times the server received an entity with `id`.
inline size_t times_received(const std::string &kind, std::string_view id) {
  size_t n = 0;
  const json::Value log = entity_log(kind);  // not in the range-for: a temporary would not live on
  for (const auto &e : log["received"].items) n += e["id"].s == id;
  return n;
}

/// A fault rule on the test server for the lifetime of this object.
struct Fault {
  explicit Fault(const std::string &rule_json) { EXPECT_EQ(control("POST", "/_test/faults", rule_json), 204); }
  ~Fault() { EXPECT_EQ(control("DELETE", "/_test/faults"), 204); }
  Fault(const Fault &) = delete;
  Fault &operator=(const Fault &) = delete;
};

/// Counts live instances; `owners` counts destructions of the object that was never moved from
/// (so "destroyed exactly once" is owners == 1 however often the callable was moved).
struct Counters {
  std::atomic<int> constructed{0}, destroyed{0}, owners_destroyed{0}, calls{0};
  std::atomic<int> calls_when_owner_destroyed{-1};
  std::mutex m;
  std::thread::id call_thread, owner_destroy_thread;
};

struct Tracked {
  Counters *c;
  bool owner = true;
  explicit Tracked(Counters *counters) : c(counters) { c->constructed++; }
  Tracked(const Tracked &o) : c(o.c), owner(false) { c->constructed++; }
  Tracked(Tracked &&o) noexcept : c(o.c), owner(o.owner) {
    o.owner = false;
    c->constructed++;
  }
  Tracked &operator=(const Tracked &) = delete;
  ~Tracked() {
    c->destroyed++;
    if (owner) {
      c->owners_destroyed++;
      c->calls_when_owner_destroyed = c->calls.load();
      std::lock_guard<std::mutex> lock(c->m);
      c->owner_destroy_thread = std::this_thread::get_id();
    }
  }
};

inline std::string write_temp_file(const std::string &name, std::string_view content) {
  std::string path = Server::instance->dir + "/" + name;
  std::ofstream(path, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
  return path;
}

inline std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Deterministic, not very compressible bytes.
inline std::string pattern(size_t n, uint64_t seed = 1) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    s[i] = static_cast<char>(seed >> 24);
  }
  return s;
}

}  // namespace test

/// main() for both test programs: starts the server, runs every test.
#define OPIK_TEST_MAIN()                                               \
  int main(int argc, char **argv) {                                    \
    ::testing::InitGoogleTest(&argc, argv);                            \
    test::Server::instance = new test::Server;                         \
    ::testing::AddGlobalTestEnvironment(test::Server::instance);       \
    return RUN_ALL_TESTS();                                            \
  }
