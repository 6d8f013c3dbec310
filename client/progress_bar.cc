#include "client/progress_bar.h"

#include <chrono>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fornax {
namespace {

constexpr int kWidth = 20;           // bar cells, as Keras
constexpr double kIntervalS = 0.05;  // minimum time between redraws, as Keras
constexpr char kCell[] = "\u2501";   // ━

std::string FormatValue(double v, bool signed_threshold) {
  if (std::isnan(v)) return "nan";
  if ((signed_threshold ? std::fabs(v) : v) > 1e-3) return absl::StrFormat("%.4f", v);
  return absl::StrFormat("%.4e", v);
}

// " 4ms/step", Keras's Progbar._format_time.
std::string FormatTimePerStep(double t) {
  if (t >= 1 || t == 0) return absl::StrFormat(" %.0fs/step", t);
  if (t >= 1e-3) return absl::StrFormat(" %.0fms/step", t * 1e3);
  return absl::StrFormat(" %.0fus/step", t * 1e6);
}

std::string FormatEta(double eta) {
  auto s = static_cast<int64_t>(eta);
  if (eta > 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60);
  if (eta > 60) return absl::StrFormat("%d:%02d", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

std::string Repeat(const char* s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

int Digits(int64_t n) {
  return n <= 0 ? 1 : static_cast<int>(std::log10(static_cast<double>(n))) + 1;
}

}  // namespace

ProgressBar::ProgressBar(std::ostream& out, bool dynamic, Clock clock)
    : out_(out), dynamic_(dynamic), clock_(std::move(clock)) {}

double ProgressBar::SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

absl::Status ProgressBar::OnTrainBegin(TrainingControl& control) {
  epochs_ = control.epochs;
  return absl::OkStatus();
}

absl::Status ProgressBar::OnEpochBegin(TrainingControl& control, int epoch) {
  if (epochs_ > 1) out_ << "Epoch " << epoch + 1 << "/" << epochs_ << "\n" << std::flush;
  Start(control.steps_per_epoch);
  return absl::OkStatus();
}

absl::Status ProgressBar::OnTrainBatchEnd(TrainingControl&, int64_t batch, const Logs& logs) {
  Update(batch + 1, logs, /*finalize=*/false);
  return absl::OkStatus();
}

absl::Status ProgressBar::OnEpochEnd(TrainingControl&, int, const Logs& logs) {
  Update(target_, logs, /*finalize=*/true);
  return absl::OkStatus();
}

void ProgressBar::Start(int64_t target) {
  target_ = target;
  start_ = clock_();
  last_update_ = -1e9;
  time_after_first_step_ = -1;
  prev_width_ = 0;
}

double ProgressBar::EstimateStepDuration(int64_t current, double now) {
  if (current <= 0) return 0;
  double per_step = (time_after_first_step_ >= 0 && current > 1)
                        ? (now - time_after_first_step_) / static_cast<double>(current - 1)
                        : (now - start_) / static_cast<double>(current);
  if (current == 1) time_after_first_step_ = now;
  return per_step;
}

std::vector<std::string> ProgressBar::OrderedKeys(const Logs& logs) const {
  std::vector<std::string> keys;
  for (const auto& [k, v] : logs) {
    if (!absl::StartsWith(k, "val_")) keys.push_back(k);
  }
  for (const auto& [k, v] : logs) {
    if (absl::StartsWith(k, "val_")) keys.push_back(k);
  }
  return keys;
}

void ProgressBar::Update(int64_t current, const Logs& logs, bool finalize) {
  const double now = clock_();
  const double per_step = EstimateStepDuration(current, now);
  const std::vector<std::string> keys = OrderedKeys(logs);
  const std::string count = absl::StrFormat("%*d/%d", Digits(target_), current, target_);

  if (!dynamic_) {
    if (!finalize) return;
    std::string line =
        absl::StrFormat("%s - %.0fs -%s", count, now - start_, FormatTimePerStep(per_step));
    for (const std::string& k : keys) {
      absl::StrAppend(&line, " - ", k, ": ", FormatValue(logs.at(k), false));
    }
    out_ << line << "\n" << std::flush;
    return;
  }

  if (now - last_update_ < kIntervalS && !finalize) return;
  last_update_ = now;
  // Visible width excludes the escape codes, so the redraw can blank leftovers.
  const int filled =
      target_ > 0
          ? static_cast<int>(kWidth * static_cast<double>(current) / static_cast<double>(target_))
          : 0;
  std::string bar = absl::StrCat("\x1b[1m", count, "\x1b[0m ");
  if (filled > 0) absl::StrAppend(&bar, "\x1b[32m", Repeat(kCell, filled), "\x1b[0m");
  absl::StrAppend(&bar, "\x1b[37m", Repeat(kCell, kWidth - filled), "\x1b[0m");
  size_t width = count.size() + 1 + kWidth;

  std::string time = finalize || target_ <= 0
                         ? absl::StrFormat("%.0fs", now - start_)
                         : FormatEta(per_step * static_cast<double>(target_ - current));
  std::string info = absl::StrCat(" \x1b[1m", time, "\x1b[0m", FormatTimePerStep(per_step));
  width += 1 + time.size() + FormatTimePerStep(per_step).size();
  for (const std::string& k : keys) {
    std::string item = absl::StrCat(" - ", k, ": ", FormatValue(logs.at(k), true));
    width += item.size();
    info += item;
  }
  out_ << "\r" << bar << info;
  if (prev_width_ > width) out_ << std::string(prev_width_ - width, ' ');
  prev_width_ = width;
  if (finalize) out_ << "\n";
  out_ << std::flush;
}

}  // namespace fornax
