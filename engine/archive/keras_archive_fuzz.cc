// libFuzzer target for the archive loader (docs/fuzzing.md): each input is
// written to a file and loaded as a model archive, .keras (zip) or legacy
// .h5 (by its signature). Any result is fine but a crash, a sanitizer
// report, a leak or a hang.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "engine/archive/keras_archive.h"

namespace {

const std::string& InputPath() {
  static const std::string* path = [] {
    auto* p = new std::string("/tmp/fornax_fuzz_" + std::to_string(getpid()) + ".keras");
    std::atexit([] { std::remove(InputPath().c_str()); });
    return p;
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = InputPath();
  {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  absl::StatusOr<std::unique_ptr<fornax::Trainer>> trainer = fornax::LoadKerasArchive(path, 0);
  return 0;
}
