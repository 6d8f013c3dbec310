// NumPy .npy files: one array with a small text header.
//
// Supported dtypes: <f4 (float32), <f2 (float16), <i4 (int32), <i8 (int64),
// |u1 (uint8), |b1 (bool); <f8 (float64, NumPy's default) is read and
// converted to float32 because the engine computes in float32. Arrays must be
// C order: fortran_order files are refused with a message saying how to fix
// them. Writing produces format version 1.0, exactly what np.save writes.
// Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_ENGINE_DATA_NPY_H_
#define FORNAX_ENGINE_DATA_NPY_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tensor/tensor.h"

namespace fornax {

// Reads a .npy file. NotFound when missing; InvalidArgument (naming the file)
// for a bad magic, an unsupported dtype, fortran order or a truncated body.
absl::StatusOr<Tensor> ReadNpy(const std::string& path);
// Writes `tensor` as a .npy file. bfloat16 has no NumPy dtype: InvalidArgument.
absl::Status WriteNpy(const std::string& path, const Tensor& tensor);

// The in-memory forms, used for .npz members. `source` names the bytes in
// error messages ("data.npz:x").
absl::StatusOr<Tensor> ParseNpy(std::string_view bytes, const std::string& source);
absl::StatusOr<std::string> SerializeNpy(const Tensor& tensor);

}  // namespace fornax

#endif  // FORNAX_ENGINE_DATA_NPY_H_
