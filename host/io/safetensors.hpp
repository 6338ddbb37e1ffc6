#pragma once
// The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header naming every tensor's dtype, shape and byte range, then the
// bytes. fusedopt's checkpoints are such files; see NOTE(checkpoint) in state_dict.hpp.
//
// NOTE(streaming-io): checkpoints are read and written as streams, so the extra host memory a
// save or load needs is bounded (the header plus one block, kIoBlockBytes) whatever the state
// size. A reader validates the whole header against the source's size before any tensor byte
// is read; a writer emits the header, then each tensor's bytes in order. Sources and sinks are
// a file or memory.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fusedopt/error.hpp"

namespace fusedopt::detail {

/// Bytes moved per read or write call when streaming tensors (and the bounce buffer's size).
constexpr std::size_t kIoBlockBytes = 4u << 20;
/// Deepest JSON nesting a header (or the param_groups metadata) may have; fusedopt writes 3.
constexpr int kMaxJsonDepth = 16;


/// Throws Error naming `what` when `text` (JSON) nests arrays/objects deeper than `max_depth`,
/// before any parser or printer recurses into it.
void check_json_depth(std::string_view text, int max_depth, const std::string& what);

/// Random access to bytes: a regular file or memory.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const = 0;
  /// Reads exactly `n` bytes at `offset` into `out`; throws Error otherwise.
  virtual void read(std::uint64_t offset, void* out, std::size_t n) = 0;
};

/// A regular file: anything else (a FIFO, a device such as /dev/zero, a directory) is refused
/// when opened, without blocking. The size is fixed when opened; a file that shrinks while it is
/// read is a read error. Errors do not name the path: the caller prefixes "load(path)".
class FileSource final : public ByteSource {
 public:
  explicit FileSource(const std::string& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  std::uint64_t size() const override { return size_; }
  void read(std::uint64_t offset, void* out, std::size_t n) override;

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(const void* data, std::size_t size);
  std::uint64_t size() const override { return size_; }
  void read(std::uint64_t offset, void* out, std::size_t n) override;

 private:
  const unsigned char* data_;
  std::size_t size_;
};

/// A byte stream written in order.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const void* data, std::size_t n) = 0;
};

/// Writes into a temporary file beside `path` (a short name, so any valid `path` works);
/// commit() flushes it to disk and renames it over `path`. Destroyed without commit() (an
/// error), the temporary file is removed and `path` is untouched.
class AtomicFileSink final : public ByteSink {
 public:
  explicit AtomicFileSink(const std::string& path);
  ~AtomicFileSink() override;
  AtomicFileSink(const AtomicFileSink&) = delete;
  AtomicFileSink& operator=(const AtomicFileSink&) = delete;
  void write(const void* data, std::size_t n) override;
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what);
  std::string path_, temp_;
  int fd_ = -1;
};

class MemorySink final : public ByteSink {
 public:
  void write(const void* data, std::size_t n) override;
  std::vector<unsigned char> bytes;
};

/// One tensor of a header: where its bytes are, relative to the data section.
struct TensorRecord {
  std::string dtype;  // "F32", "F64", "F16", "BF16"
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
  std::uint64_t numel() const;
};

/// A validated header: every tensor's range lies in the data section, matches its shape and
/// dtype, and the ranges tile the data section with no gap or overlap.
struct Header {
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
  std::map<std::string, TensorRecord> tensors;
  std::uint64_t data_start = 0;  // byte offset of the data section in the source
};

/// Reads and validates the header of `source` (see Header). Reads no tensor bytes.
Header read_header(ByteSource& source);
/// Reads `n` bytes of tensor `t` starting `offset` bytes into it.
void read_tensor_bytes(ByteSource& source, const Header& header, const TensorRecord& t,
                       std::uint64_t offset, void* out, std::size_t n);

/// A tensor to write: its dtype, shape and byte count (the bytes come later, in name order).
struct TensorSpec {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t bytes = 0;
};
/// Writes the length and the JSON header (tensors in name order, as the reference writes);
/// the caller then writes each tensor's bytes, in the map's order.
void write_header(ByteSink& sink, const std::map<std::string, std::string>& metadata,
                  const std::map<std::string, TensorSpec>& tensors);

/// Bytes per element of a safetensors dtype this library reads (0 when unknown).
std::size_t safetensors_dtype_size(const std::string& dtype);

// Whole-file forms, for small files and tools (the tensors' bytes live in memory).
struct SafeTensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;  // little-endian, product(shape) elements
};

struct SafeTensors {
  std::map<std::string, std::string> metadata;
  std::map<std::string, SafeTensor> tensors;
};

std::vector<unsigned char> encode_safetensors(const SafeTensors& file);
/// Parses and validates everything (as read_header), then copies every tensor's bytes.
SafeTensors decode_safetensors(const void* data, std::size_t size);
SafeTensors read_safetensors(ByteSource& source);
void write_safetensors(ByteSink& sink, const SafeTensors& file);

/// Throws Error when `bytes` exceed this machine's physical memory (whole-file reads).
void check_fits_in_memory(std::uint64_t bytes);

/// AtomicFileSink with `bytes`.
void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes);
/// The whole of a regular file (FileSource's checks).
std::vector<unsigned char> read_file(const std::string& path);

}  // namespace fusedopt::detail
