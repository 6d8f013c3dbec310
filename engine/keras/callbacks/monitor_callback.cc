#include "engine/keras/callbacks/monitor_callback.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fornax {

absl::Status MonitorCallback::CheckMode(const std::string& mode) {
  if (mode == "auto" || mode == "min" || mode == "max") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "callback: mode must be \"auto\", \"min\" or \"max\", received: \"", mode, "\""));
}

absl::Status MonitorCallback::ResolveDirection() {
  if (lower_is_better_) return absl::OkStatus();
  if (mode_ == "min" || mode_ == "max") {
    lower_is_better_ = mode_ == "min";
    return absl::OkStatus();
  }
  std::string metric = monitor_;
  if (absl::StartsWith(metric, "val_")) metric = metric.substr(4);
  const bool is_error = metric == "loss" || absl::EndsWith(metric, "loss") ||
                        absl::EndsWith(metric, "mae") || absl::EndsWith(metric, "mse") ||
                        absl::EndsWith(metric, "_error");
  const bool is_accuracy = absl::EndsWith(metric, "accuracy") || absl::EndsWith(metric, "acc");
  if (!is_error && !is_accuracy) {
    return absl::InvalidArgumentError(
        absl::StrCat("callback received monitor=", monitor_,
                     ", but cannot determine whether that metric should be maximized or minimized; "
                     "pass mode=\"max\" or mode=\"min\""));
  }
  lower_is_better_ = is_error;
  return absl::OkStatus();
}

bool MonitorCallback::IsImprovement(double current, std::optional<double> reference) const {
  if (!reference) return true;
  // Keras negates min_delta for "min" and tests op(current - min_delta, best).
  return *lower_is_better_ ? current + min_delta_ < *reference : current - min_delta_ > *reference;
}

std::optional<double> MonitorCallback::MonitorValue(const Logs& logs, const char* who) const {
  auto it = logs.find(monitor_);
  if (it == logs.end()) {
    std::string available;
    for (const auto& [name, value] : logs)
      absl::StrAppend(&available, available.empty() ? "" : ",", name);
    std::fprintf(
        stderr, "%s conditioned on metric `%s` which is not available. Available metrics are: %s\n",
        who, monitor_.c_str(), available.c_str());
    return std::nullopt;
  }
  return it->second;
}

}  // namespace fornax
