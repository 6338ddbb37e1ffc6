#include "fusedopt/tensor.hpp"

namespace fusedopt {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::bf16: return 2;
  }
  return 0;
}

const char* to_string(Impl impl) {
  switch (impl) {
    case Impl::Loop: return "loop";
    case Impl::Foreach: return "foreach";
    case Impl::Fused: return "fused";
  }
  return "unknown";
}

const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
  }
  return "unknown";
}

std::string Device::str() const {
  return kind == Kind::cpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

}  // namespace fusedopt
