// A small real training loop through the public API: the seeds' TestNet (13 inputs -> 10 hidden
// ReLU -> 1 output) fitted to a synthetic regression problem, with hand-written forward and
// backward passes on the host. The optimizer (Adam, two param groups as in the seeds) updates the
// parameters on the GPU when one is present, else on the CPU; the learning rate warms up
// linearly for 3 epochs, then follows a cosine (SequentialLR of LinearLR and CosineAnnealingLR).
// The order is torch's: optimizer.step() per batch, scheduler.step() per epoch.
//
// It trains twice: with f32 parameters, then as a bf16 engine would, with bf16 parameters and
// gradients, fp32 master weights (fo::Precision), clipping by the global norm inside the step
// and loss scaling with a device-resident fo::GradScaler (torch's scaler.scale(loss).backward(),
// scaler.step(optimizer), scaler.update()).
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

std::uint16_t to_bf16(float f) {  // round to nearest-even (finite values)
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return std::uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float from_bf16(std::uint16_t b) {
  const std::uint32_t u = std::uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Parameter or gradient storage: host floats for the forward and backward passes; the
/// optimizer's copy is f32 or bf16, in host memory or on the GPU when the optimizer runs there.
class Buffer {
 public:
  Buffer(std::size_t n, fo::Device device, fo::DType dtype)
      : host_(n, 0.0f), bits_(dtype == fo::DType::bf16 ? n : 0), device_(device), dtype_(dtype) {
#if FUSEDOPT_EXAMPLE_WITH_CUDA
    if (device.is_cuda() && cudaMalloc(&gpu_, n * fo::dtype_size(dtype)) != cudaSuccess)
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
  fo::TensorView view() { return {storage(), std::int64_t(host_.size()), dtype_, device_}; }
  void to_device() {
    if (dtype_ == fo::DType::bf16)
      for (std::size_t i = 0; i < host_.size(); ++i) bits_[i] = to_bf16(host_[i]);
#if FUSEDOPT_EXAMPLE_WITH_CUDA
    if (gpu_) cudaMemcpy(gpu_, staged(), bytes(), cudaMemcpyHostToDevice);
#endif
  }
  void to_host() {
#if FUSEDOPT_EXAMPLE_WITH_CUDA
    if (gpu_) cudaMemcpy(staged(), gpu_, bytes(), cudaMemcpyDeviceToHost);
#endif
    if (dtype_ == fo::DType::bf16)
      for (std::size_t i = 0; i < host_.size(); ++i) host_[i] = from_bf16(bits_[i]);
  }

 private:
  void* staged() { return dtype_ == fo::DType::bf16 ? static_cast<void*>(bits_.data()) : host_.data(); }
  void* storage() { return gpu_ ? gpu_ : staged(); }
  std::size_t bytes() const { return host_.size() * fo::dtype_size(dtype_); }
  std::vector<float> host_;
  std::vector<std::uint16_t> bits_;  // the bf16 copy
  fo::Device device_;
  fo::DType dtype_;
  void* gpu_ = nullptr;
};

float read_scalar(const float* value, fo::Device device) {
  float out = 0.0f;
  if (device.is_cpu()) out = *value;
#if FUSEDOPT_EXAMPLE_WITH_CUDA
  if (device.is_cuda()) cudaMemcpy(&out, value, sizeof out, cudaMemcpyDeviceToHost);
#endif
  return out;
}

struct Layer {
  Buffer w, b, gw, gb;
  int in, out;
  Layer(int in_, int out_, fo::Device device, fo::DType dtype, std::mt19937& rng)
      : w(std::size_t(in_ * out_), device, dtype), b(std::size_t(out_), device, dtype),
        gw(std::size_t(in_ * out_), device, dtype), gb(std::size_t(out_), device, dtype),
        in(in_), out(out_) {
    std::uniform_real_distribution<float> init(-1.0f / std::sqrt(float(in)), 1.0f / std::sqrt(float(in)));
    for (int i = 0; i < in * out; ++i) w.host()[i] = init(rng);  // torch.nn.Linear's default range
    for (int i = 0; i < out; ++i) b.host()[i] = init(rng);
    w.to_device();
    b.to_device();
  }
  std::vector<fo::Param> params() { return {{w.view(), gw.view()}, {b.view(), gb.view()}}; }
};

/// One training run; returns false when the loss did not fall by 10x.
bool train(fo::Device device, fo::DType dtype, const std::vector<float>& x,
           const std::vector<float>& y) {
  const bool mixed = dtype == fo::DType::bf16;
  std::printf("%s\n", mixed ? "bf16 parameters and gradients, fp32 master weights, clipping to "
                               "norm 1 in the step, loss scaling"
                             : "f32 parameters");
  std::mt19937 rng(2024);
  Layer hidden(kIn, kHidden, device, dtype, rng), regression(kHidden, 1, device, dtype, rng);
  for (Buffer* p : {&hidden.w, &hidden.b, &regression.w, &regression.b}) p->to_host();  // rounded
  // As in the seeds: per-group learning rates.
  fo::Adam optimizer({{hidden.params(), fo::AdamOptions().lr(1e-2)},
                      {regression.params(), fo::AdamOptions().lr(5e-3)}},
                     fo::AdamOptions().lr(1e-3));
  std::unique_ptr<fo::GradScaler> scaler;
  std::unique_ptr<fo::GradList> grads;
  if (mixed) {
    fo::Precision precision;
    precision.master_weights = true;         // the step updates fp32 masters, writes bf16
    optimizer.set_precision(precision);
    optimizer.set_grad_clipping(1.0);        // torch's clip_grad_norm_(params, 1.0), in the step
    scaler = std::make_unique<fo::GradScaler>(device, fo::GradScalerOptions().init_scale(1024.0));
    grads = std::make_unique<fo::GradList>(optimizer);
  }
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
      // scaler.scale(loss).backward(): the loss gradient times the current scale.
      const float loss_scale = scaler ? read_scalar(scaler->scale(), device) : 1.0f;
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
        const float d_out = loss_scale * 2.0f * diff / kBatch;  // d(mean squared error)/d(out)
        regression.gb.host()[0] += d_out;                       // backward
        for (int j = 0; j < kHidden; ++j) {
          regression.gw.host()[j] += d_out * h[std::size_t(j)];
          const float d_pre = pre[std::size_t(j)] > 0.0f ? d_out * regression.w.host()[j] : 0.0f;
          hidden.gb.host()[j] += d_pre;
          for (int i = 0; i < kIn; ++i) hidden.gw.host()[j * kIn + i] += d_pre * xs[i];
        }
      }
      for (Buffer* g : {&hidden.gw, &hidden.gb, &regression.gw, &regression.gb}) g->to_device();
      if (scaler) {
        scaler->step(optimizer, *grads);  // unscaled and skipped on inf/NaN on the device
        scaler->update();
      } else {
        optimizer.step();  // one fused launch for all four tensors of both groups
      }
      for (Buffer* p : {&hidden.w, &hidden.b, &regression.w, &regression.b}) p->to_host();
    }
    last_loss = epoch_loss / kSamples;
    if (epoch == 1) first_loss = last_loss;
    const std::vector<double>& lr = scheduler.get_last_lr();
    std::printf("epoch %2d  loss %.5f  lr %.6f %.6f\n", epoch, last_loss, lr[0], lr[1]);
    scheduler.step();  // per epoch; new lrs land in the optimizer's device scalars
  }
  if (scaler)
    std::printf("loss scale %.0f, %lld step(s) skipped for inf/NaN gradients\n",
                read_scalar(scaler->scale(), device), static_cast<long long>(scaler->skipped_steps()));
  if (!(last_loss < 0.1 * first_loss)) {
    std::printf("FAILED: the loss did not fall by 10x (%.5f -> %.5f)\n", first_loss, last_loss);
    return false;
  }
  return true;
}

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

  const bool f32_trains = train(device, fo::DType::f32, x, y);
  const bool bf16_trains = train(device, fo::DType::bf16, x, y);
  return f32_trains && bf16_trains ? 0 : 1;
}
