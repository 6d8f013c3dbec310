// Helpers the tests share: whole-file reads and writes, a fresh temporary
// directory per test, the source tree and the committed NumPy fixtures.
#ifndef FORNAX_ENGINE_DATA_TEST_FILES_H_
#define FORNAX_ENGINE_DATA_TEST_FILES_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/data/file_util.h"
#include "gtest/gtest.h"

namespace fornax::testing {

// The file's bytes, or "" when it cannot be read: an assertion on the text
// then fails with what is missing instead of the test stopping at a status.
inline std::string ReadFileOrEmpty(const std::string& path) {
  return ReadFileToString(path).value_or("");
}

// Writes `text` to `path`, creating its parent directories.
inline void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A directory under the test's temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(::testing::TempDir()) /
            (std::string("fornax_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  // Writes `text` to File(name) and returns that path.
  std::string Write(const std::string& name, const std::string& text) const {
    WriteFile(File(name), text);
    return File(name);
  }

 private:
  std::filesystem::path path_;
};

// The source tree (examples/, test data): $FORNAX_SOURCE_DIR, which CTest
// sets, else the tree the test was built from (FORNAX_DEFAULT_SOURCE_DIR,
// which every test target defines), so a binary run by hand from any
// directory finds its files.
inline std::string SourceDir() {
  const char* root = std::getenv("FORNAX_SOURCE_DIR");
  return root != nullptr ? root : FORNAX_DEFAULT_SOURCE_DIR;
}

// engine/data/testdata/NAME.
inline std::string Fixture(const std::string& name) {
  return SourceDir() + "/engine/data/testdata/" + name;
}

}  // namespace fornax::testing

#endif  // FORNAX_ENGINE_DATA_TEST_FILES_H_
