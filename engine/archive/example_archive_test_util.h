// Test helper: an example's model (examples/NAME/model.json) compiled with
// its initial weights and saved as a .keras archive, for tests that need a
// real archive without training one.
#ifndef FORNAX_ENGINE_ARCHIVE_EXAMPLE_ARCHIVE_TEST_UTIL_H_
#define FORNAX_ENGINE_ARCHIVE_EXAMPLE_ARCHIVE_TEST_UTIL_H_

#include <memory>
#include <string>

#include "engine/archive/keras_archive.h"
#include "engine/data/test_files.h"
#include "gtest/gtest.h"

namespace fornax::testing {

// Writes examples/`example` as an archive at `path`; false (with a test
// failure recorded) when it cannot.
inline bool SaveExampleArchive(const std::string& example, const std::string& path) {
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::FromJsonFile(SourceDir() + "/examples/" + example + "/model.json");
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return false;
  CompileConfig compile;
  compile.loss = "sparse_categorical_crossentropy";
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(*std::move(model), compile, 1);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return false;
  const absl::Status saved = SaveKerasArchive(path, **trainer);
  EXPECT_TRUE(saved.ok()) << saved;
  return saved.ok();
}

}  // namespace fornax::testing

#endif  // FORNAX_ENGINE_ARCHIVE_EXAMPLE_ARCHIVE_TEST_UTIL_H_
