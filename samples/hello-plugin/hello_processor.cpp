// hello-processor: the smallest file processor — handles text/plain, probes
// byte and line counts, and generates one variant, an upper-cased copy. It
// keeps no state, so it is trivially thread-safe.
#include <cumulo/sdk.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#ifndef HELLO_VERSION
#define HELLO_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::FileProcessor;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return data;
}

// Naive on purpose: finds `"key"`, then ':' and a JSON string, and decodes the
// simple escapes. Good enough for the host's flat request object.
std::optional<std::string> string_field(std::string_view json, std::string_view key) {
  std::string needle = "\"" + std::string(key) + "\"";
  size_t i = json.find(needle);
  if (i == std::string_view::npos) return std::nullopt;
  i += needle.size();
  while (i < json.size() && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) ++i;
  if (i >= json.size() || json[i++] != ':') return std::nullopt;
  while (i < json.size() && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) ++i;
  if (i >= json.size() || json[i++] != '"') return std::nullopt;
  std::string out;
  for (; i < json.size(); ++i) {
    char c = json[i];
    if (c == '"') return out;
    if (c == '\\' && ++i < json.size()) {
      char e = json[i];
      c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;  // \" \\ \/ stay as is
    }
    out += c;
  }
  return std::nullopt;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class HelloProcessor final : public FileProcessor {
 public:
  explicit HelloProcessor(std::string_view /*options_json: none needed*/) {}

  // "text/plain" with or without parameters such as "; charset=utf-8".
  bool accepts(std::string_view content_type) override {
    return content_type.substr(0, content_type.find(';')) == "text/plain";
  }

  Status probe(std::string_view path, std::string_view /*content_type*/, const Sink& out) override {
    auto data = read_file(std::string(path));
    if (!data) return Status::Error(CM_IO, "cannot read " + std::string(path));
    // Lines like `wc -l`, plus a last line that lacks its newline.
    size_t lines = 0;
    for (char c : *data) lines += c == '\n';
    if (!data->empty() && data->back() != '\n') ++lines;
    return emit(out, "{\"bytes\":" + std::to_string(data->size()) + ",\"lines\":" + std::to_string(lines) + "}");
  }

  Status generate(std::string_view request_json, const Sink& out) override {
    auto source = string_field(request_json, "source");
    auto out_dir = string_field(request_json, "outDir");
    if (!source || !out_dir) return Status::Invalid("request needs \"source\" and \"outDir\"");
    auto data = read_file(*source);
    if (!data) return Status::Error(CM_IO, "cannot read " + *source);
    // ASCII only: bytes >= 0x80 (UTF-8 sequences) pass through untouched.
    for (char& c : *data)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    std::string target = *out_dir + "/upper.txt";
    {
      std::ofstream f(target, std::ios::binary | std::ios::trunc);
      if (!f.write(data->data(), static_cast<std::streamsize>(data->size())) || !f.flush())
        return Status::Error(CM_IO, "cannot write " + target);
    }
    return emit(out, "[{\"name\":\"txt.upper\",\"path\":" + quote(target) + ",\"size\":" + std::to_string(data->size()) + "}]");
  }

 private:
  static Status emit(const Sink& out, std::string_view text) {
    return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away");
  }
};

}  // namespace

CUMULO_PLUGIN("hello-processor", HELLO_VERSION, "Sample: upper-cases text files", CM_KIND_FILE_PROCESSOR) {
  reg.add<HelloProcessor>("hello-processor");
}
