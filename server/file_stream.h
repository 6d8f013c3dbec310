// Streams a stored file to a gRPC server stream in 1 MiB chunks.
#ifndef FORNAX_SERVER_FILE_STREAM_H_
#define FORNAX_SERVER_FILE_STREAM_H_

#include <fstream>
#include <string>

#include "grpcpp/support/status.h"
#include "grpcpp/support/sync_stream.h"

namespace fornax::server {

inline constexpr size_t kChunkBytes = 1 << 20;

// Sends `path` as Chunk messages (their `data` field); `first` is the first
// chunk with any header fields already set, sent even for an empty file.
template <typename Chunk>
grpc::Status StreamFile(const std::string& path, Chunk first, grpc::ServerWriter<Chunk>* writer) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return grpc::Status(grpc::StatusCode::DATA_LOSS, "stored file missing: " + path);
  std::string buffer(kChunkBytes, '\0');
  Chunk chunk = std::move(first);
  bool sent_any = false;
  while (true) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    if (n <= 0 && sent_any) break;
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    sent_any = true;
    chunk = Chunk();
    if (n < static_cast<std::streamsize>(buffer.size())) break;
  }
  if (in.bad()) return grpc::Status(grpc::StatusCode::DATA_LOSS, "cannot read " + path);
  return grpc::Status::OK;
}

}  // namespace fornax::server

#endif  // FORNAX_SERVER_FILE_STREAM_H_
