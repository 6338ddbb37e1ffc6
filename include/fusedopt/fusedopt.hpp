#pragma once
// Umbrella header: #include <fusedopt/fusedopt.hpp>
#include "fusedopt/adam.hpp"
#include "fusedopt/error.hpp"
#include "fusedopt/optimizer.hpp"
#include "fusedopt/options.hpp"
#include "fusedopt/sgd.hpp"
#include "fusedopt/tensor.hpp"
#include "fusedopt/version.hpp"
