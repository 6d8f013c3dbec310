// SharedMemoryRegistry (server/inference/shared_memory.h) on real POSIX
// shared memory objects: offsets that are not page-aligned, a span kept
// mapped after its region is unregistered and unmapped when released (seen
// in /proc/self/maps), every error with its code and message, concurrent
// registration of one name.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/inference/shared_memory.h"

namespace fornax::serving {
namespace {

// A shared memory object of `size` bytes, with this test's own mapping of
// it; unlinked on destruction.
class ShmObject {
 public:
  explicit ShmObject(size_t size) : size_(size) {
    static std::atomic<int> counter{0};
    key_ = absl::StrCat("/fornax_registry_test_", getpid(), "_", counter++);
    const int fd = shm_open(key_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd, 0) << key_;
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    view_ = static_cast<char*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    EXPECT_NE(view_, MAP_FAILED);
    close(fd);
  }
  ~ShmObject() {
    munmap(view_, size_);
    shm_unlink(key_.c_str());
  }
  const std::string& key() const { return key_; }
  char* view() const { return view_; }
  // How many mappings of the object this process has (ours included).
  int Mappings() const {
    std::ifstream maps("/proc/self/maps");
    int count = 0;
    for (std::string line; std::getline(maps, line);) {
      count += line.ends_with("/dev/shm" + key_) ? 1 : 0;
    }
    return count;
  }

 private:
  size_t size_;
  std::string key_;
  char* view_ = nullptr;
};

TEST(SharedMemoryRegistryTest, RegionAtAnUnalignedOffsetReadsAndWritesTheObject) {
  ShmObject object(3 * 4096);
  for (int i = 0; i < 3 * 4096; ++i) object.view()[i] = static_cast<char>(i % 251);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register({"r", object.key(), 4100, 100}).ok());
  absl::StatusOr<SharedMemorySpan> span = registry.Find("r", 10, 20, "input 'x'");
  ASSERT_TRUE(span.ok()) << span.status();
  ASSERT_EQ(span->size, 20u);
  EXPECT_EQ(std::memcmp(span->data, object.view() + 4110, 20), 0);
  std::memset(span->data, 7, 20);
  EXPECT_EQ(object.view()[4110], 7);
  EXPECT_EQ(object.view()[4129], 7);
  EXPECT_EQ(object.view()[4130], static_cast<char>(4130 % 251));

  absl::StatusOr<std::vector<SharedMemoryRegionInfo>> status = registry.Status("r");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ((*status)[0].key, object.key());
  EXPECT_EQ((*status)[0].offset, 4100u);
  EXPECT_EQ((*status)[0].byte_size, 100u);
}

// An unregister removes the name at once; the memory stays mapped for a
// request that holds a span and is unmapped when the last one lets go.
TEST(SharedMemoryRegistryTest, SpanOutlivesUnregisterAndIsUnmappedWhenReleased) {
  ShmObject object(4096);
  const int own = object.Mappings();
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register({"r", object.key(), 0, 4096}).ok());
  EXPECT_EQ(object.Mappings(), own + 1);
  absl::StatusOr<SharedMemorySpan> span = registry.Find("r", 0, 8, "output 'y'");
  ASSERT_TRUE(span.ok());
  registry.Unregister("r");
  EXPECT_EQ(registry.Status("r").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Find("r", 0, 8, "output 'y'").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(object.Mappings(), own + 1);
  std::memcpy(span->data, "written", 8);  // still mapped: no crash
  EXPECT_STREQ(object.view(), "written");
  span = absl::UnknownError("released");
  EXPECT_EQ(object.Mappings(), own);
}

TEST(SharedMemoryRegistryTest, UnregisterAllAndDestructionUnmapEverything) {
  ShmObject object(4096);
  const int own = object.Mappings();
  {
    SharedMemoryRegistry registry;
    ASSERT_TRUE(registry.Register({"a", object.key(), 0, 16}).ok());
    ASSERT_TRUE(registry.Register({"b", object.key(), 16, 16}).ok());
    registry.Unregister("never_registered");  // nothing to do, as Triton
    absl::StatusOr<std::vector<SharedMemoryRegionInfo>> all = registry.Status("");
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 2u);
    EXPECT_EQ((*all)[0].name, "a");
    EXPECT_EQ((*all)[1].name, "b");
    registry.Unregister("");
    EXPECT_TRUE(registry.Status("")->empty());
    EXPECT_EQ(object.Mappings(), own);
    ASSERT_TRUE(registry.Register({"c", object.key(), 0, 16}).ok());
    EXPECT_EQ(object.Mappings(), own + 1);
  }
  EXPECT_EQ(object.Mappings(), own);
}

TEST(SharedMemoryRegistryTest, ErrorsNameTheRegionTheFieldAndWhatWasExpected) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register({"r", object.key(), 0, 64}).ok());
  const std::string missing = object.key() + "_missing";
  struct Case {
    absl::Status status;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {registry.Register({"", object.key(), 0, 64}), absl::StatusCode::kInvalidArgument,
       "system shared memory registration: 'name' must not be empty"},
      {registry.Register({"z", object.key(), 0, 0}), absl::StatusCode::kInvalidArgument,
       "system shared memory region 'z': byte_size must be at least 1, got 0"},
      {registry.Register({"r", object.key(), 0, 64}), absl::StatusCode::kAlreadyExists,
       "system shared memory region 'r' is already registered"},
      {registry.Register({"z", missing, 0, 64}), absl::StatusCode::kNotFound,
       "system shared memory region 'z': cannot open shared memory key '" + missing +
           "': No such file or directory"},
      {registry.Register({"z", "/a/b", 0, 64}), absl::StatusCode::kInvalidArgument,
       "system shared memory region 'z': cannot open shared memory key '/a/b': Invalid argument"},
      {registry.Register({"z", object.key(), 4000, 97}), absl::StatusCode::kInvalidArgument,
       "system shared memory region 'z': offset 4000 + byte_size 97 is past the end of shared "
       "memory key '" +
           object.key() + "' (4096 bytes)"},
      {registry.Register({"z", object.key(), ~uint64_t{0}, 2}), absl::StatusCode::kInvalidArgument,
       "system shared memory region 'z': offset 18446744073709551615 + byte_size 2 is past the "
       "end of shared memory key '" +
           object.key() + "' (4096 bytes)"},
      {registry.Status("z").status(), absl::StatusCode::kNotFound,
       "system shared memory region 'z' is not registered"},
      {registry.Find("z", 0, 4, "input 'x'").status(), absl::StatusCode::kNotFound,
       "input 'x': shared memory region 'z' is not registered"},
      {registry.Find("r", 60, 8, "input 'x'").status(), absl::StatusCode::kInvalidArgument,
       "input 'x': shared_memory_offset 60 + shared_memory_byte_size 8 is past the end of shared "
       "memory region 'r' (64 bytes)"},
      {registry.Find("r", 8, ~uint64_t{0}, "input 'x'").status(),
       absl::StatusCode::kInvalidArgument,
       "input 'x': shared_memory_offset 8 + shared_memory_byte_size 18446744073709551615 is past "
       "the end of shared memory region 'r' (64 bytes)"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), c.code) << c.status;
    EXPECT_EQ(c.status.message(), c.message);
  }
  EXPECT_EQ(registry.Status("")->size(), 1u);  // the failures registered nothing
}

// Touching pages past the end of a truncated object raises SIGBUS: Find
// refuses instead.
TEST(SharedMemoryRegistryTest, ObjectTruncatedUnderARegionIsRefused) {
  ShmObject object(8192);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register({"r", object.key(), 4096, 4096}).ok());
  const int fd = shm_open(object.key().c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  absl::Status status = registry.Find("r", 0, 4, "input 'x'").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "input 'x': shared memory key '" + object.key() +
                                  "' of region 'r' has shrunk to 4096 bytes since it was "
                                  "registered (offset 4096 + byte_size 4096); register it again");
  ASSERT_EQ(ftruncate(fd, 8192), 0);
  close(fd);
  EXPECT_TRUE(registry.Find("r", 0, 4, "input 'x'").ok());
}

TEST(SharedMemoryRegistryTest, ConcurrentRegistrationsOfOneNameLetExactlyOneIn) {
  ShmObject object(4096);
  for (int round = 0; round < 20; ++round) {
    SharedMemoryRegistry registry;
    std::atomic<int> registered{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        absl::Status status = registry.Register({"r", object.key(), 0, 64});
        if (status.ok()) {
          ++registered;
        } else {
          EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
          ++refused;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(registered, 1);
    EXPECT_EQ(refused, 3);
  }
}

}  // namespace
}  // namespace fornax::serving
