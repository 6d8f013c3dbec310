// Test helpers: a temporary directory, a Prometheus scrape, and small real jobs (512 Fashion-MNIST
// samples, the example MLP, batch 64: 8 steps per epoch).
#ifndef FORNAX_WORKER_TEST_JOBS_H_
#define FORNAX_WORKER_TEST_JOBS_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "engine/data/test_files.h"
#include "gtest/gtest.h"

namespace fornax::worker::testing {

// The shared ones: a fresh directory per test, a file's bytes ("" when it
// cannot be read), a write that creates the parent directories, and the
// source tree.
using fornax::testing::ReadFileOrEmpty;
using fornax::testing::SourceDir;
using fornax::testing::TempDir;
using fornax::testing::WriteFile;

// GET http://ADDRESS/metrics: the raw HTTP response, "" when it cannot connect.
inline std::string Scrape(const std::string& address) {
  const size_t colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  close(fd);
  return response;
}

// The job's YAML; `data_dir` holds the Fashion-MNIST files (absolute, or
// relative to the job dir), the model is "model.json" next to it.
inline std::string JobYaml(int epochs, const std::string& data_dir,
                           const std::string& images = "train-images-idx3-ubyte.gz",
                           const std::string& labels = "train-labels-idx1-ubyte.gz") {
  return "model: model.json\n"
         "compile:\n"
         "  optimizer: {class_name: Adam, config: {learning_rate: 0.001}}\n"
         "  loss: sparse_categorical_crossentropy\n"
         "  metrics: [accuracy]\n"
         "fit: {epochs: " +
         std::to_string(epochs) +
         ", batch_size: 64, seed: 5}\n"
         "data:\n"
         "  train:\n"
         "    limit: 512\n"
         "    x: {path: " +
         data_dir + images +
         ", dtype: float32, scale: 0.00392156862745098, reshape: [784]}\n"
         "    y: " +
         data_dir + labels + "\n";
}

inline std::string ModelJson() {
  return ReadFileOrEmpty(SourceDir() + "/examples/fashion_mlp/model.json");
}

// A job dir as the worker materializes it, reading the system's data.
inline void WriteJobDir(const std::string& dir, int epochs) {
  WriteFile(dir + "/job.yaml", JobYaml(epochs, "/usr/share/datasets/fashion-mnist/"));
  WriteFile(dir + "/model.json", ModelJson());
}

}  // namespace fornax::worker::testing

#endif  // FORNAX_WORKER_TEST_JOBS_H_
