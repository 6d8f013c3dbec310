// Reading Keras's serialized configs (the JSON `to_json()` writes) with
// Keras-style error messages.
//
// A ConfigView wraps one layer's (or initializer's) "config" object and a
// context string such as "layer 'dense_1'". Every accessor returns
// InvalidArgument with a message in Keras's own form:
//   layer 'dense_1': argument `units` must be a positive integer. Received: units=-3
// A key that is missing or null takes the given default; without a default
// it is an error.
// Thread-safety: a ConfigView is immutable; it refers to JSON it does not own.
#ifndef FORNAX_ENGINE_KERAS_CONFIG_UTIL_H_
#define FORNAX_ENGINE_KERAS_CONFIG_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tensor/dtype.h"
#include "engine/tensor/shape.h"
#include "nlohmann/json.hpp"

namespace fornax {

// obj[key], or null when obj is not an object or lacks key (never throws).
const nlohmann::json& Field(const nlohmann::json& obj, const std::string& key);

// Python's repr of a JSON value (None, True, 'relu', [None, 3]) for messages.
std::string PythonRepr(const nlohmann::json& value);

// Keras's shape notation of a JSON shape list: (None, 28, 28, 1).
std::string ShapeRepr(const nlohmann::json& shape);

class ConfigView {
 public:
  // REQUIRES: `config` outlives the view.
  ConfigView(const nlohmann::json& config, std::string context);

  const std::string& context() const { return context_; }
  const nlohmann::json& json() const { return config_; }
  // The value at `key`, or nullptr when it is missing or null.
  const nlohmann::json* Find(const std::string& key) const;
  bool Has(const std::string& key) const { return Find(key) != nullptr; }

  absl::StatusOr<int64_t> Int(const std::string& key,
                              std::optional<int64_t> fallback = std::nullopt) const;
  absl::StatusOr<int64_t> PositiveInt(const std::string& key,
                                      std::optional<int64_t> fallback = std::nullopt) const;
  absl::StatusOr<double> Float(const std::string& key,
                               std::optional<double> fallback = std::nullopt) const;
  absl::StatusOr<bool> Bool(const std::string& key,
                            std::optional<bool> fallback = std::nullopt) const;
  absl::StatusOr<std::string> String(const std::string& key,
                                     std::optional<std::string> fallback = std::nullopt) const;
  // One of `allowed` (compared case-insensitively, returned lower-case).
  absl::StatusOr<std::string> Choice(const std::string& key,
                                     const std::vector<std::string>& allowed,
                                     std::optional<std::string> fallback = std::nullopt) const;
  // An int or a list of `n` positive ints (kernel_size=3 or [3, 3]).
  absl::StatusOr<std::vector<int64_t>> PositiveInts(
      const std::string& key, size_t n,
      std::optional<std::vector<int64_t>> fallback = std::nullopt) const;
  // An int or a list of ints (axis=-1 or axis=[1, 2]).
  absl::StatusOr<std::vector<int64_t>> IntOrInts(
      const std::string& key, std::optional<std::vector<int64_t>> fallback = std::nullopt) const;
  // The layer dtype: a string or a DTypePolicy object; float32 when absent.
  // Mixed precision policies are refused (Fornax computes in float32 for now).
  absl::StatusOr<DType> LayerDType(const std::string& key = "dtype") const;

  // "CONTEXT: argument `key` must be EXPECTED. Received: key=VALUE".
  absl::Status ArgumentError(const std::string& key, const std::string& expected) const;
  // "CONTEXT: MESSAGE".
  absl::Status Error(const std::string& message) const;

 private:
  const nlohmann::json& config_;
  std::string context_;
};

// A shape list from JSON ([null, 28, 28, 1]); null becomes kBatch at
// position 0. InvalidArgument names `what` for anything else.
absl::StatusOr<Shape> ParseBatchShape(const nlohmann::json& shape, const std::string& what);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CONFIG_UTIL_H_
