#pragma once
// NOTE(emulated-device): a test executor that runs the CUDA executor's device code on the CPU.
// Every launch that kernels/engine/multi_tensor.cuh would make is replayed block by block, the
// blocks in a shuffled order, and within a block lane by lane (blockDim as the kernel's, the
// lanes in a shuffled order too), calling the same __host__ __device__ functions the kernels call
// with the same lane and stride arguments: the strided 16/32-byte vector loops and scalar tails
// of update_range (with its loads in flight, NOTE(in-flight)), pass_range and zero_chunk, the
// step kernel variant the launch picks (kStochastic, kUnscale), the block's constants computed
// once per block (NOTE(block-constants)), and the per-tensor completion of NOTE(step-count)
// (arrive_chunk: arrive_last, reset_arrivals and finish_param on the real per-parameter
// arrival counters of StepScalars).
//
// It shows that the device loops cover every element exactly once, that the step count
// protocol holds in any block order (each tensor's last chunk, whichever block runs it), and that vector packs are used only where aligned. It
// cannot show what needs a GPU: lanes and blocks running at the same time (races, memory
// ordering), the device compiler's code, the launch itself (scripts/gpu_check.sh).
//
// Tests only, through this internal header (not the public API): while it is on, optimizers
// and averaged models on Device::cpu() take this path instead of the CPU executor's loops.
#include <cstdint>
#include <vector>

namespace fusedopt::detail {

/// Turns the emulated device on or off for the process; `seed` fixes the block and lane orders.
void set_emulated_device(bool enabled, std::uint64_t seed = 0);
bool emulated_device();
/// The order in which the next launch visits `count` blocks (or lanes): a permutation of
/// [0, count) drawn from the seed and a per-process launch counter.
std::vector<std::int64_t> emulated_order(std::int64_t count);

}  // namespace fusedopt::detail
