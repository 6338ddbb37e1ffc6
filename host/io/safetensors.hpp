#pragma once
// The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header naming every tensor's dtype, shape and byte range, then the
// bytes. fusedopt's checkpoints are such files; see NOTE(checkpoint) in state_dict.hpp.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fusedopt::detail {

struct SafeTensor {
  std::string dtype;  // "F32", "F64", "F16", "BF16"
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;  // little-endian, product(shape) elements
};

struct SafeTensors {
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
  std::map<std::string, SafeTensor> tensors;
};

/// Bytes per element of a safetensors dtype this library reads (0 when unknown).
std::size_t safetensors_dtype_size(const std::string& dtype);

std::vector<unsigned char> encode_safetensors(const SafeTensors& file);
/// Parses and validates everything: header length, JSON syntax and types, dtypes, shapes,
/// offsets (in range, matching the shape, non-overlapping and covering the data with no gap).
/// Throws Error naming what is wrong.
SafeTensors decode_safetensors(const void* data, std::size_t size);

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk, then renames it over
/// `path`; on error the temporary file is removed and `path` is untouched.
void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes);
std::vector<unsigned char> read_file(const std::string& path);

}  // namespace fusedopt::detail
