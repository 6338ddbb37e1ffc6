#pragma once
// kernels/engine/apply.h (Pack, load_pack, store_pack, is_vector_aligned) through a guarded
// header: apply.h itself has no include guard, so the gradient utilities include it only here,
// and host/amp/executor.cpp does not include host/engine/executor.hpp (which includes it too).
#include "kernels/engine/apply.h"
