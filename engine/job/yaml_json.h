// YAML to JSON conversion for the parts of a job file that are handed to the
// engine as Keras configs (optimizer, losses, metrics, callbacks).
//
// Plain scalars follow the YAML 1.2 core schema: null/~ and an empty value
// become null, true/false booleans, integers and floats (.inf, .nan) numbers,
// everything else a string; quoted scalars are always strings, so "1e-3" in
// quotes stays text.
// Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_ENGINE_JOB_YAML_JSON_H_
#define FORNAX_ENGINE_JOB_YAML_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace fornax {

// `field` names the node in error messages ("compile.optimizer"); `source`
// is the file. Fails only on YAML features JSON lacks (non-scalar keys).
absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& source,
                                          const std::string& field);

// The typed reading of a plain scalar under the core schema, as JSON.
nlohmann::json PlainScalarToJson(const std::string& text);

// One-line rendering of a node for messages: the scalar text, or a flow-style
// dump of a map or sequence ("{class_name: Adam}").
std::string YamlForMessage(const YAML::Node& node);

}  // namespace fornax

#endif  // FORNAX_ENGINE_JOB_YAML_JSON_H_
