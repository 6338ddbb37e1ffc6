// fusedopt inside a LibTorch training loop (NOTE(rebind) in include/fusedopt/optimizer.hpp).
//
// A small language-model-shaped network (embedding, two Linear + LayerNorm + GELU blocks, a
// head) learns a fixed next-token rule. Three copies start from the same weights and see the
// same batches, with AdamW in two param groups (decay on the matrices only), a cosine schedule
// and global-norm clipping at 1.0:
//   torch   torch::optim::AdamW, clip_grad_norm_ before each step: the reference;
//   kept    fusedopt over views of the model, gradients zeroed in place (zero_grad(false)), so
//           no address ever moves;
//   moved   fusedopt as LibTorch is used by default: zero_grad() frees every gradient and the
//           next backward allocates new ones, so the gradients are rebound after each
//           backward; before the first backward the parameters have no gradient (null views);
//           halfway, the run saves a training checkpoint (optimizer + scheduler) and the model
//           (torch::save), then a new process's worth of objects loads both: torch::load puts
//           the weights into new storage, which is rebound before the optimizer steps again.
// Checks (the exit status): `moved` ends bit for bit equal to `kept`; `kept` is as accurate as
// `torch` in float32: at most twice as far as torch from the same run in float64 (a fourth
// copy, torch's AdamW in double), so the two differ only by float32 rounding; the loss falls;
// the addresses really moved.
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fusedopt/fusedopt.hpp>

namespace fo = fusedopt;

namespace {

constexpr int kVocab = 64, kDim = 32, kHidden = 64, kBatch = 32, kSteps = 200;
constexpr double kLr = 3e-3, kWeightDecay = 0.1, kMaxNorm = 1.0;

struct NetImpl : torch::nn::Module {
  torch::nn::Embedding embed{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, head{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  NetImpl() {
    embed = register_module("embed", torch::nn::Embedding(kVocab, kDim));
    fc1 = register_module("fc1", torch::nn::Linear(kDim, kHidden));
    norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({kHidden})));
    fc2 = register_module("fc2", torch::nn::Linear(kHidden, kDim));
    norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({kDim})));
    head = register_module("head", torch::nn::Linear(kDim, kVocab));
  }
  torch::Tensor forward(const torch::Tensor& tokens) {
    const torch::Tensor x = embed(tokens);
    const torch::Tensor h = torch::gelu(norm1(fc1(x)));
    return head(x + torch::gelu(norm2(fc2(h))));
  }
};
TORCH_MODULE(Net);

/// Decay on the matrices (and the embedding), none on biases and LayerNorm: the usual split.
std::vector<std::vector<torch::Tensor>> split(Net& net) {
  std::vector<std::vector<torch::Tensor>> groups(2);
  for (const auto& p : net->named_parameters()) groups[p.value().dim() >= 2 ? 0 : 1].push_back(p.value());
  return groups;
}

fo::TensorView view_of(const torch::Tensor& t) {
  if (!t.defined()) return {};  // no gradient yet: skipped until rebound (NOTE(absent-grad))
  return {t.data_ptr<float>(), t.numel(), fo::DType::f32, fo::Device::cpu()};
}

/// The model's current addresses, by group, as fusedopt params.
std::vector<std::vector<fo::Param>> views(Net& net) {
  std::vector<std::vector<fo::Param>> out;
  for (const auto& group : split(net)) {
    out.emplace_back();
    for (const torch::Tensor& p : group) out.back().push_back({view_of(p), view_of(p.grad())});
  }
  return out;
}

struct Batch {
  torch::Tensor tokens, targets;
};
std::vector<Batch> make_batches() {
  torch::manual_seed(1);
  std::vector<Batch> out;
  for (int s = 0; s < kSteps; ++s) {
    torch::Tensor tokens = torch::randint(kVocab, {kBatch}, torch::kLong);
    out.push_back({tokens, (tokens * 7 + 3) % kVocab});  // the rule to learn
  }
  return out;
}

float loss_of(Net& net, const Batch& b) {
  return torch::nn::functional::cross_entropy(net->forward(b.tokens), b.targets).item<float>();
}

/// fusedopt's AdamW, scheduler and the model it steps.
struct FusedRun {
  Net net;
  std::unique_ptr<fo::AdamW> opt;
  std::unique_ptr<fo::CosineAnnealingLR> sched;
  explicit FusedRun(const Net& from) : net(Net()) {
    load_weights(from);
    const auto groups = views(net);  // no gradients yet: null views
    opt = std::make_unique<fo::AdamW>(
        std::vector<fo::AdamW::Group>{{groups[0], fo::AdamWOptions().weight_decay(kWeightDecay)},
                                      {groups[1], fo::AdamWOptions().weight_decay(0.0)}},
        fo::AdamWOptions().lr(kLr));
    opt->set_grad_clipping(kMaxNorm);
    sched = std::make_unique<fo::CosineAnnealingLR>(*opt, kSteps);
  }
  void load_weights(const Net& from) {
    torch::NoGradGuard no_grad;
    const auto src = from->parameters();
    const auto dst = net->parameters();
    for (std::size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  fo::TrainingState state() { return {opt.get(), {sched.get()}, {}, nullptr}; }
  /// One step. `free_grads`: LibTorch's default zero_grad, which frees the gradients, so that
  /// they are rebound after the backward; otherwise zeroed in place and bound once.
  void step(const Batch& b, bool free_grads, int& moved) {
    const std::vector<std::vector<fo::Param>> before = views(net);
    net->zero_grad(/*set_to_none=*/free_grads);
    torch::nn::functional::cross_entropy(net->forward(b.tokens), b.targets).backward();
    const std::vector<std::vector<fo::Param>> after = views(net);
    bool changed = false;
    for (std::size_t g = 0; g < after.size(); ++g)
      for (std::size_t i = 0; i < after[g].size(); ++i)
        if (after[g][i].grad.data != before[g][i].grad.data) {
          ++moved;
          changed = true;
        }
    if (changed) opt->rebind(after);  // the new gradients (the first time: the first ones)
    opt->step();
    sched->step();
  }
};

/// torch's AdamW over the same groups, clip_grad_norm_ before each step; in float32, or in
/// float64 (`dtype`), the yardstick of float32's rounding.
struct TorchRun {
  Net net;
  std::unique_ptr<torch::optim::AdamW> opt;
  TorchRun(const Net& from, torch::Dtype dtype) {
    net->to(dtype);
    torch::NoGradGuard no_grad;
    const auto src = from->parameters();
    const auto dst = net->parameters();
    for (std::size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    const auto params = split(net);
    for (int g = 0; g < 2; ++g)
      groups.emplace_back(params[std::size_t(g)],
                          std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(kLr).weight_decay(
                              g == 0 ? kWeightDecay : 0.0)));
    opt = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(kLr));
  }
  void step(const Batch& b, const std::vector<double>& lrs) {
    for (std::size_t g = 0; g < 2; ++g)
      static_cast<torch::optim::AdamWOptions&>(opt->param_groups()[g].options()).lr(lrs[g]);
    opt->zero_grad();
    torch::nn::functional::cross_entropy(net->forward(b.tokens), b.targets).backward();
    torch::nn::utils::clip_grad_norm_(net->parameters(), kMaxNorm);
    opt->step();
  }
};

double max_difference(Net& a, Net& b) {
  double out = 0;
  const auto x = a->parameters(), y = b->parameters();
  for (std::size_t i = 0; i < x.size(); ++i)
    out = std::max(out, (x[i] - y[i]).abs().max().item<double>());
  return out;
}

}  // namespace

int main() {
  torch::set_num_threads(1);  // the same reduction order in every copy
  torch::manual_seed(0);
  Net reference;
  const std::vector<Batch> batches = make_batches();
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("fusedopt_libtorch_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);

  FusedRun kept(reference), moved(reference);
  TorchRun torch_run(reference, torch::kFloat32), exact(reference, torch::kFloat64);
  int kept_moves = 0, grad_moves = 0, value_moves = 0;
  const float loss_before = loss_of(kept.net, batches[0]);
  for (int s = 0; s < kSteps; ++s) {
    const Batch& b = batches[std::size_t(s)];
    // torch: lr from fusedopt's scheduler (the same values: CosineAnnealingLR is torch's).
    const std::vector<double> lrs = {kept.opt->lr(0), kept.opt->lr(1)};
    torch_run.step(b, lrs);
    exact.step(b, lrs);

    kept.step(b, /*free_grads=*/false, kept_moves);
    moved.step(b, /*free_grads=*/true, grad_moves);

    if (s == kSteps / 2 - 1) {  // save; then a fresh model and optimizer load it
      const std::string model_path = dir + "/model.pt", run_path = dir + "/run.safetensors";
      torch::save(moved.net, model_path);
      fo::save_training_checkpoint(moved.state(), run_path);
      FusedRun resumed(Net{});  // other weights, other lr state: the files must restore them
      const auto before = views(resumed.net);
      torch::load(resumed.net, model_path);  // new storage for every parameter
      const auto after = views(resumed.net);
      for (std::size_t g = 0; g < after.size(); ++g)
        for (std::size_t i = 0; i < after[g].size(); ++i)
          value_moves += after[g][i].value.data != before[g][i].value.data;
      resumed.opt->rebind(after);
      fo::load_training_checkpoint(resumed.state(), run_path);
      std::swap(moved, resumed);
      std::filesystem::remove_all(dir);
    }
  }
  const float loss_after = loss_of(kept.net, batches[0]);
  const double kept_vs_moved = max_difference(kept.net, moved.net);
  const double kept_vs_torch = max_difference(kept.net, torch_run.net);
  const double kept_error = max_difference(kept.net, exact.net);
  const double torch_error = max_difference(torch_run.net, exact.net);
  std::printf("loss %.4f -> %.4f over %d steps\n", loss_before, loss_after, kSteps);
  std::printf("gradients moved %d times (freed by zero_grad, rebound after each backward); "
              "kept in place: %d moves after the first bind\n",
              grad_moves, kept_moves - int(kept.net->parameters().size()));
  std::printf("torch::load gave %d of %zu parameters new storage (rebound)\n", value_moves,
              kept.net->parameters().size());
  std::printf("max |moved - kept| = %g (bit for bit: 0)\n", kept_vs_moved);
  std::printf("max |fusedopt - torch AdamW| = %.3g; from the float64 run: fusedopt %.3g, torch "
              "%.3g\n", kept_vs_torch, kept_error, torch_error);
  const bool ok = kept_vs_moved == 0.0 && kept_error <= 2 * torch_error &&
                  loss_after < 0.5f * loss_before && grad_moves > 0 && value_moves > 0 &&
                  kept_moves == int(kept.net->parameters().size());
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
