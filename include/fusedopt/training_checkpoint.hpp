#pragma once
// One file for everything a resumed run needs: the optimizer, its LR schedulers, averaged
// models and the GradScaler, saved and loaded by one call.
//
// NOTE(training-checkpoint): a safetensors container whose tensors are the parts' own files as
// bytes (U8, 1-d): "optimizer" (Optimizer::save's file), "scheduler.<i>" (LRScheduler::save's)
// and "averaged_model.<i>" (AveragedModel::save's), in the order the call lists them; the
// metadata holds the format tag and, when a scaler is given, "grad_scaler": its state_dict() as
// JSON (null for a disabled scaler). A part can be cut out of the file and loaded on its own.
//
// load_training_checkpoint checks the container, the parts against the call (as many
// schedulers and averaged models, a scaler state when a scaler is given, each scheduler of the
// kind and parameter groups it is loaded into) and validates each part completely before
// anything changes; an Error then leaves every part as it was. Only a read that fails after
// that (a disk error) can leave the optimizer or an averaged model partly overwritten, as
// Optimizer::load says; the Error says so.
#include <string>
#include <vector>

#include "fusedopt/averaging.hpp"
#include "fusedopt/grad_utils.hpp"
#include "fusedopt/lr_scheduler.hpp"
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// What a training checkpoint holds: the optimizer and, optionally, the schedulers that drive
/// it, averaged models and the scaler (nullptr: none). The pointers are not owned.
struct TrainingState {
  Optimizer* optimizer = nullptr;
  std::vector<LRScheduler*> schedulers;
  std::vector<AveragedModel*> averaged_models;
  GradScaler* scaler = nullptr;
};

/// Writes every part of `state` to `path` atomically (a temporary file beside it, then a
/// rename); on Error `path` is untouched. Host memory beyond the small parts is bounded, as
/// Optimizer::save (the optimizer's and averaged models' tensors are streamed, twice: once to
/// measure each part). Synchronizes.
void save_training_checkpoint(const TrainingState& state, const std::string& path);
/// Loads a file written by save_training_checkpoint into `state`'s parts (see
/// NOTE(training-checkpoint) for what is checked first).
void load_training_checkpoint(const TrainingState& state, const std::string& path);

}  // namespace fusedopt
