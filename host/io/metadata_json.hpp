#pragma once
// JSON held in a checkpoint's metadata strings (param_groups, settings, grad_scaler).
#include <nlohmann/json.hpp>
#include <string>

namespace fusedopt::detail {

/// `text` parsed, after check_json_depth (kMaxJsonDepth); a parse error throws Error naming
/// `what`.
nlohmann::json parse_metadata_json(const std::string& text, const std::string& what);

}  // namespace fusedopt::detail
