#include "client/event_renderer.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

// Builds a job's event log.
class EventLog {
 public:
  v1::JobEvent& Add() {
    v1::JobEvent& e = events_.emplace_back();
    e.set_job_id("j-1");
    e.set_sequence(static_cast<int64_t>(events_.size()));
    return e;
  }
  void State(v1::JobState state, const std::string& reason, int attempt = 0) {
    v1::StateChange* s = Add().mutable_state();
    s->set_state(state);
    s->set_reason(reason);
    s->set_worker_id(state == v1::JOB_STATE_RUNNING ? "w-1" : "");
    s->set_attempt(attempt);
  }
  void Step(int epoch, int64_t step, double loss, double step_seconds = 0.25,
            int64_t steps_per_epoch = 3) {
    v1::StepMetrics* s = Add().mutable_step();
    s->set_epoch(epoch);
    s->set_step(step);
    s->set_steps_per_epoch(steps_per_epoch);
    s->set_step_seconds(step_seconds);
    (*s->mutable_metrics()->mutable_values())["loss"] = loss;
  }
  void Epoch(int epoch, double loss, double val_loss, double seconds = 0) {
    v1::EpochMetrics* e = Add().mutable_epoch();
    e->set_epoch(epoch);
    e->set_seconds(seconds);
    e->set_epochs(2);
    (*e->mutable_metrics()->mutable_values())["loss"] = loss;
    (*e->mutable_metrics()->mutable_values())["val_loss"] = val_loss;
  }
  void Log(const std::string& text, const std::string& stream) {
    v1::LogLine* l = Add().mutable_log();
    l->set_text(text);
    l->set_stream(stream);
  }
  void Checkpoint(int epoch, bool final) {
    v1::CheckpointRecord* c = Add().mutable_checkpoint();
    c->set_checkpoint_id("ck-" + std::to_string(epoch));
    c->set_epoch(epoch);
    c->set_global_step(epoch * 3);
    c->set_size_bytes(3 << 20);
    c->set_final(final);
  }
  std::string Render(bool dynamic, int epochs = 2) const {
    std::ostringstream out;
    EventRenderer renderer(out, dynamic, epochs);
    for (const v1::JobEvent& e : events_) renderer.Render(e);
    return out.str();
  }

 private:
  std::vector<v1::JobEvent> events_;
};

TEST(EventRendererTest, PlainOutputMatchesFornaxTrainPlusStateAndCheckpointLines) {
  EventLog log;
  log.State(v1::JOB_STATE_QUEUED, "waiting: needs 1 gpu, 0 free");
  log.State(v1::JOB_STATE_RUNNING, "");
  // Epoch 1: three 0.25 s steps, then the epoch's metrics with validation.
  log.Step(0, 1, 2.0);
  log.Step(0, 2, 1.5);
  log.Log("a line the job printed\n", "stdout");
  log.Step(0, 3, 1.2);
  log.Epoch(0, 1.2, 1.3);
  log.Checkpoint(1, false);
  // Epoch 2: 0.5 s steps.
  log.Step(1, 1, 1.0, 0.5);
  log.Step(1, 2, 0.9, 0.5);
  log.Step(1, 3, 0.8, 0.5);
  log.Epoch(1, 0.8, 0.00001);
  log.Checkpoint(2, true);
  log.Log("uploaded model", "worker");
  log.State(v1::JOB_STATE_SUCCEEDED, "succeeded");
  EXPECT_EQ(log.Render(/*dynamic=*/false),
            "[queued] waiting: needs 1 gpu, 0 free\n"
            "[running] on w-1 (attempt 0)\n"
            "Epoch 1/2\n"
            "a line the job printed\n"
            "3/3 - 1s - 250ms/step - loss: 1.2000 - val_loss: 1.3000\n"
            "[checkpoint] ck-1: epoch 1, step 3, 3.0 MiB\n"
            "Epoch 2/2\n"
            "3/3 - 2s - 500ms/step - loss: 0.8000 - val_loss: 1.0000e-05\n"
            "[checkpoint] ck-2: epoch 2, step 6, 3.0 MiB (final model)\n"
            "[worker] uploaded model\n"
            "[succeeded]\n");
}

TEST(EventRendererTest, ARestartedAttemptStartsItsEpochAgain) {
  EventLog log;
  log.State(v1::JOB_STATE_RUNNING, "");
  log.Step(0, 1, 2.0, 1.0);
  log.Step(0, 2, 1.5, 1.0);
  log.State(v1::JOB_STATE_QUEUED, "worker w-1 lost");
  log.State(v1::JOB_STATE_RUNNING, "resuming from epoch 0", 1);
  log.Step(0, 1, 2.0, 1.0);
  log.Step(0, 2, 1.5, 1.0);
  log.Step(0, 3, 1.4, 1.0);
  log.Epoch(0, 1.4, 1.5);
  EXPECT_EQ(log.Render(false),
            "[running] on w-1 (attempt 0)\n"
            "Epoch 1/2\n"
            "[queued] worker w-1 lost\n"
            "[running] resuming from epoch 0 (attempt 1)\n"
            "Epoch 1/2\n"
            "3/3 - 3s - 1s/step - loss: 1.4000 - val_loss: 1.5000\n");
}

// The worker reports a step now and then (and each epoch's last): the bar's
// clock counts the steps in between at the reported step time, and ends at
// the epoch's measured duration.
TEST(EventRendererTest, TimesComeFromTheWorkersStepTimesNotArrival) {
  EventLog log;
  log.Step(0, 1, 2.0, 0.02, 100);
  log.Step(0, 40, 1.0, 0.01, 100);
  log.Step(0, 100, 0.5, 0.01, 100);
  log.Epoch(0, 0.5, 0.6, /*seconds=*/3.2);
  EXPECT_EQ(log.Render(false, /*epochs=*/1),
            "100/100 - 3s - 32ms/step - loss: 0.5000 - val_loss: 0.6000\n");
}

TEST(EventRendererTest, EpochWithoutStepsStillPrintsItsLine) {
  EventLog log;
  log.Epoch(0, 0.5, 0.6, 2.0);
  EXPECT_EQ(log.Render(false, /*epochs=*/1),
            "0/0 - 2s - 0s/step - loss: 0.5000 - val_loss: 0.6000\n");
}

TEST(EventRendererTest, TerminalModeEndsTheBarLineBeforeOtherLines) {
  EventLog log;
  log.Step(0, 1, 2.0);
  log.Log("warning: something", "stderr");
  log.Step(0, 2, 1.5);
  log.Step(0, 3, 1.2);
  log.Epoch(0, 1.2, 1.3);
  log.State(v1::JOB_STATE_FAILED, "failed: exit code 1");
  const std::string out = log.Render(/*dynamic=*/true, /*epochs=*/1);
  // The bar is redrawn in place (\r) and closed by a newline before the log
  // line; the final epoch bar ends with its own newline.
  EXPECT_THAT(out, ::testing::StartsWith("\r\x1b[1m1/3\x1b[0m "));
  EXPECT_THAT(out, ::testing::HasSubstr("\nwarning: something\n\r\x1b[1m2/3"));
  EXPECT_THAT(out, ::testing::HasSubstr("val_loss: 1.3000\n[failed] exit code 1\n"));
}

TEST(EventRendererTest, EpochsAndStateNamesFromTheJob) {
  EXPECT_EQ(EpochsOfJobYaml("model: model.json\nfit: {epochs: 7}\n"), 7);
  EXPECT_EQ(EpochsOfJobYaml("model: model.json\n"), 1);
  EXPECT_EQ(EpochsOfJobYaml("{{{"), 1);
  EXPECT_EQ(JobStateName(v1::JOB_STATE_CANCELLED), "cancelled");
  EXPECT_EQ(DescribeState(v1::JOB_STATE_FAILED, "failed: exit code 2"), "failed: exit code 2");
  EXPECT_EQ(DescribeState(v1::JOB_STATE_FAILED, "exit code 2"), "failed: exit code 2");
  EXPECT_EQ(DescribeState(v1::JOB_STATE_QUEUED, ""), "queued");
}

}  // namespace
}  // namespace fornax
