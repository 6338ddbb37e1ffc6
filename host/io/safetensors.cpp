#include "host/io/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "fusedopt/error.hpp"

namespace fusedopt::detail {

namespace {
using nlohmann::json;

constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation

std::uint64_t read_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string errno_text() { return std::strerror(errno); }

/// A JSON integer in [0, max], else Error naming `what`.
std::uint64_t as_size(const json& value, const std::string& what, std::uint64_t max) {
  if (!value.is_number_integer())
    throw_error(what, " must be a non-negative integer, got ", value.dump());
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v <= max) return v;
  } else {
    const auto v = value.get<std::int64_t>();
    if (v >= 0 && std::uint64_t(v) <= max) return std::uint64_t(v);
  }
  throw_error(what, " = ", value.dump(), " is out of range [0, ", max, "]");
}

struct Range {
  std::uint64_t begin, end;
  const std::string* name;
};
}  // namespace

std::size_t safetensors_dtype_size(const std::string& dtype) {
  if (dtype == "F64") return 8;
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

std::vector<unsigned char> encode_safetensors(const SafeTensors& file) {
  json header = json::object();
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {  // std::map: sorted, as the reference writes
    header[name] = {{"dtype", tensor.dtype},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // 8-byte aligned data, as the reference pads
  std::vector<unsigned char> out(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = static_cast<unsigned char>(n >> (8 * i));
  std::memcpy(out.data() + 8, text.data(), text.size());
  unsigned char* data = out.data() + 8 + text.size();
  for (const auto& entry : file.tensors) {
    if (!entry.second.bytes.empty())
      std::memcpy(data, entry.second.bytes.data(), entry.second.bytes.size());
    data += entry.second.bytes.size();
  }
  return out;
}

SafeTensors decode_safetensors(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (size < 8)
    throw_error("safetensors: the file has ", size, " bytes, fewer than the 8-byte header length");
  const std::uint64_t header_bytes = read_u64_le(bytes);
  if (header_bytes > kMaxHeaderBytes || header_bytes > size - 8)
    throw_error("safetensors: header length ", header_bytes, " exceeds the ", size - 8,
                " bytes after it (limit ", kMaxHeaderBytes, ")");
  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + header_bytes);
  } catch (const json::exception& e) {
    throw_error("safetensors: the header is not valid JSON: ", e.what());
  }
  if (!header.is_object())
    throw_error("safetensors: the header must be a JSON object, got ", header.type_name());
  const std::uint64_t data_bytes = size - 8 - header_bytes;
  const unsigned char* payload = bytes + 8 + header_bytes;
  SafeTensors file;
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        throw_error("safetensors: __metadata__ must be an object, got ", entry.type_name());
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
          throw_error("safetensors: __metadata__[\"", key, "\"] must be a string, got ",
                      value.type_name());
        file.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = "safetensors: tensor \"" + name + "\"";
    if (!entry.is_object() || entry.size() != 3 || !entry.contains("dtype") ||
        !entry.contains("shape") || !entry.contains("data_offsets"))
      throw_error(where, " must be an object with exactly dtype, shape and data_offsets");
    SafeTensor tensor;
    if (!entry.at("dtype").is_string()) throw_error(where, ": dtype must be a string");
    tensor.dtype = entry.at("dtype").get<std::string>();
    const std::size_t element = safetensors_dtype_size(tensor.dtype);
    if (element == 0) throw_error(where, ": unsupported dtype \"", tensor.dtype, "\"");
    if (!entry.at("shape").is_array()) throw_error(where, ": shape must be an array");
    std::uint64_t count = 1;
    for (const json& dim : entry.at("shape")) {
      const std::uint64_t d = as_size(dim, where + " shape entry", data_bytes);
      if (d != 0 && count > data_bytes / d)
        count = data_bytes + 1;  // too large for the file
      else
        count *= d;
      tensor.shape.push_back(std::int64_t(d));
    }
    const json& offsets = entry.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2)
      throw_error(where, ": data_offsets must be [begin, end]");
    const std::uint64_t begin = as_size(offsets[0], where + " data_offsets[0]", data_bytes);
    const std::uint64_t end = as_size(offsets[1], where + " data_offsets[1]", data_bytes);
    if (end < begin)
      throw_error(where, ": data_offsets [", begin, ", ", end, "] end before they begin");
    if (count > data_bytes || count * element != end - begin)
      throw_error(where, ": ", end - begin, " bytes do not hold its shape of ", tensor.dtype,
                  " elements (",
                  count > data_bytes ? std::string("too many") : std::to_string(count), ")");
    tensor.bytes.assign(payload + begin, payload + end);
    ranges.push_back({begin, end, nullptr});
    auto inserted = file.tensors.emplace(name, std::move(tensor));
    ranges.back().name = &inserted.first->first;
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  for (const Range& r : ranges) {
    if (r.begin != expected)
      throw_error("safetensors: tensor \"", *r.name, "\" starts at byte ", r.begin, " but ",
                  r.begin < expected ? "overlaps the previous tensor" : "leaves a gap",
                  " (expected ", expected, ")");
    expected = r.end;
  }
  if (expected != data_bytes)
    throw_error("safetensors: the tensors cover ", expected, " bytes of the ", data_bytes,
                " data bytes (truncated or trailing bytes)");
  return file;
}

void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::random_device random;
  const std::string temp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(random());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw_error("save(\"", path, "\"): cannot create ", temp, ": ", errno_text());
  std::size_t written = 0;
  std::string failure;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failure = "write: " + errno_text();
      break;
    }
    written += std::size_t(n);
  }
  if (failure.empty() && ::fsync(fd) != 0) failure = "fsync: " + errno_text();
  if (::close(fd) != 0 && failure.empty()) failure = "close: " + errno_text();
  if (failure.empty() && std::rename(temp.c_str(), path.c_str()) != 0)
    failure = "rename: " + errno_text();
  if (!failure.empty()) {
    std::remove(temp.c_str());
    throw_error("save(\"", path, "\"): ", failure, " (the file was not changed)");
  }
}

std::vector<unsigned char> read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw_error("load(\"", path, "\"): cannot open: ", errno_text());
  std::vector<unsigned char> out;
  unsigned char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
    out.insert(out.end(), buffer, buffer + n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw_error("load(\"", path, "\"): read error");
  return out;
}

}  // namespace fusedopt::detail
