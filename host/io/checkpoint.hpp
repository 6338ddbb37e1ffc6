#pragma once
// An optimizer checkpoint file (NOTE(checkpoint) in include/fusedopt/state_dict.hpp) read as
// an index: its header and small tensors in memory, its state tensors left in the source to
// be streamed (NOTE(streaming-io) in safetensors.hpp).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fusedopt/averaging.hpp"
#include "fusedopt/optimizer.hpp"
#include "fusedopt/state_dict.hpp"
#include "host/io/safetensors.hpp"

namespace fusedopt::detail {

/// The header's "__metadata__" of an optimizer checkpoint.
std::map<std::string, std::string> checkpoint_metadata(const std::string& optimizer,
                                                       const std::vector<GroupState>& groups,
                                                       const std::optional<StepSettings>& settings);
/// "state.<id>.<key>", the file name of a parameter's state entry.
std::string state_entry_name(std::int64_t id, const std::string& key);

/// A parameter's state in a checkpoint: step and scalars read, tensors located.
struct IndexedParam {
  double step = 0;
  std::map<std::string, TensorRecord> tensors;  // 1-d F32
  std::map<std::string, double> scalars;
};

struct CheckpointIndex {
  Header header;
  std::string optimizer;
  std::vector<GroupState> param_groups;
  std::map<std::int64_t, IndexedParam> state;
  std::optional<StepSettings> settings;  // NOTE(step-settings)
};

/// Validates everything but the state tensors' values: the container, the format tag and
/// version, param_groups, every entry's name, dtype and rank, a step for every parameter.
CheckpointIndex read_checkpoint_index(ByteSource& source);

/// `bytes` at `src` (memory of `device`) into `sink`: directly from host memory, through a
/// kIoBlockBytes bounce buffer from a GPU.
void write_device_bytes(ByteSink& sink, const void* src, std::uint64_t bytes, Device device,
                        Stream stream);
/// Tensor `record`'s bytes into `dst` (memory of `device`), in blocks as write_device_bytes.
void read_tensor_to_device(ByteSource& source, const Header& header, const TensorRecord& record,
                           void* dst, Device device, Stream stream);

/// The checkpoint streams of an optimizer and an averaged model with any source or sink: the
/// parts of a training checkpoint (NOTE(training-checkpoint)); tests feed failing ones.
struct CheckpointAccess {
  /// `what` names the load in the Error of a read that fails after validation.
  static void load(Optimizer& optimizer, ByteSource& source, const std::string& what = "a test load") {
    optimizer.read_checkpoint(source, what);
  }
  static void save(const Optimizer& optimizer, ByteSink& sink) { optimizer.write_checkpoint(sink); }
  static void save(const AveragedModel& model, ByteSink& sink) { model.write_file(sink); }
  /// Validates; the returned function streams the copies in (AveragedModel::stage_file).
  static std::function<void()> stage(AveragedModel& model, ByteSource& source,
                                     const std::string& what) {
    return model.stage_file(source, what);
  }
};

}  // namespace fusedopt::detail
