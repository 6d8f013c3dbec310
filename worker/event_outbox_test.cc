#include "worker/event_outbox.h"

#include "gtest/gtest.h"

namespace fornax::worker {
namespace {

fornax::v1::WorkerEvent Log(const std::string& text) {
  fornax::v1::WorkerEvent e;
  e.mutable_log()->set_text(text);
  return e;
}

TEST(JobOutboxTest, NumbersEventsAndKeepsThemUntilAcked) {
  JobOutbox outbox("j", 0);
  EXPECT_EQ(outbox.AddEvent(Log("a")), 1);
  EXPECT_EQ(outbox.AddEvent(Log("b")), 2);
  EXPECT_EQ(outbox.AddEvent(Log("c")), 3);
  JobOutbox::Batch batch = outbox.Next(2);
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[1].worker_sequence(), 2);
  // A failed send (no ack) sends the same again.
  EXPECT_EQ(outbox.Next(2).events[0].log().text(), "a");
  outbox.AckEvents(1);  // the coordinator stored only the first
  batch = outbox.Next(10);
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].worker_sequence(), 2);
  outbox.Close();
  EXPECT_FALSE(outbox.Done());
  outbox.AckEvents(3);
  EXPECT_TRUE(outbox.Next(10).empty());
  EXPECT_TRUE(outbox.Done());
}

TEST(JobOutboxTest, CheckpointIsABarrier) {
  JobOutbox outbox("j", 1);
  outbox.AddEvent(Log("epoch"));
  CheckpointUpload upload;
  upload.path = "ckpt.keras";
  outbox.AddCheckpoint(upload);
  outbox.AddEvent(Log("result"));
  JobOutbox::Batch batch = outbox.Next(10);
  ASSERT_EQ(batch.events.size(), 1u);  // stops before the checkpoint
  EXPECT_FALSE(batch.checkpoint);
  outbox.AckEvents(1);
  batch = outbox.Next(10);
  ASSERT_TRUE(batch.checkpoint);
  EXPECT_TRUE(batch.events.empty());
  EXPECT_EQ(outbox.Next(10).checkpoint->path, "ckpt.keras");  // until acked
  outbox.AckCheckpoint();
  batch = outbox.Next(10);
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].worker_sequence(), 2);
}

// The job's files go after its last events and before its result.
TEST(JobOutboxTest, FileIsABarrier) {
  JobOutbox outbox("j", 0);
  outbox.AddEvent(Log("epoch"));
  JobFileUpload upload;
  upload.path = "files/log.csv";
  outbox.AddFile(upload);
  outbox.AddEvent(Log("result"));
  outbox.Close();
  EXPECT_EQ(outbox.Next(10).events.size(), 1u);
  outbox.AckCheckpoint();  // not a checkpoint at the front: nothing dropped
  outbox.AckEvents(1);
  JobOutbox::Batch batch = outbox.Next(10);
  ASSERT_TRUE(batch.file);
  EXPECT_FALSE(batch.checkpoint);
  EXPECT_TRUE(batch.events.empty());
  outbox.AckCheckpoint();
  EXPECT_EQ(outbox.Next(10).file->path, "files/log.csv");  // until acked
  outbox.AckFile();
  batch = outbox.Next(10);
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].log().text(), "result");
  outbox.AckEvents(2);
  EXPECT_TRUE(outbox.Done());
}

// A refused checkpoint is dropped and the result behind it replaced; the
// events around it keep their sequences.
TEST(JobOutboxTest, ReplacedResultKeepsItsPlaceAndSequence) {
  JobOutbox outbox("j", 0);
  outbox.AddEvent(Log("a"));
  outbox.AddCheckpoint({"/tmp/c.keras", {}});
  outbox.AddEvent(Log("b"));
  fornax::v1::WorkerEvent result;
  result.mutable_result()->set_succeeded(true);
  EXPECT_EQ(outbox.AddEvent(result), 3);
  outbox.Close();
  outbox.AckEvents(1);
  ASSERT_TRUE(outbox.Next(10).checkpoint);
  outbox.AckCheckpoint();
  fornax::v1::AttemptResult failed;
  failed.mutable_failure()->set_message("refused");
  outbox.ReplaceResult(failed);
  const JobOutbox::Batch batch = outbox.Next(10);
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].log().text(), "b");
  EXPECT_EQ(batch.events[1].worker_sequence(), 3);
  EXPECT_FALSE(batch.events[1].result().succeeded());
  EXPECT_EQ(batch.events[1].result().failure().message(), "refused");
  outbox.AckEvents(3);
  EXPECT_TRUE(outbox.Done());
}

}  // namespace
}  // namespace fornax::worker
