// Helpers the job files tests share (job_files_test.cc,
// job_files_upload_test.cc): job YAML with callbacks, and the CSVLogger
// files those callbacks write (read them with testing::ReadFileOrEmpty).
#ifndef FORNAX_TESTS_SERVICE_JOB_FILES_UTIL_H_
#define FORNAX_TESTS_SERVICE_JOB_FILES_UTIL_H_

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "engine/data/test_files.h"
#include "gtest/gtest.h"

namespace fornax::service_testing {

// The harness's job YAML with `callbacks` added to its flow-style `fit` map.
inline std::string WithCallbacks(std::string yaml, const std::string& callbacks) {
  const size_t fit_end = yaml.find("}\ndata:");
  EXPECT_NE(fit_end, std::string::npos) << yaml;
  if (fit_end != std::string::npos) yaml.insert(fit_end, ", callbacks: " + callbacks);
  return yaml;
}

// A CSVLogger file's complete rows (header first), split into fields.
inline std::vector<std::vector<std::string>> CsvRows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  size_t start = 0;
  for (size_t end; (end = text.find("\r\n", start)) != std::string::npos; start = end + 2) {
    rows.push_back(absl::StrSplit(text.substr(start, end - start), ','));
  }
  return rows;
}

}  // namespace fornax::service_testing

#endif  // FORNAX_TESTS_SERVICE_JOB_FILES_UTIL_H_
