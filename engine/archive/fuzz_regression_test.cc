// Inputs the archive fuzzer (keras_archive_fuzz, docs/fuzzing.md) found or
// that seeded it: each one in tests/testdata/fuzz/ must load to a clean
// error (bad input, not an internal error), never a crash, leak or hang.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "engine/archive/keras_archive.h"
#include "engine/data/test_files.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

TEST(FuzzRegressionTest, EveryInputIsACleanError) {
  const std::filesystem::path dir = testing::SourceDir() + "/tests/testdata/fuzz";
  int inputs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
    ++inputs;
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = LoadKerasArchive(entry.path().string(), 0);
    ASSERT_FALSE(trainer.ok()) << entry.path();
    EXPECT_NE(trainer.status().code(), absl::StatusCode::kInternal) << trainer.status();
    EXPECT_FALSE(trainer.status().message().empty()) << entry.path();
    std::cout << entry.path().filename().string() << ": " << trainer.status().message() << "\n";
  }
  EXPECT_GT(inputs, 0) << "no inputs in " << dir;
}

}  // namespace
}  // namespace fornax
