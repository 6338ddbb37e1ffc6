#include <cstdio>
#include <vector>

#include <fusedopt/fusedopt.hpp>

int main() {
  std::vector<float> w = {1.0f, 2.0f}, g = {0.5f, -0.5f};
  fusedopt::TensorView wv{w.data(), 2, fusedopt::DType::f32, fusedopt::Device::cpu()};
  fusedopt::TensorView gv{g.data(), 2, fusedopt::DType::f32, fusedopt::Device::cpu()};
  fusedopt::SGD opt({{wv, gv}}, fusedopt::SGDOptions().lr(1.0));
  opt.step();
  const bool ok = w[0] == 0.5f && w[1] == 2.5f;
  std::printf("consumer: w = {%g, %g} %s\n", w[0], w[1], ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
