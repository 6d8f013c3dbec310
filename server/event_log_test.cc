#include "server/event_log.h"

#include "gtest/gtest.h"
#include "server/test_dir.h"

namespace fornax::server {
namespace {

// 600 log events in batches of 50, then a terminal state: more than the
// in-memory tail holds, so early resumes replay from SQLite and late ones
// from memory; either way every event comes once, in order.
TEST(EventLog, ResumesFromAnySequenceWithoutGapsOrDuplicates) {
  TestDir dir;
  auto store = Store::Open(dir.Join("state.db"));
  ASSERT_TRUE(store.ok());
  EventLog log(store->get());
  StoredJob job;
  job.order = 1;
  job.job.set_job_id("job-1");
  job.job.set_state(v1::JOB_STATE_RUNNING);
  for (int batch = 0; batch < 12; ++batch) {
    std::vector<NewEvent> events(50);
    for (auto& e : events) e.event.mutable_log()->set_text("x");
    auto stored = (*store)->Write({&job, events});
    ASSERT_TRUE(stored.ok());
    log.Published("job-1", *stored, job.job.last_sequence(), false);
  }
  job.job.set_state(v1::JOB_STATE_SUCCEEDED);
  NewEvent done;
  done.event.mutable_state()->set_state(v1::JOB_STATE_SUCCEEDED);
  auto stored = (*store)->Write({&job, {done}});
  ASSERT_TRUE(stored.ok());
  log.Published("job-1", *stored, job.job.last_sequence(), true);

  for (int64_t after : {0, 17, 344, 345, 346, 590, 601}) {
    std::vector<int64_t> seen;
    absl::Status status = log.Watch(
        "job-1", after, false, [] { return false; },
        [&](const v1::JobEvent& e) {
          seen.push_back(e.sequence());
          return true;
        });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(seen.size(), static_cast<size_t>(601 - after)) << "after " << after;
    for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], after + 1 + int64_t(i));
  }
  EXPECT_EQ(
      log.Watch(
             "job-9", 0, false, [] { return false; }, [](const v1::JobEvent&) { return true; })
          .code(),
      absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fornax::server
