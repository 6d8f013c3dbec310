// Load on the coordinator (M1-3 acceptance 6; a benchmark, not a test):
// 200 concurrent WatchJob streams while jobs are submitted at 50/s for 30 s,
// fake workers running each job as 20 step events and a result. Prints
// p50/p99 GetJob and SubmitJob latency and events/s stored and delivered.
//
//   FORNAX_SOURCE_DIR=. build/server/fornax_coordinator_bench [--seconds 30] [--rate 50]
//        [--watchers 200] [--workers 4] [--events-per-job 20]
// --workers 0 leaves every job queued: the watchers then hold idle streams.
// The coordinator is served in-process on loopback (real gRPC, SQLite in a
// temp dir); the jobs use examples/fashion_mlp/model.json under
// FORNAX_SOURCE_DIR.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "server/test_cluster.h"

namespace fornax::server {
namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Options {
  int seconds = 30;
  int rate = 50;
  int watchers = 200;
  int workers = 4;
  int events_per_job = 20;
};

// A fake worker: runs every assignment as `events` step events + success.
void RunWorker(v1::Workers::Stub* stub, const std::string& name, const Options& options,
               const std::atomic<bool>& stop) {
  FakeWorker worker(stub, name, /*slots=*/64);
  worker.Register();
  worker.OpenLease();
  while (!stop.load()) {
    v1::LeaseResponse next = worker.Next();
    if (!next.has_assign()) break;
    std::vector<v1::WorkerEvent> events;
    for (int i = 1; i <= options.events_per_job; ++i) {
      v1::WorkerEvent e;
      e.set_worker_sequence(i);
      e.mutable_step()->set_step(i);
      e.mutable_step()->set_global_step(i);
      (*e.mutable_step()->mutable_metrics()->mutable_values())["loss"] = 1.0 / i;
      events.push_back(e);
    }
    events.push_back(ResultEvent(options.events_per_job + 1, true));
    worker.Report(next.assign().job_id(), next.assign().attempt(), events).IgnoreError();
    worker.Heartbeat();
  }
}

int Run(const Options& options) {
  ServerOptions server_options;
  server_options.max_watch_streams = options.watchers + 50;
  TestCluster cluster(server_options);
  const v1::JobSpec spec = cluster.ValidSpec();

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> job_ids;  // guarded by mu
  std::vector<double> get_ms, submit_ms;
  std::atomic<int64_t> delivered{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < options.workers; ++i) {
    threads.emplace_back(RunWorker, &cluster.workers(), "bench-w" + std::to_string(i),
                         std::cref(options), std::cref(stop));
  }
  // Watchers: each follows the newest job it has not watched yet to its end,
  // then the next one, so every stream replays little and follows live.
  for (int i = 0; i < options.watchers; ++i) {
    threads.emplace_back([&] {
      std::string last;
      while (!stop.load()) {
        std::string job_id;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!job_ids.empty() && job_ids.back() != last) job_id = job_ids.back();
        }
        last = job_id.empty() ? last : job_id;
        if (job_id.empty()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        v1::WatchJobRequest request;
        request.set_job_id(job_id);
        auto reader = cluster.jobs().WatchJob(&context, request);
        v1::JobEvent event;
        while (reader->Read(&event)) delivered.fetch_add(1);
        reader->Finish().IgnoreError();
      }
    });
  }
  // GetJob probes, 200/s on random known jobs.
  threads.emplace_back([&] {
    std::mt19937 rng(1);
    while (!stop.load()) {
      std::string job_id;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!job_ids.empty()) job_id = job_ids[rng() % job_ids.size()];
      }
      if (!job_id.empty()) {
        const auto start = Clock::now();
        cluster.Get(job_id);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        std::lock_guard<std::mutex> lock(mu);
        get_ms.push_back(ms);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });

  const auto begin = Clock::now();
  const auto period = std::chrono::microseconds(1000000 / options.rate);
  const int total = options.seconds * options.rate;
  for (int n = 0; n < total; ++n) {
    std::this_thread::sleep_until(begin + n * period);
    v1::Job job;
    const auto start = Clock::now();
    grpc::Status status = cluster.Submit(spec, &job);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!status.ok()) {
      std::cerr << "submit failed: " << status.error_message() << "\n";
      continue;
    }
    std::lock_guard<std::mutex> lock(mu);
    submit_ms.push_back(ms);
    job_ids.push_back(job.job_id());
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
  stop.store(true);
  int64_t stored = 0;
  for (const std::string& id : job_ids) stored += cluster.Get(id).last_sequence();
  cluster.Stop();  // ends the watch and lease streams
  for (auto& t : threads) t.join();

  std::printf("coordinator load: %d s, %zu jobs submitted (%.1f/s), %d watchers, %d workers\n",
              options.seconds, submit_ms.size(), submit_ms.size() / elapsed, options.watchers,
              options.workers);
  std::printf("GetJob    p50 %.2f ms  p99 %.2f ms  (%zu calls)\n", Percentile(get_ms, 0.5),
              Percentile(get_ms, 0.99), get_ms.size());
  std::printf("SubmitJob p50 %.2f ms  p99 %.2f ms\n", Percentile(submit_ms, 0.5),
              Percentile(submit_ms, 0.99));
  std::printf("events stored %.0f/s, delivered to watchers %.0f/s\n", stored / elapsed,
              delivered.load() / elapsed);
  return 0;
}

}  // namespace
}  // namespace fornax::server

int main(int argc, char** argv) {
  fornax::server::Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int value = 0;
    if (!absl::SimpleAtoi(argv[i + 1], &value) || value < 0) {
      std::cerr << "fornax_coordinator_bench: " << flag << ": expected an integer >= 0\n";
      return 2;
    }
    if (flag == "--seconds") {
      options.seconds = value;
    } else if (flag == "--rate") {
      options.rate = value;
    } else if (flag == "--watchers") {
      options.watchers = value;
    } else if (flag == "--workers") {
      options.workers = value;
    } else if (flag == "--events-per-job") {
      options.events_per_job = value;
    } else {
      std::cerr << "fornax_coordinator_bench: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (options.rate < 1 || options.watchers < 1) {
    std::cerr << "fornax_coordinator_bench: --rate and --watchers must be >= 1\n";
    return 2;
  }
  return fornax::server::Run(options);
}
