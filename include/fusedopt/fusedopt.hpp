#pragma once
// Umbrella header: #include <fusedopt/fusedopt.hpp>
#include "fusedopt/error.hpp"
#include "fusedopt/grad_utils.hpp"
#include "fusedopt/lr_scheduler.hpp"
#include "fusedopt/optimizer.hpp"
#include "fusedopt/optimizer_list.hpp"  // every optimizer's header (cmake/optimizers.cmake)
#include "fusedopt/options.hpp"
#include "fusedopt/tensor.hpp"
#include "fusedopt/training_checkpoint.hpp"
#include "fusedopt/version.hpp"
