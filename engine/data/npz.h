// NumPy .npz archives: a zip file of .npy members ("x.npy" holds key "x"),
// as np.savez (stored) and np.savez_compressed (deflated) write them.
// Members are read with libzip, so zip64 entries (which NumPy always writes)
// work. Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_ENGINE_DATA_NPZ_H_
#define FORNAX_ENGINE_DATA_NPZ_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tensor/tensor.h"

namespace fornax {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// The member keys (names without ".npy"), in archive order.
absl::StatusOr<std::vector<std::string>> ListNpz(const std::string& path);
// Every member, in archive order.
absl::StatusOr<NamedTensors> ReadNpz(const std::string& path);
// One member; NotFound lists the keys the archive does have.
absl::StatusOr<Tensor> ReadNpzMember(const std::string& path, const std::string& key);
// Writes an uncompressed archive, like np.savez(path, **arrays).
absl::Status WriteNpz(const std::string& path, const NamedTensors& arrays);

}  // namespace fornax

#endif  // FORNAX_ENGINE_DATA_NPZ_H_
