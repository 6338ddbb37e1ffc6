#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.SGD: momentum (dampening, nesterov), L2 weight_decay, maximize.
///
///   fo::SGD opt(params, fo::SGDOptions().lr(0.1).momentum(0.9).nesterov(true));
class SGD : public OptimizerWithOptions<SGDOptions> {
 public:
  SGD(std::vector<Group> groups, SGDOptions defaults = {});
  SGD(std::vector<Param> params, SGDOptions defaults = {});
  const char* name() const override { return "SGD"; }

 protected:
  void launch(const detail::SegmentLaunch& segment) const override;
};

extern template class OptimizerWithOptions<SGDOptions>;

}  // namespace fusedopt
