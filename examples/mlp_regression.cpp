// A small real training loop through the public API: the seeds' TestNet (13 inputs -> 10 hidden
// ReLU -> 1 output) fitted to a synthetic regression problem, with hand-written forward and
// backward passes on the host. The optimizer (Adam, two param groups as in the seeds) updates the
// parameters on the GPU when one is present, else on the CPU; the learning rate warms up
// linearly for 3 epochs, then follows a cosine (SequentialLR of LinearLR and CosineAnnealingLR).
// The order is torch's: optimizer.step() per batch, scheduler.step() per epoch.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include <fusedopt/fusedopt.hpp>

#if FUSEDOPT_EXAMPLE_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace fo = fusedopt;

namespace {

constexpr int kIn = 13, kHidden = 10, kSamples = 1024, kBatch = 32, kEpochs = 30, kWarmup = 3;

/// Parameter or gradient storage: host floats, mirrored on the GPU when the optimizer runs there.
class Buffer {
 public:
  Buffer(std::size_t n, fo::Device device) : host_(n, 0.0f), device_(device) {
#if FUSEDOPT_EXAMPLE_WITH_CUDA
    if (device.is_cuda() && cudaMalloc(&gpu_, n * sizeof(float)) != cudaSuccess)
      throw std::runtime_error("cudaMalloc failed");
#endif
  }
  ~Buffer() {
#if FUSEDOPT_EXAMPLE_WITH_CUDA
    if (gpu_) cudaFree(gpu_);
#endif
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* host() { return host_.data(); }
  fo::TensorView view() {
    void* data = gpu_ ? gpu_ : static_cast<void*>(host_.data());
    return {data, std::int64_t(host_.size()), fo::DType::f32, device_};
  }
  void to_device() {
#if FUSEDOPT_EXAMPLE_WITH_CUDA
    if (gpu_) cudaMemcpy(gpu_, host_.data(), host_.size() * sizeof(float), cudaMemcpyHostToDevice);
#endif
  }
  void to_host() {
#if FUSEDOPT_EXAMPLE_WITH_CUDA
    if (gpu_) cudaMemcpy(host_.data(), gpu_, host_.size() * sizeof(float), cudaMemcpyDeviceToHost);
#endif
  }

 private:
  std::vector<float> host_;
  fo::Device device_;
  void* gpu_ = nullptr;
};

struct Layer {
  Buffer w, b, gw, gb;
  int in, out;
  Layer(int in_, int out_, fo::Device device, std::mt19937& rng)
      : w(std::size_t(in_ * out_), device), b(std::size_t(out_), device),
        gw(std::size_t(in_ * out_), device), gb(std::size_t(out_), device), in(in_), out(out_) {
    std::uniform_real_distribution<float> init(-1.0f / std::sqrt(float(in)), 1.0f / std::sqrt(float(in)));
    for (int i = 0; i < in * out; ++i) w.host()[i] = init(rng);  // torch.nn.Linear's default range
    for (int i = 0; i < out; ++i) b.host()[i] = init(rng);
    w.to_device();
    b.to_device();
  }
  std::vector<fo::Param> params() { return {{w.view(), gw.view()}, {b.view(), gb.view()}}; }
};

}  // namespace

int main() {
  const fo::Device device = fo::cuda_available() ? fo::Device::cuda(0) : fo::Device::cpu();
  std::printf("fusedopt example: TestNet 13 -> 10 -> 1, optimizer on %s\n", device.str().c_str());

  std::mt19937 rng(2024);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // Synthetic data: a smooth nonlinear target of 13 features plus noise.
  std::vector<float> x(std::size_t(kSamples * kIn)), y(kSamples);
  for (int s = 0; s < kSamples; ++s) {
    float target = 0.0f;
    for (int i = 0; i < kIn; ++i) {
      const float v = normal(rng);
      x[std::size_t(s * kIn + i)] = v;
      target += (i % 3 == 0 ? 0.5f : -0.25f) * v;
    }
    y[std::size_t(s)] = target + std::tanh(x[std::size_t(s * kIn)]) + 0.05f * normal(rng);
  }

  Layer hidden(kIn, kHidden, device, rng), regression(kHidden, 1, device, rng);
  // As in the seeds: per-group learning rates.
  fo::Adam optimizer({{hidden.params(), fo::AdamOptions().lr(1e-2)},
                      {regression.params(), fo::AdamOptions().lr(5e-3)}},
                     fo::AdamOptions().lr(1e-3));
  auto warmup = std::make_shared<fo::LinearLR>(optimizer, /*start_factor=*/0.1, /*end_factor=*/1.0,
                                               /*total_iters=*/kWarmup);
  auto cosine = std::make_shared<fo::CosineAnnealingLR>(optimizer, /*T_max=*/kEpochs - kWarmup,
                                                        /*eta_min=*/1e-4);
  fo::SequentialLR scheduler(optimizer, {warmup, cosine}, /*milestones=*/{kWarmup});

  std::vector<float> h(kHidden), pre(kHidden);
  double first_loss = 0.0, last_loss = 0.0;
  for (int epoch = 1; epoch <= kEpochs; ++epoch) {
    double epoch_loss = 0.0;
    for (int start = 0; start < kSamples; start += kBatch) {
      optimizer.zero_grad();  // on the optimizer's device; the host copies are cleared below
      for (Buffer* g : {&hidden.gw, &hidden.gb, &regression.gw, &regression.gb}) g->to_host();
      for (int s = start; s < start + kBatch; ++s) {
        const float* xs = &x[std::size_t(s * kIn)];
        for (int j = 0; j < kHidden; ++j) {  // forward
          float acc = hidden.b.host()[j];
          for (int i = 0; i < kIn; ++i) acc += hidden.w.host()[j * kIn + i] * xs[i];
          pre[std::size_t(j)] = acc;
          h[std::size_t(j)] = acc > 0.0f ? acc : 0.0f;
        }
        float out = regression.b.host()[0];
        for (int j = 0; j < kHidden; ++j) out += regression.w.host()[j] * h[std::size_t(j)];
        const float diff = out - y[std::size_t(s)];
        epoch_loss += double(diff) * diff;
        const float d_out = 2.0f * diff / kBatch;  // d(mean squared error)/d(out)
        regression.gb.host()[0] += d_out;          // backward
        for (int j = 0; j < kHidden; ++j) {
          regression.gw.host()[j] += d_out * h[std::size_t(j)];
          const float d_pre = pre[std::size_t(j)] > 0.0f ? d_out * regression.w.host()[j] : 0.0f;
          hidden.gb.host()[j] += d_pre;
          for (int i = 0; i < kIn; ++i) hidden.gw.host()[j * kIn + i] += d_pre * xs[i];
        }
      }
      for (Buffer* g : {&hidden.gw, &hidden.gb, &regression.gw, &regression.gb}) g->to_device();
      optimizer.step();  // one fused launch for all four tensors of both groups
      for (Buffer* p : {&hidden.w, &hidden.b, &regression.w, &regression.b}) p->to_host();
    }
    last_loss = epoch_loss / kSamples;
    if (epoch == 1) first_loss = last_loss;
    const std::vector<double>& lr = scheduler.get_last_lr();
    std::printf("epoch %2d  loss %.5f  lr %.6f %.6f\n", epoch, last_loss, lr[0], lr[1]);
    scheduler.step();  // per epoch; new lrs land in the optimizer's device scalars
  }
  if (!(last_loss < 0.1 * first_loss)) {
    std::printf("FAILED: the loss did not fall by 10x (%.5f -> %.5f)\n", first_loss, last_loss);
    return 1;
  }
  return 0;
}
