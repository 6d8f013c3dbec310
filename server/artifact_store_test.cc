#include "server/artifact_store.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_dir.h"

namespace fornax::server {
namespace {

// sha256("hello world")
constexpr char kHelloSha[] = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

int CountFiles(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    n += e.is_regular_file() ? 1 : 0;
  }
  return n;
}

TEST(ArtifactStore, StoresVerifiedBytesUnderTheirDigest) {
  TestDir dir;
  auto store = ArtifactStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  auto writer = (*store)->Create(kHelloSha, 11);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append("hello ").ok());
  ASSERT_TRUE((*writer)->Append("world").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE((*store)->Contains(kHelloSha));
  const std::string path = (*store)->PathFor(kHelloSha);
  EXPECT_EQ(path, dir.path() + "/sha256/b9/" + kHelloSha);
  std::ifstream in(path);
  std::stringstream bytes;
  bytes << in.rdbuf();
  EXPECT_EQ(bytes.str(), "hello world");
  EXPECT_EQ(CountFiles(dir.path() + "/tmp"), 0);
}

// Commit hands back the digest's lock, held (what Lock takes for a delete),
// so the caller records the bytes before a delete can look for records.
TEST(ArtifactStore, CommitReturnsTheDigestsLockHeld) {
  TestDir dir;
  auto store = ArtifactStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  auto writer = (*store)->Create(kHelloSha, 11);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append("hello world").ok());
  absl::StatusOr<std::unique_lock<std::mutex>> lock = (*writer)->Commit();
  ASSERT_TRUE(lock.ok()) << lock.status();
  ASSERT_TRUE(lock->owns_lock());
  std::mutex* held = lock->mutex();
  bool free_while_held = true;
  std::thread([&] {
    free_while_held = held->try_lock();
    if (free_while_held) held->unlock();
  }).join();
  EXPECT_FALSE(free_while_held);
  lock->unlock();
  EXPECT_EQ((*store)->Lock(kHelloSha).mutex(), held);
}

TEST(ArtifactStore, MismatchStoresNothing) {
  TestDir dir;
  auto store = ArtifactStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  auto writer = (*store)->Create(kHelloSha, 11);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("hello wOrld").ok());
  absl::Status status = (*writer)->Commit().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("sha256 mismatch"));
  EXPECT_FALSE((*store)->Contains(kHelloSha));
  EXPECT_EQ(CountFiles(dir.path()), 0);

  // Short upload, then too long an upload, then a dropped writer.
  writer = (*store)->Create(kHelloSha, 11);
  ASSERT_TRUE((*writer)->Append("hello").ok());
  EXPECT_EQ((*writer)->Commit().status().code(), absl::StatusCode::kDataLoss);
  writer = (*store)->Create(kHelloSha, 11);
  EXPECT_EQ((*writer)->Append("hello world!").code(), absl::StatusCode::kInvalidArgument);
  writer = (*store)->Create(kHelloSha, 11);
  ASSERT_TRUE((*writer)->Append("hello").ok());
  writer->reset();
  EXPECT_EQ(CountFiles(dir.path()), 0);
}

TEST(ArtifactStore, RejectsMalformedDigests) {
  TestDir dir;
  auto store = ArtifactStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Create("ABC", 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->Create(std::string(64, 'A'), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE((*store)->Contains("../../etc/passwd"));
}

// LockAll takes each stripe once, however many digests share it: 66
// digests over 64 stripes share at least one, and a stripe locked twice by
// one thread would deadlock here. It holds the stripe of every digest.
TEST(ArtifactStore, LockAllTakesEachStripeOnce) {
  TestDir dir;
  auto store = ArtifactStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<std::string> digests;
  for (int i = 0; i < 65; ++i) {
    std::string digest(64, '0');
    digest.replace(0, std::to_string(i).size(), std::to_string(i));
    digests.push_back(digest);
  }
  digests.push_back(digests[0]);  // named twice
  std::set<std::mutex*> held;
  {
    std::vector<std::unique_lock<std::mutex>> locks = (*store)->LockAll(digests);
    ASSERT_LE(locks.size(), 64u);
    for (const auto& lock : locks) {
      EXPECT_TRUE(lock.owns_lock());
      held.insert(lock.mutex());
    }
    EXPECT_EQ(held.size(), locks.size());
  }
  for (const std::string& digest : digests) {
    EXPECT_EQ(held.count((*store)->Lock(digest).mutex()), 1u) << digest;
  }
}

}  // namespace
}  // namespace fornax::server
