// service_bench: load on a fornax-coordinator (M1-3 acceptance 6). Opens N
// concurrent WatchJob streams, submits jobs at a fixed rate for a fixed time,
// and meanwhile calls GetJob in a loop from one more client; prints GetJob
// latency p50/p99/max, SubmitJob latency and the events/s the watchers
// received.
//
//   service_bench --coordinator-bin build/server/fornax-coordinator
//       [--worker-bin build/worker/fornax-worker] [--watchers 200]
//       [--rate 50] [--seconds 30] [--watched-jobs 20]
//   service_bench --coordinator 127.0.0.1:7070 ...   (an already running one)
//
// Jobs are tiny (256 Fashion-MNIST samples, 2 epochs of batch 32). Without
// --worker-bin none runs: the coordinator only stores and queues them, and
// the watchers see their QUEUED events. With a worker (started here, with its
// own dir), jobs run one after the other and stream state/step/epoch/log/
// checkpoint events; the watchers cover a window of --watched-jobs
// consecutive jobs and move on when their job ends, so every event fans out
// to watchers/watched-jobs streams.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/data/idx.h"
#include "engine/data/npy.h"
#include "nlohmann/json.hpp"
#include "tests/service/daemon.h"
#include "tests/service/service_client.h"

namespace fornax {
namespace {

using service_testing::Daemon;
using service_testing::ServiceClient;

struct Options {
  std::string coordinator;
  std::string coordinator_bin;
  std::string worker_bin;
  int watchers = 200;
  int rate = 50;
  int seconds = 30;
  int watched_jobs = 20;
};

bool ParseOptions(int argc, char** argv, Options* o) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  if (argc % 2 == 0) return false;
  for (const auto& [name, value] : flags) {
    if (name == "--coordinator") {
      o->coordinator = value;
    } else if (name == "--coordinator-bin") {
      o->coordinator_bin = value;
    } else if (name == "--worker-bin") {
      o->worker_bin = value;
    } else if (int* n = name == "--watchers"       ? &o->watchers
                        : name == "--rate"         ? &o->rate
                        : name == "--seconds"      ? &o->seconds
                        : name == "--watched-jobs" ? &o->watched_jobs
                                                   : nullptr;
               n == nullptr || !absl::SimpleAtoi(value, n) || *n <= 0) {
      return false;
    }
  }
  return o->coordinator.empty() != o->coordinator_bin.empty();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The tiny job every submit sends, its data uploaded once.
absl::StatusOr<v1::JobSpec> TinyJob(ServiceClient& client, const std::string& dir) {
  const std::string fashion = "/usr/share/datasets/fashion-mnist/";
  absl::StatusOr<Tensor> x = ReadIdx(fashion + "train-images-idx3-ubyte.gz");
  if (!x.ok()) return x.status();
  absl::StatusOr<Tensor> y = ReadIdx(fashion + "train-labels-idx1-ubyte.gz");
  if (!y.ok()) return y.status();
  absl::Status written = WriteNpy(dir + "/x.npy", x->SliceRows(0, 256));
  if (written.ok()) written = WriteNpy(dir + "/y.npy", y->SliceRows(0, 256));
  if (!written.ok()) return written;
  absl::StatusOr<v1::InputFile> xf = client.Upload(dir + "/x.npy");
  if (!xf.ok()) return xf.status();
  absl::StatusOr<v1::InputFile> yf = client.Upload(dir + "/y.npy");
  if (!yf.ok()) return yf.status();
  nlohmann::json model =
      nlohmann::json::parse(ReadFile(FORNAX_SOURCE_DIR "/tests/testdata/cli/small_mlp.json"));
  model.erase("build_config");
  model.erase("compile_config");
  v1::JobSpec spec;
  spec.set_name("bench");
  spec.set_model_json(model.dump());
  spec.set_job_yaml(absl::StrCat(
      "model: model.json\n"
      "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
      "fit: {epochs: 2, batch_size: 32}\n"
      "data: {train: {x: {path: ",
      xf->path(), ", scale: 0.00392156862745098, reshape: [784]}, y: ", yf->path(), "}}\n"));
  *spec.add_inputs() = *xf;
  *spec.add_inputs() = *yf;
  return spec;
}

int Run(const Options& o) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("service_bench.", getpid())).string();
  std::filesystem::create_directories(dir);
  std::unique_ptr<Daemon> coordinator, worker;
  std::string address = o.coordinator;
  if (!o.coordinator_bin.empty()) {
    absl::StatusOr<std::unique_ptr<Daemon>> d =
        Daemon::Start(o.coordinator_bin,
                      {"--listen", "127.0.0.1:0", "--data-dir", dir + "/coordinator",
                       "--metrics-listen", "127.0.0.1:0"},
                      dir + "/coordinator.log");
    if (!d.ok()) {
      std::fprintf(stderr, "service_bench: %s\n", d.status().ToString().c_str());
      return 1;
    }
    coordinator = std::move(*d);
    address = coordinator->grpc_address();
  }
  if (!o.worker_bin.empty()) {
    absl::StatusOr<std::unique_ptr<Daemon>> d =
        Daemon::Start(o.worker_bin,
                      {"--coordinator", address, "--name", "bench-worker", "--work-dir",
                       dir + "/worker", "--metrics-listen", "127.0.0.1:0"},
                      dir + "/worker.log");
    if (!d.ok()) {
      std::fprintf(stderr, "service_bench: %s\n", d.status().ToString().c_str());
      return 1;
    }
    worker = std::move(*d);
  }
  ServiceClient client(address);
  absl::StatusOr<v1::JobSpec> spec = TinyJob(client, dir);
  if (!spec.ok()) {
    std::fprintf(stderr, "service_bench: %s\n", spec.status().ToString().c_str());
    return 1;
  }

  std::mutex mu;
  std::vector<std::string> ids;  // guarded by mu
  std::vector<double> submit_ms, get_ms;
  std::atomic<int64_t> events{0}, errors{0};
  std::atomic<bool> stop{false};
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(o.seconds);

  // Watchers: watcher i follows job i % watched_jobs until it ends, then job
  // i % watched_jobs + watched_jobs, and so on: the streams move along the
  // queue as the worker works through it, each job watched by
  // watchers / watched_jobs streams.
  std::vector<std::thread> threads;
  for (int i = 0; i < o.watchers; ++i) {
    threads.emplace_back([&, i] {
      ServiceClient c(address);
      for (size_t k = i % o.watched_jobs; !stop; k += o.watched_jobs) {
        std::string id;
        while (id.empty() && !stop) {
          {
            std::lock_guard<std::mutex> lock(mu);
            if (ids.size() > k) id = ids[k];
          }
          if (id.empty()) absl::SleepFor(absl::Milliseconds(5));
        }
        if (id.empty()) break;
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(end));
        v1::WatchJobRequest request;
        request.set_job_id(id);
        auto reader = c.jobs().WatchJob(&ctx, request);
        v1::JobEvent event;
        while (reader->Read(&event)) ++events;
        grpc::Status status = reader->Finish();
        if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) break;
        if (!status.ok()) ++errors;
      }
    });
  }
  // GetJob caller: one request at a time, a random known job.
  threads.emplace_back([&] {
    ServiceClient c(address);
    uint64_t n = 0;
    while (!stop) {
      std::string id;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!ids.empty()) id = ids[(n++ * 2654435761u) % ids.size()];
      }
      if (id.empty()) {
        absl::SleepFor(absl::Milliseconds(5));
        continue;
      }
      const absl::Time t0 = absl::Now();
      absl::StatusOr<v1::Job> job = c.Get(id);
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
      std::lock_guard<std::mutex> lock(mu);
      if (job.ok()) {
        get_ms.push_back(ms);
      } else {
        ++errors;
      }
    }
  });
  // Submitter (this thread): `rate` jobs per second, on a fixed schedule.
  int64_t submitted = 0;
  for (absl::Time next = start; next < end; next += absl::Seconds(1) / o.rate) {
    absl::SleepFor(next - absl::Now());
    const absl::Time t0 = absl::Now();
    absl::StatusOr<v1::Job> job = client.Submit(*spec);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
    std::lock_guard<std::mutex> lock(mu);
    if (!job.ok()) {
      ++errors;
      continue;
    }
    ++submitted;
    submit_ms.push_back(ms);
    ids.push_back(job->job_id());
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  stop = true;
  for (std::thread& t : threads) t.join();

  int64_t finished = 0;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::Job> job = client.Get(id);
    if (job.ok() && job->state() == v1::JOB_STATE_SUCCEEDED) ++finished;
  }
  const std::string setup = worker ? "one worker running the jobs"
                            : coordinator != nullptr
                                ? "no worker (jobs stay queued)"
                                : "coordinator " + address + " and its workers";
  std::printf(
      "service_bench: %s, %d watchers over a window of %d jobs, %d jobs/s for %d s\n"
      "  submitted %lld jobs (%.1f/s), SubmitJob p50 %.2f ms p99 %.2f ms; %lld succeeded\n"
      "  GetJob: %zu calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n"
      "  events delivered to watchers: %lld (%.0f events/s); errors: %lld\n",
      setup.c_str(), o.watchers, o.watched_jobs, o.rate, o.seconds,
      static_cast<long long>(submitted), static_cast<double>(submitted) / elapsed,
      Percentile(submit_ms, 0.5), Percentile(submit_ms, 0.99), static_cast<long long>(finished),
      get_ms.size(), Percentile(get_ms, 0.5), Percentile(get_ms, 0.99), Percentile(get_ms, 1.0),
      static_cast<long long>(events.load()), static_cast<double>(events.load()) / elapsed,
      static_cast<long long>(errors.load()));
  worker.reset();
  coordinator.reset();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace fornax

int main(int argc, char** argv) {
  fornax::Options options;
  if (!fornax::ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr,
                 "usage: service_bench (--coordinator ADDR | --coordinator-bin PATH) "
                 "[--worker-bin PATH] [--watchers 200] [--rate 50] [--seconds 30] "
                 "[--watched-jobs 20]\n");
    return 2;
  }
  return fornax::Run(options);
}
