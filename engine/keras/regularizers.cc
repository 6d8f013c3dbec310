#include "engine/keras/regularizers.h"

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/config_util.h"

namespace fornax {

ValueId Regularizer::Apply(Builder& b, ValueId x) const {
  ValueId total = kNoValue;
  auto add = [&](ValueId term) { total = total == kNoValue ? term : b.Add(total, term); };
  if (l1 != 0.0) add(b.Mul(b.Scalar(l1), b.SumAll(b.Abs(x))));
  if (l2 != 0.0) add(b.Mul(b.Scalar(l2), b.SumAll(b.Square(x))));
  return total == kNoValue ? b.Scalar(0.0) : total;
}

absl::StatusOr<std::optional<Regularizer>> GetRegularizer(const nlohmann::json& spec,
                                                          const std::string& context) {
  if (spec.is_null()) return std::nullopt;
  Regularizer r;
  if (spec.is_string()) {
    // Keras's string identifiers take the classes' defaults.
    const std::string name = spec.get<std::string>();
    if (name == "l1" || name == "L1") {
      r.l1 = 0.01;
    } else if (name == "l2" || name == "L2") {
      r.l2 = 0.01;
    } else if (name != "l1_l2" && name != "l1l2" && name != "L1L2") {
      return absl::InvalidArgumentError(
          absl::StrCat(context, ": unknown regularizer '", name, "'; supported: l1, l2, l1_l2"));
    }
    return r;
  }
  if (!spec.is_object() || !spec.contains("class_name") || !spec["class_name"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": could not interpret regularizer identifier: ", PythonRepr(spec)));
  }
  const std::string class_name = spec["class_name"].get<std::string>();
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json& config =
      spec.contains("config") && spec["config"].is_object() ? spec["config"] : kEmpty;
  ConfigView cfg(config, absl::StrCat(context, " (", class_name, ")"));
  if (class_name == "L1") {
    FORNAX_ASSIGN_OR_RETURN(r.l1, cfg.Float("l1", 0.01));
  } else if (class_name == "L2") {
    FORNAX_ASSIGN_OR_RETURN(r.l2, cfg.Float("l2", 0.01));
  } else if (class_name == "L1L2") {
    FORNAX_ASSIGN_OR_RETURN(r.l1, cfg.Float("l1", 0.0));
    FORNAX_ASSIGN_OR_RETURN(r.l2, cfg.Float("l2", 0.0));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(context, ": unsupported regularizer '",
                                                   class_name, "'; supported: L1, L2, L1L2"));
  }
  return r;
}

}  // namespace fornax
