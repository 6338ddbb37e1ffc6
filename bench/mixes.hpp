#pragma once
// The tensor mixes the benchmarks run on. bench/compare_torch.py builds the same lists (keep the
// two in step: same names, same sizes).
#include <cstdint>
#include <string>
#include <vector>

namespace fusedopt::bench {

struct Mix {
  std::string name;
  std::vector<std::int64_t> sizes;  // elements per tensor

  std::int64_t total() const {
    std::int64_t n = 0;
    for (std::int64_t s : sizes) n += s;
    return n;
  }
};

/// `count` tensors of `each` elements.
inline Mix uniform_mix(const std::string& name, int count, std::int64_t each) {
  return {name, std::vector<std::int64_t>(std::size_t(count), each)};
}

/// GPT-2 124M (n_layer 12, n_embd 768, vocab 50257, n_ctx 1024): the 148 parameter tensors of
/// Hugging Face's GPT2Model, in order, 124,439,808 elements.
inline Mix gpt2_mix() {
  constexpr std::int64_t kEmbd = 768, kVocab = 50257, kCtx = 1024;
  Mix mix{"gpt2", {kVocab * kEmbd, kCtx * kEmbd}};
  for (int layer = 0; layer < 12; ++layer) {
    for (std::int64_t s : {kEmbd, kEmbd,                          // ln_1 weight, bias
                           kEmbd * 3 * kEmbd, 3 * kEmbd,          // attn.c_attn
                           kEmbd * kEmbd, kEmbd,                  // attn.c_proj
                           kEmbd, kEmbd,                          // ln_2
                           kEmbd * 4 * kEmbd, 4 * kEmbd,          // mlp.c_fc
                           4 * kEmbd * kEmbd, kEmbd})             // mlp.c_proj
      mix.sizes.push_back(s);
  }
  mix.sizes.push_back(kEmbd);  // ln_f weight
  mix.sizes.push_back(kEmbd);  // ln_f bias
  return mix;
}

/// `count` small tensors cycling through 1K, 2K, ..., 64K elements (mean 18,139).
inline Mix small_mix(const std::string& name, int count) {
  Mix mix{name, {}};
  for (int i = 0; i < count; ++i) mix.sizes.push_back(std::int64_t(1024) << (i % 7));
  return mix;
}

}  // namespace fusedopt::bench
