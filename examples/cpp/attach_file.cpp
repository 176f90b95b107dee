// Attach a file to an Opik trace, list the trace's attachments, download the file back (into
// another file, and streamed into memory) and check that every byte came back. Uses the
// header-only C++17 API (opik_attachments.hpp); no exceptions needed.
//
// Configuration comes from the environment, as in the Opik SDKs: OPIK_URL_OVERRIDE (for example
// http://localhost:5173/api/), OPIK_API_KEY, OPIK_WORKSPACE, OPIK_PROJECT_NAME.
// Usage: attach_file [TRACE_ID]   (a UUID; an example id otherwise)
//
// Build against an installed library (make install PREFIX=...):
//   c++ -std=c++17 attach_file.cpp $(pkg-config --cflags --libs opik_attachments) -o attach_file
// or with CMake: find_package(opik_attachments) and link opik_attachments::opik_attachments
// (CMakeLists.txt here).
#include <opik_attachments.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;

static std::vector<char> read_file(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <typename R>
static bool failed(const R &result, const char *what) {
  if (result.ok()) return false;
  std::fprintf(stderr, "%s failed: %s\n", what, result.error().to_string().c_str());
  return true;
}

static int run(const fs::path &dir, const std::string &trace_id) {
  const auto trace = opik::Entity::trace(trace_id, "examples");
  const std::string name = "camera-frame.raw";

  // A file to attach: 300 KiB of a recognisable pattern.
  std::vector<char> sample(300 * 1024);
  for (size_t i = 0; i < sample.size(); i++) sample[i] = static_cast<char>((i * 31 + i / 251) & 0xff);
  const fs::path src = dir / "source.raw", dst = dir / "downloaded.raw";
  std::ofstream(src, std::ios::binary).write(sample.data(), static_cast<std::streamsize>(sample.size()));

  // A client configured from the environment; the file is streamed when uploaded.
  auto client = opik::Client::create();
  if (failed(client, "Client::create")) return 1;
  auto file = opik::Attachment::from_file(src.string(), name, "application/octet-stream");  // type: optional
  if (failed(file, "Attachment::from_file")) return 1;

  if (failed(client.value().upload(trace, file.value()), "upload")) return 1;
  std::printf("uploaded %s (%llu bytes, %s) to trace %s\n", std::string(file.value().file_name()).c_str(),
              static_cast<unsigned long long>(file.value().size()), std::string(file.value().content_type()).c_str(),
              trace_id.c_str());

  auto list = client.value().list(trace);
  if (failed(list, "list")) return 1;
  for (const opik::AttachmentInfo &a : list.value())
    std::printf("listed: %.*s, %llu bytes, %.*s\n", static_cast<int>(a.file_name.size()), a.file_name.data(),
                static_cast<unsigned long long>(a.file_size), static_cast<int>(a.mime_type.size()), a.mime_type.data());
  auto entry = list.value().find(name);
  const bool listed = entry && entry->file_size == sample.size();

  if (failed(client.value().download_to_file(trace, name, dst.string()), "download_to_file")) return 1;
  const bool same_file = read_file(dst) == sample;
  std::printf("downloaded to a file: %s\n", same_file ? "identical" : "DIFFERENT");

  std::vector<char> streamed;  // any callable: here a lambda appending each chunk
  auto streaming = client.value().download(trace, name, [&](opik::ByteView chunk) {
    streamed.insert(streamed.end(), chunk.begin(), chunk.end());
    return true;  // go on
  });
  if (failed(streaming, "download")) return 1;
  const bool same_stream = streamed == sample;
  std::printf("downloaded into memory: %s\n", same_stream ? "identical" : "DIFFERENT");

  if (failed(client.value().remove(trace, {name}), "remove")) return 1;
  return listed && same_file && same_stream ? 0 : 1;
}

int main(int argc, char **argv) {
  std::printf("opik-attachments %.*s\n", static_cast<int>(opik::version().size()), opik::version().data());
  std::error_code ec;
  const fs::path dir = fs::temp_directory_path(ec) / ("opik-example-cpp-" + std::to_string(::getpid()));
  fs::create_directories(dir, ec);
  int rc = run(dir, argc > 1 ? argv[1] : "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a91");
  fs::remove_all(dir, ec);
  std::printf("%s\n", rc == 0 ? "attach_file (C++): uploaded, listed, downloaded and verified" : "attach_file (C++): FAILED");
  return rc;
}
