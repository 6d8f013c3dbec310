// UTF-8 for text the server answers in proto3 string fields, which clients
// refuse to parse unless they are UTF-8 (tritonclient's RepositoryIndex
// fails whole, ModelConfig cannot be read), while a directory name or a
// string in config.pbtxt may hold any bytes.
// Thread-safety: stateless functions.
#ifndef FORNAX_SERVER_INFERENCE_UTF8_H_
#define FORNAX_SERVER_INFERENCE_UTF8_H_

#include <string>
#include <string_view>

namespace fornax::serving {

// Whether `text` is valid UTF-8 (no stray, overlong or surrogate sequence,
// nothing past U+10FFFF).
bool IsUtf8(std::string_view text);

// `text` with every byte that is not part of valid UTF-8 written as \xNN.
std::string Utf8Safe(std::string_view text);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_UTF8_H_
