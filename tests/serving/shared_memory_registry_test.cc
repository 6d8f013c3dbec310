// SharedMemoryRegistry (server/inference/shared_memory.h) on real POSIX
// shared memory objects: offsets that are not page-aligned, a span keeping
// its object open after its region is unregistered and closing it when
// released (seen in /proc/self/fd), every error with its code and message,
// an object shrunk under a region (and under a thread reading and writing
// it), concurrent registration of one name.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
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
  // How many descriptors of the object this process has open.
  int OpenDescriptors() const {
    int count = 0;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code error;  // the iterator's own descriptor is gone when read
      const std::filesystem::path target = std::filesystem::read_symlink(fd.path(), error);
      count += !error && target == "/dev/shm" + key_ ? 1 : 0;
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
  ASSERT_EQ(span->size(), 20u);
  char read[20];
  ASSERT_TRUE(span->Read(read).ok());
  EXPECT_EQ(std::memcmp(read, object.view() + 4110, 20), 0);
  const std::string sevens(19, 7);
  ASSERT_TRUE(span->Write(sevens.data(), sevens.size()).ok());
  EXPECT_EQ(object.view()[4110], 7);
  EXPECT_EQ(object.view()[4128], 7);
  EXPECT_EQ(object.view()[4129], static_cast<char>(4129 % 251));  // only the 19 bytes written

  absl::StatusOr<std::vector<SharedMemoryRegionInfo>> status = registry.Status("r");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ((*status)[0].key, object.key());
  EXPECT_EQ((*status)[0].offset, 4100u);
  EXPECT_EQ((*status)[0].byte_size, 100u);
}

// An unregister removes the name at once; the object stays open for a
// request that holds a span (even once the client unlinks it) and is closed
// when the last one lets go.
TEST(SharedMemoryRegistryTest, SpanOutlivesUnregisterAndIsClosedWhenReleased) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register({"r", object.key(), 0, 4096}).ok());
  EXPECT_EQ(object.OpenDescriptors(), 1);
  absl::StatusOr<SharedMemorySpan> span = registry.Find("r", 0, 8, "output 'y'");
  ASSERT_TRUE(span.ok());
  registry.Unregister("r");
  EXPECT_EQ(registry.Status("r").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Find("r", 0, 8, "output 'y'").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(object.OpenDescriptors(), 1);
  ASSERT_TRUE(span->Write("written", 8).ok());
  EXPECT_STREQ(object.view(), "written");
  span = absl::UnknownError("released");
  EXPECT_EQ(object.OpenDescriptors(), 0);
}

TEST(SharedMemoryRegistryTest, UnregisterAllAndDestructionCloseEverything) {
  ShmObject object(4096);
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
    EXPECT_EQ(object.OpenDescriptors(), 2);
    registry.Unregister("");
    EXPECT_TRUE(registry.Status("")->empty());
    EXPECT_EQ(object.OpenDescriptors(), 0);
    ASSERT_TRUE(registry.Register({"c", object.key(), 0, 16}).ok());
    EXPECT_EQ(object.OpenDescriptors(), 1);
  }
  EXPECT_EQ(object.OpenDescriptors(), 0);
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

// The client may shrink its object under a region: reading bytes past its
// end is refused with the region, key and range; writing there grows the
// object back (no SIGBUS either way).
TEST(SharedMemoryRegistryTest, ObjectTruncatedUnderARegion) {
  ShmObject object(8192);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register({"r", object.key(), 4096, 4096}).ok());
  absl::StatusOr<SharedMemorySpan> span = registry.Find("r", 100, 4, "input 'x'");
  ASSERT_TRUE(span.ok());
  const int fd = shm_open(object.key().c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4098), 0);  // the span's object bytes 4196..4199 are gone
  char read[4];
  absl::Status status = span->Read(read);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "input 'x': shared memory key '" + object.key() +
                                  "' of region 'r' has shrunk to 4098 bytes since it was "
                                  "registered (offset 4096 + byte_size 4096); register it again");
  ASSERT_TRUE(span->Write("abc", 4).ok());
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 4200);
  ASSERT_TRUE(span->Read(read).ok());
  EXPECT_STREQ(read, "abc");
  close(fd);
}

// A thread shrinking the object to nothing and growing it back while
// another reads and writes through a span: every read either succeeds or is
// refused as above, and this process lives on (a mapping would SIGBUS).
// Runs until both have happened (at least 300 ms, at most 10 s: on a loaded
// machine the resizer may be scheduled late).
TEST(SharedMemoryRegistryTest, ObjectResizedWhileReadAndWritten) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register({"r", object.key(), 0, 4096}).ok());
  absl::StatusOr<SharedMemorySpan> span = registry.Find("r", 0, 4096, "input 'x'");
  ASSERT_TRUE(span.ok());
  const int fd = shm_open(object.key().c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  std::atomic<bool> stop{false};
  std::thread resizer([&] {
    while (!stop) {
      EXPECT_EQ(ftruncate(fd, 0), 0);
      EXPECT_EQ(ftruncate(fd, 4096), 0);
    }
  });
  std::vector<char> bytes(4096, 1);
  int read = 0;
  int refused = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
  while (elapsed() < std::chrono::milliseconds(300) ||
         ((read == 0 || refused == 0) && elapsed() < std::chrono::seconds(10))) {
    const absl::Status written = span->Write(bytes.data(), bytes.size());
    EXPECT_TRUE(written.ok()) << written;
    if (!written.ok()) break;  // not ASSERT: the resizer must be joined
    const absl::Status status = span->Read(bytes.data());
    if (status.ok()) {
      ++read;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
      ++refused;
    }
  }
  stop = true;
  resizer.join();
  close(fd);
  EXPECT_GT(read, 0);
  EXPECT_GT(refused, 0) << "no read met the object shrunk";
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
