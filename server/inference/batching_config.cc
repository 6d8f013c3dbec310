#include "server/inference/batching_config.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace fornax::serving {
namespace {

// What came, for an error message: a scalar as written, a list or an object
// by its type only (dumping one would recurse as deep as it nests, and a
// deeply nested one overflowed the stack).
std::string Shown(const nlohmann::json& value) {
  return value.is_structured() ? std::string(value.type_name()) : value.dump();
}

absl::StatusOr<int64_t> PositiveInt(const nlohmann::json& value, const std::string& where,
                                    int64_t minimum) {
  if (!value.is_number_integer() || value.get<int64_t>() < minimum) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected an integer >= ", minimum, ", got ", Shown(value)));
  }
  return value.get<int64_t>();
}

}  // namespace

absl::StatusOr<BatchingConfig> ParseBatchingConfig(const nlohmann::json& json,
                                                   const std::string& source) {
  BatchingConfig config;
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  }
  for (const auto& [key, value] : json.items()) {
    const std::string where = absl::StrCat(source, ": ", key);
    if (key == "max_batch_size") {
      absl::StatusOr<int64_t> n = PositiveInt(value, where, 1);
      if (!n.ok()) return n.status();
      config.max_batch_size = *n;
    } else if (key == "dynamic_batching") {
      if (value.is_boolean()) {
        config.dynamic_batching = value.get<bool>();
        continue;
      }
      if (!value.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": expected an object or false, got ", Shown(value)));
      }
      for (const auto& [field, setting] : value.items()) {
        const std::string at = absl::StrCat(where, ".", field);
        if (field == "max_queue_delay_microseconds") {
          absl::StatusOr<int64_t> n = PositiveInt(setting, at, 0);
          if (!n.ok()) return n.status();
          config.max_queue_delay_us = *n;
        } else if (field == "preferred_batch_size") {
          if (!setting.is_array()) {
            return absl::InvalidArgumentError(
                absl::StrCat(at, ": expected a list of integers, got ", Shown(setting)));
          }
          for (const nlohmann::json& size : setting) {
            absl::StatusOr<int64_t> n = PositiveInt(size, at, 1);
            if (!n.ok()) return n.status();
            config.preferred_batch_sizes.push_back(*n);
          }
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat(at,
                           ": unknown setting; expected preferred_batch_size or "
                           "max_queue_delay_microseconds"));
        }
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown setting; expected max_batch_size or dynamic_batching"));
    }
  }
  for (int64_t size : config.preferred_batch_sizes) {
    if (size > config.max_batch_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": dynamic_batching.preferred_batch_size ", size,
                       " is larger than max_batch_size ", config.max_batch_size));
    }
  }
  return config;
}

absl::StatusOr<BatchingConfig> ParseBatchingConfigText(std::string_view text,
                                                       const std::string& source) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  return ParseBatchingConfig(json, source);
}

absl::StatusOr<BatchingConfig> ReadBatchingConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  std::ifstream in(path);
  if (!in) return BatchingConfig{};
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseBatchingConfigText(text, path);
}

}  // namespace fornax::serving
