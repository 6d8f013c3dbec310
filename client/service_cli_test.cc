#include "client/service_cli.h"

#include "gtest/gtest.h"

namespace fornax {
namespace {

TEST(FormatFailureCauseTest, NamesTheSignalThatKilledTheJob) {
  v1::Failure failure;
  failure.set_exit_code(-1);
  failure.set_signal(9);
  failure.set_epoch(1);
  failure.set_global_step(700);
  EXPECT_EQ(FormatFailureCause(failure, 5),
            "killed by signal 9 (SIGKILL) during epoch 2/5, at optimizer step 700");
}

TEST(FormatFailureCauseTest, NamesTheExitCode) {
  v1::Failure failure;
  failure.set_exit_code(3);
  failure.set_global_step(12);
  EXPECT_EQ(FormatFailureCause(failure, 2), "exit code 3 during epoch 1/2, at optimizer step 12");
}

TEST(FormatFailureCauseTest, GivesTheWorkersReasonNotItsSignal) {
  v1::Failure failure;
  failure.set_exit_code(-1);
  failure.set_signal(15);  // the worker's SIGTERM
  failure.set_stopped_because("the coordinator refused its checkpoint");
  failure.set_epoch(0);
  failure.set_global_step(40);
  EXPECT_EQ(FormatFailureCause(failure, 3),
            "stopped by the worker because the coordinator refused its checkpoint during "
            "epoch 1/3, at optimizer step 40");
}

}  // namespace
}  // namespace fornax
