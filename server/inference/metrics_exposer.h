// MetricsExposer: a Prometheus registry served at /metrics over HTTP
// (prometheus-cpp's Exposer, on civetweb) that stops at once. The
// coordinator, the worker and `fornax serve` each run one.
//
// The Exposer's destructor (mg_stop) took up to 2 s, most of a process's
// exit time after SIGTERM; this one shuts its listening socket down first
// (civetweb_sockets.h says why that is enough: the Exposer's connections
// are not kept alive, so only its master thread waits).
// Thread-safety: port() may be called from any thread.
#ifndef FORNAX_SERVER_INFERENCE_METRICS_EXPOSER_H_
#define FORNAX_SERVER_INFERENCE_METRICS_EXPOSER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace fornax::serving {

class MetricsExposer {
 public:
  // Listens on `address` ("127.0.0.1:0": any free port) and serves
  // `registry` (while it lives). Unavailable with civetweb's
  // reason when it cannot listen (a busy port).
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsExposer();
  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  int port() const { return port_; }

 private:
  MetricsExposer(std::unique_ptr<prometheus::Exposer> exposer, int port);

  std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_METRICS_EXPOSER_H_
