#include "client/event_renderer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/service_cli.h"
#include "yaml-cpp/yaml.h"

namespace fornax {
namespace {

Logs ToLogs(const v1::Metrics& metrics) {
  return Logs(metrics.values().begin(), metrics.values().end());
}

}  // namespace

std::string JobStateName(v1::JobState state) {
  absl::string_view name = v1::JobState_Name(state);
  absl::ConsumePrefix(&name, "JOB_STATE_");
  return absl::AsciiStrToLower(name);
}

std::string DescribeState(v1::JobState state, const std::string& reason) {
  const std::string name = JobStateName(state);
  if (reason.empty()) return name;
  if (absl::StartsWith(reason, name)) return reason;
  return absl::StrCat(name, ": ", reason);
}

int EpochsOfJobYaml(const std::string& job_yaml) {
  try {
    YAML::Node root = YAML::Load(job_yaml);
    if (root.IsMap() && root["fit"] && root["fit"]["epochs"])
      return root["fit"]["epochs"].as<int>();
  } catch (const YAML::Exception&) {
    // The coordinator validated the job; an unreadable one only loses headers.
  }
  return 1;
}

EventRenderer::EventRenderer(std::ostream& out, bool dynamic, int epochs)
    : out_(out), dynamic_(dynamic), bar_(out, dynamic, [this] { return now_; }) {
  control_.epochs = epochs;
  bar_.OnTrainBegin(control_).IgnoreError();  // only records the epoch count
}

void EventRenderer::Render(const v1::JobEvent& event) {
  switch (event.kind_case()) {
    case v1::JobEvent::kStep:
      RenderStep(event.step());
      break;
    case v1::JobEvent::kEpoch:
      RenderEpoch(event.epoch());
      break;
    case v1::JobEvent::kState: {
      const v1::StateChange& state = event.state();
      last_state_ = state;
      // "[failed] exit code 2 ..." from the reason "failed: exit code 2 ...".
      const std::string name = JobStateName(state.state());
      absl::string_view reason = state.reason();
      if (!absl::ConsumePrefix(&reason, name + ": ") && reason == name) reason = "";
      std::string line = absl::StrCat("[", name, "]");
      if (!reason.empty()) {
        absl::StrAppend(&line, " ", reason);
      } else if (state.state() == v1::JOB_STATE_RUNNING) {
        absl::StrAppend(&line, " on ", state.worker_id());
      }
      if (state.state() == v1::JOB_STATE_RUNNING) {
        absl::StrAppend(&line, " (attempt ", state.attempt(), ")");
      }
      PrintLine(line);
      bar_epoch_ = -1;  // whatever runs next starts its own bar
      break;
    }
    case v1::JobEvent::kLog: {
      std::string text = event.log().text();
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      PrintLine(event.log().stream() == "worker" ? absl::StrCat("[worker] ", text) : text);
      break;
    }
    case v1::JobEvent::kCheckpoint: {
      const v1::CheckpointRecord& ck = event.checkpoint();
      PrintLine(absl::StrCat("[checkpoint] ", ck.checkpoint_id(), ": epoch ", ck.epoch(), ", step ",
                             ck.global_step(), ", ", HumanBytes(ck.size_bytes()),
                             ck.final() ? " (final model)" : ""));
      break;
    }
    case v1::JobEvent::KIND_NOT_SET:
      break;
  }
}

void EventRenderer::StartBar(int epoch, int64_t steps_per_epoch) {
  if (line_open_) out_ << "\n";
  line_open_ = false;
  control_.steps_per_epoch = steps_per_epoch;
  now_ = 0;
  bar_.OnEpochBegin(control_, epoch).IgnoreError();  // prints; cannot fail
  bar_epoch_ = epoch;
  bar_step_ = 0;
}

void EventRenderer::RenderStep(const v1::StepMetrics& step) {
  // A new epoch, or the same one again after a restart.
  if (step.epoch() != bar_epoch_ || step.step() <= bar_step_) {
    StartBar(step.epoch(), step.steps_per_epoch());
  }
  // The worker reports some steps, each with its step time: the steps in
  // between took about as long.
  now_ += static_cast<double>(step.step() - bar_step_) * step.step_seconds();
  bar_step_ = step.step();
  bar_.OnTrainBatchEnd(control_, step.step() - 1, ToLogs(step.metrics())).IgnoreError();
  line_open_ = dynamic_;
}

void EventRenderer::RenderEpoch(const v1::EpochMetrics& epoch) {
  // No step of this epoch seen (the worker sent none): a bar of its own.
  if (epoch.epoch() != bar_epoch_) StartBar(epoch.epoch(), control_.steps_per_epoch);
  if (epoch.seconds() > 0) now_ = epoch.seconds();
  bar_.OnEpochEnd(control_, epoch.epoch(), ToLogs(epoch.metrics())).IgnoreError();
  line_open_ = false;
  bar_epoch_ = -1;
}

void EventRenderer::PrintLine(const std::string& line) {
  if (line_open_) out_ << "\n";
  line_open_ = false;
  out_ << line << "\n" << std::flush;
}

}  // namespace fornax
