// NOTE(one-list): FUSEDOPT_FOR_EACH_OPTIMIZER (generated from cmake/optimizers.cmake) names
// every optimizer class once, with the name its objects report, and the suites that take every
// optimizer have a case for each.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

template <class Class, class Options>
std::string constructed_name() {
  float value = 1.0f, grad = 0.5f;
  const Param p{TensorView{&value, 1, DType::f32, Device::cpu()},
                TensorView{&grad, 1, DType::f32, Device::cpu()}};
  return Class(std::vector<Param>{p}, Options()).name();
}

TEST(OptimizerList, EachClassOnceUnderTheNameItReports) {
  std::vector<std::string> reported;
#define FUSEDOPT_TEST_REPORTED(Class, Options) reported.push_back(constructed_name<Class, Options>());
  FUSEDOPT_FOR_EACH_OPTIMIZER(FUSEDOPT_TEST_REPORTED)
#undef FUSEDOPT_TEST_REPORTED
  const std::vector<std::string> listed = listed_optimizers();
  EXPECT_EQ(reported, listed);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), listed.size());
  EXPECT_GE(listed.size(), 13u);  // SGD ... AdamWScheduleFree at the time of writing
}

TEST(OptimizerList, SharedCasesCoverEveryOptimizer) {
  std::vector<std::string> names;
  for (const OptimizerCase& c : all_optimizer_cases()) names.push_back(c.name);
  // AdamWScheduleFree is no FusedOptimizer (its own host state): tests/test_schedule_free.cpp.
  EXPECT_EQ(uncovered_optimizers(names, {"AdamWScheduleFree"}), std::vector<std::string>{});
}

TEST(OptimizerList, UncoveredNamesWhatNoCaseIsFor) {
  EXPECT_EQ(uncovered_optimizers({"SGD", "Adam_amsgrad", "AdamW"}, {"AdamWScheduleFree"}).size(),
            listed_optimizers().size() - 4);
  const std::vector<std::string> missing = uncovered_optimizers({"AdamW_x"});
  EXPECT_NE(std::find(missing.begin(), missing.end(), "Adam"), missing.end())
      << "\"AdamW_x\" is no case for Adam";
}

}  // namespace
}  // namespace fusedopt::testing
