// Extra host memory (peak RSS above the resident set before the call) of each checkpoint path,
// for an AdamW whose state is `state_mib` MiB (NOTE(streaming-io) in host/io/safetensors.hpp):
//
//   checkpoint_memory [state_mib=1024] [directory=.]
//
// Prints a Markdown table. The peak is reset before each call through /proc/self/clear_refs
// (Linux); the file written is removed at the end. The parameters, gradients and state live in
// host memory (the CPU executor), so they are part of the resident set before every call and
// not of the figures.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"

namespace fo = fusedopt;

namespace {
/// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), or -1.
long long status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, field.size() + 1, field + ":") == 0)
      return std::stoll(line.substr(field.size() + 1)) * 1024;
  return -1;
}

bool reset_peak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  return bool(out);
}

struct Row {
  std::string call;
  double extra_mib, seconds;
};

Row measure(const std::string& call, const std::function<void()>& f) {
  const bool reset = reset_peak();
  const long long before = status_bytes("VmRSS");
  const auto start = std::chrono::steady_clock::now();
  f();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long long peak = status_bytes("VmHWM");
  return {call, reset && before >= 0 && peak >= 0 ? double(peak - before) / (1 << 20) : -1.0,
          seconds};
}
}  // namespace

int main(int argc, char** argv) {
  const long long state_mib = argc > 1 ? std::stoll(argv[1]) : 1024;
  const std::string dir = argc > 2 ? argv[2] : ".";
  const std::string path = dir + "/checkpoint_memory." + std::to_string(::getpid()) + ".safetensors";
  // AdamW keeps exp_avg and exp_avg_sq: 8 bytes of state per element; 16 tensors.
  const std::int64_t numel = state_mib * (1 << 20) / 8;
  const int tensors = 16;
  std::vector<float> values(std::size_t(numel), 0.5f), grads(std::size_t(numel), 0.25f);
  std::vector<fo::Param> params;
  for (int t = 0; t < tensors; ++t) {
    const std::int64_t begin = numel * t / tensors, end = numel * (t + 1) / tensors;
    params.push_back({{values.data() + begin, end - begin, fo::DType::f32, fo::Device::cpu()},
                      {grads.data() + begin, end - begin, fo::DType::f32, fo::Device::cpu()}});
  }
  fo::AdamW opt(params, fo::AdamWOptions().lr(1e-3));
  opt.step();

  std::vector<Row> rows;
  rows.push_back(measure("save(path)", [&] { opt.save(path); }));
  rows.push_back(measure("load(path)", [&] { opt.load(path); }));
  std::vector<unsigned char> bytes;
  rows.push_back(measure("save_bytes()", [&] { bytes = opt.save_bytes(); }));
  rows.push_back(measure("load_bytes()", [&] { opt.load_bytes(bytes.data(), bytes.size()); }));
  std::vector<unsigned char>().swap(bytes);
  rows.push_back(measure("write_state_dict(state_dict(), path)",
                         [&] { fo::write_state_dict(opt.state_dict(), path); }));
  rows.push_back(measure("load_state_dict(read_state_dict(path))",
                         [&] { opt.load_state_dict(fo::read_state_dict(path)); }));
  std::remove(path.c_str());

  std::printf("AdamW, %d f32 tensors, %lld MiB of state (%lld elements), CPU executor\n\n",
              tensors, state_mib, static_cast<long long>(numel));
  std::printf("| call | extra peak RSS (MiB) | time (s) |\n| --- | ---: | ---: |\n");
  for (const Row& r : rows) {
    if (r.extra_mib < 0)
      std::printf("| %s | unavailable | %.2f |\n", r.call.c_str(), r.seconds);
    else
      std::printf("| %s | %.1f | %.2f |\n", r.call.c_str(), r.extra_mib, r.seconds);
  }
  return 0;
}
