#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.Adam: amsgrad, maximize, L2 weight_decay (added to the gradient).
class Adam : public OptimizerWithOptions<AdamOptions> {
 public:
  Adam(std::vector<Group> groups, AdamOptions defaults = {});
  Adam(std::vector<Param> params, AdamOptions defaults = {});
  const char* name() const override { return "Adam"; }

 protected:
  void launch(const detail::SegmentLaunch& segment) const override;
};

/// torch.optim.AdamW: as Adam, with decoupled weight decay (p *= 1 - lr * weight_decay).
///
///   fo::AdamW opt({{backbone}, {head, fo::AdamWOptions().lr(1e-2)}},
///                 fo::AdamWOptions().lr(1e-3).weight_decay(0.01));
class AdamW : public OptimizerWithOptions<AdamWOptions> {
 public:
  AdamW(std::vector<Group> groups, AdamWOptions defaults = {});
  AdamW(std::vector<Param> params, AdamWOptions defaults = {});
  const char* name() const override { return "AdamW"; }

 protected:
  void launch(const detail::SegmentLaunch& segment) const override;
};

extern template class OptimizerWithOptions<AdamOptions>;
extern template class OptimizerWithOptions<AdamWOptions>;

}  // namespace fusedopt
