#include "host/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "fusedopt/error.hpp"
#include "host/engine/memory.hpp"

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

/// A JSON value for an error message, never printed whole (it may be huge or deeply nested).
std::string describe(const json& value) {
  if (value.is_string()) return "the string " + printable(value.get_ref<const std::string&>(), 40);
  if (value.is_array()) return "an array of " + std::to_string(value.size()) + " element(s)";
  if (value.is_object()) return "an object of " + std::to_string(value.size()) + " member(s)";
  return value.dump();  // a number, a bool or null: short
}

/// A JSON integer in [0, max], else Error naming `what`.
std::uint64_t as_size(const json& value, const std::string& what, std::uint64_t max) {
  if (!value.is_number_integer())
    throw_error(what, " must be a non-negative integer, got ", describe(value));
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

std::string printable(std::string_view text, std::size_t limit) {
  std::size_t shown = std::min(text.size(), limit);
  while (shown > 0 && shown < text.size() && (static_cast<unsigned char>(text[shown]) & 0xC0) == 0x80)
    --shown;  // do not cut a UTF-8 sequence
  std::string out = "\"";
  for (std::size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += char(c);
    }
  }
  out += '"';
  if (shown < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

void check_json_depth(std::string_view text, int max_depth, const std::string& what) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw_error(what, " nests arrays or objects more than ", max_depth,
                    " deep (at byte ", i, ")");
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced text is the parser's to report
    }
  }
}

// ---- sources ------------------------------------------------------------------------------

FileSource::FileSource(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) throw_error("cannot open: ", errno_text());
  struct stat info {};
  if (::fstat(fd_, &info) != 0) {
    const std::string reason = errno_text();
    ::close(fd_);
    throw_error("cannot stat: ", reason);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd_);
    throw_error(S_ISDIR(info.st_mode) ? "is a directory" : "is not a regular file (a FIFO, socket or device)",
                "; checkpoints are read from regular files");
  }
  size_ = std::uint64_t(info.st_size);
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSource::read(std::uint64_t offset, void* out, std::size_t n) {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, bytes + done, n - done, off_t(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_error("read error at byte ", offset + done, ": ", errno_text());
    if (got == 0)
      throw_error("the file ended at byte ", offset + done, " of the ", size_,
                  " it had when opened (was it truncated while loading?)");
    done += std::size_t(got);
  }
}

MemorySource::MemorySource(const void* data, std::size_t size)
    : data_(static_cast<const unsigned char*>(data)), size_(size) {
  if (data == nullptr && size > 0) throw_error("data is null (size ", size, ")");
}

void MemorySource::read(std::uint64_t offset, void* out, std::size_t n) {
  if (offset > size_ || n > size_ - offset)
    throw_error("internal: read of ", n, " bytes at ", offset, " past the ", size_, "-byte buffer");
  if (n > 0) std::memcpy(out, data_ + offset, n);
}

// ---- sinks --------------------------------------------------------------------------------

AtomicFileSink::AtomicFileSink(const std::string& path) : path_(path) {
  // A short name in the same directory (rename is atomic only within one file system): the
  // target's own name may already be NAME_MAX long.
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  std::random_device random;
  char name[64];
  std::snprintf(name, sizeof name, ".fusedopt-%ld-%08x%08x.tmp", long(::getpid()),
                unsigned(random()), unsigned(random()));
  temp_ = dir + name;
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw_error("save(", printable(path, 256), "): cannot create ", printable(temp_, 256), ": ",
                errno_text());
}

AtomicFileSink::~AtomicFileSink() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) std::remove(temp_.c_str());
}

void AtomicFileSink::fail(const std::string& what) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::remove(temp_.c_str());
  temp_.clear();
  throw_error("save(", printable(path_, 256), "): ", what, " (the file was not changed)");
}

void AtomicFileSink::write(const void* data, std::size_t n) {
  if (fd_ < 0) throw_error("internal: write after the file was closed");
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::size_t written = 0;
  while (written < n) {
    const ssize_t done = ::write(fd_, bytes + written, n - written);
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) fail("write: " + errno_text());
    written += std::size_t(done);
  }
}

void AtomicFileSink::commit() {
  if (fd_ < 0) throw_error("internal: commit after the file was closed");
  if (::fsync(fd_) != 0) fail("fsync: " + errno_text());
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close: " + errno_text());
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) fail("rename: " + errno_text());
  temp_.clear();
}

void MemorySink::write(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  bytes.insert(bytes.end(), p, p + n);
}

// ---- headers ------------------------------------------------------------------------------

std::size_t safetensors_dtype_size(const std::string& dtype) {
  if (dtype == "F64") return 8;
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "U8") return 1;  // bytes: the parts of a training checkpoint
  return 0;
}

std::uint64_t TensorRecord::numel() const {
  return (end - begin) / safetensors_dtype_size(dtype);  // validated: shape * size == bytes
}

Header read_header(ByteSource& source) {
  const std::uint64_t size = source.size();
  if (size < 8)
    throw_error("safetensors: the file has ", size, " bytes, fewer than the 8-byte header length");
  unsigned char length[8];
  source.read(0, length, 8);
  const std::uint64_t header_bytes = read_u64_le(length);
  if (header_bytes > kMaxHeaderBytes || header_bytes > size - 8)
    throw_error("safetensors: header length ", header_bytes, " exceeds the ", size - 8,
                " bytes after it (limit ", kMaxHeaderBytes, ")");
  std::string text(header_bytes, '\0');
  source.read(8, text.data(), text.size());
  check_json_depth(text, kMaxJsonDepth, "safetensors: the header");
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    throw_error("safetensors: the header is not valid JSON: ", e.what());
  }
  std::string().swap(text);
  if (!header.is_object())
    throw_error("safetensors: the header must be a JSON object, got ", header.type_name());
  const std::uint64_t data_bytes = size - 8 - header_bytes;
  Header out;
  out.data_start = 8 + header_bytes;
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        throw_error("safetensors: __metadata__ must be an object, got ", entry.type_name());
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
          throw_error("safetensors: __metadata__[", printable(key), "] must be a string, got ",
                      value.type_name());
        out.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = "safetensors: tensor " + printable(name);
    if (!entry.is_object() || entry.size() != 3 || !entry.contains("dtype") ||
        !entry.contains("shape") || !entry.contains("data_offsets"))
      throw_error(where, " must be an object with exactly dtype, shape and data_offsets");
    TensorRecord tensor;
    if (!entry.at("dtype").is_string()) throw_error(where, ": dtype must be a string");
    tensor.dtype = entry.at("dtype").get<std::string>();
    const std::size_t element = safetensors_dtype_size(tensor.dtype);
    if (element == 0) throw_error(where, ": unsupported dtype ", printable(tensor.dtype, 16));
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
    tensor.begin = as_size(offsets[0], where + " data_offsets[0]", data_bytes);
    tensor.end = as_size(offsets[1], where + " data_offsets[1]", data_bytes);
    if (tensor.end < tensor.begin)
      throw_error(where, ": data_offsets [", tensor.begin, ", ", tensor.end,
                  "] end before they begin");
    if (count > data_bytes || count * element != tensor.end - tensor.begin)
      throw_error(where, ": ", tensor.end - tensor.begin, " bytes do not hold its shape of ",
                  tensor.dtype, " elements (",
                  count > data_bytes ? std::string("too many") : std::to_string(count), ")");
    ranges.push_back({tensor.begin, tensor.end, nullptr});
    auto inserted = out.tensors.emplace(name, std::move(tensor));
    ranges.back().name = &inserted.first->first;
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  for (const Range& r : ranges) {
    if (r.begin != expected)
      throw_error("safetensors: tensor ", printable(*r.name), " starts at byte ", r.begin, " but ",
                  r.begin < expected ? "overlaps the previous tensor" : "leaves a gap",
                  " (expected ", expected, ")");
    expected = r.end;
  }
  if (expected != data_bytes)
    throw_error("safetensors: the tensors cover ", expected, " bytes of the ", data_bytes,
                " data bytes (truncated or trailing bytes)");
  return out;
}

void read_tensor_bytes(ByteSource& source, const Header& header, const TensorRecord& t,
                       std::uint64_t offset, void* out, std::size_t n) {
  if (offset > t.end - t.begin || n > t.end - t.begin - offset)
    throw_error("internal: read past a tensor's bytes");
  source.read(header.data_start + t.begin + offset, out, n);
}

void write_header(ByteSink& sink, const std::map<std::string, std::string>& metadata,
                  const std::map<std::string, TensorSpec>& tensors) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    header[name] = {{"dtype", tensor.dtype},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + tensor.bytes}}};
    offset += tensor.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // 8-byte aligned data, as the reference pads
  unsigned char length[8];
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(n >> (8 * i));
  sink.write(length, 8);
  sink.write(text.data(), text.size());
}

// ---- whole files --------------------------------------------------------------------------

void write_safetensors(ByteSink& sink, const SafeTensors& file) {
  std::map<std::string, TensorSpec> specs;
  for (const auto& [name, tensor] : file.tensors)
    specs[name] = {tensor.dtype, tensor.shape, tensor.bytes.size()};
  write_header(sink, file.metadata, specs);
  for (const auto& entry : file.tensors)
    if (!entry.second.bytes.empty()) sink.write(entry.second.bytes.data(), entry.second.bytes.size());
}

std::vector<unsigned char> encode_safetensors(const SafeTensors& file) {
  MemorySink sink;
  write_safetensors(sink, file);
  return std::move(sink.bytes);
}

void check_fits_in_memory(std::uint64_t bytes) {
  if (bytes > physical_memory_bytes())
    throw_error("reading ", bytes, " bytes into memory, more than this machine's ",
                physical_memory_bytes());
}

SafeTensors read_safetensors(ByteSource& source) {
  const Header header = read_header(source);
  check_fits_in_memory(source.size());
  SafeTensors file;
  file.metadata = header.metadata;
  for (const auto& [name, record] : header.tensors) {
    SafeTensor tensor{record.dtype, record.shape,
                      std::vector<unsigned char>(std::size_t(record.end - record.begin))};
    read_tensor_bytes(source, header, record, 0, tensor.bytes.data(), tensor.bytes.size());
    file.tensors.emplace(name, std::move(tensor));
  }
  return file;
}

SafeTensors decode_safetensors(const void* data, std::size_t size) {
  MemorySource source(data, size);
  return read_safetensors(source);
}

void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes) {
  AtomicFileSink sink(path);
  sink.write(bytes.data(), bytes.size());
  sink.commit();
}

std::vector<unsigned char> read_file(const std::string& path) {
  try {
    FileSource source(path);
    check_fits_in_memory(source.size());
    std::vector<unsigned char> out(std::size_t(source.size()));
    source.read(0, out.data(), out.size());
    return out;
  } catch (const Error& e) {
    throw Error("load(" + printable(path, 256) + "): " + e.what());
  }
}

}  // namespace fusedopt::detail
