// Runs the real `fornax` binary (path baked in by CMake as FORNAX_BIN) and
// captures its exit code, stdout and stderr, for the end-to-end tests.
#ifndef FORNAX_TESTS_CLI_RUN_FORNAX_H_
#define FORNAX_TESTS_CLI_RUN_FORNAX_H_

#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "engine/data/test_files.h"
#include "gtest/gtest.h"

namespace fornax::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `fornax ARGS...` with its output redirected to files in `dir`.
// Arguments must not contain single quotes.
inline RunResult RunFornax(const TempDir& dir, const std::vector<std::string>& args) {
  std::string cmd = std::string("'") + FORNAX_BIN + "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " >'" + dir.File("stdout.txt") + "' 2>'" + dir.File("stderr.txt") + "'";
  int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFileOrEmpty(dir.File("stdout.txt"));
  r.err = ReadFileOrEmpty(dir.File("stderr.txt"));
  return r;
}

inline const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

}  // namespace fornax::testing

#endif  // FORNAX_TESTS_CLI_RUN_FORNAX_H_
