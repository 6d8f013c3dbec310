// service_bench: load on a fornax-coordinator process (M1-3 acceptance 6; a
// benchmark, not a test). Opens N concurrent WatchJob streams, submits jobs
// at a fixed rate for a fixed time and meanwhile probes GetJob at a fixed
// rate from one more client; prints GetJob and SubmitJob latency, the events
// the coordinator stored and those the watchers received per second, and the
// load average before and after.
//
//   service_bench (--coordinator-bin build/server/fornax-coordinator |
//                  --coordinator 127.0.0.1:7070)
//       [--worker-bin build/worker/fornax-worker | --fake-workers 4]
//       [--events-per-job 20] [--watchers 200] [--rate 50] [--seconds 30]
//       [--watched-jobs 20] [--get-rate 200]
//
// Who runs the jobs (tiny ones: 256 Fashion-MNIST samples, 2 epochs of batch
// 32, the data uploaded once):
//   - nobody (the default with --coordinator-bin): the coordinator only
//     stores and queues them, and the watchers hold idle streams;
//   - --worker-bin: one real fornax-worker (started here, with its own dir)
//     trains them one after the other, streaming state/step/epoch/log/
//     checkpoint events;
//   - --fake-workers N: N workers in this process, each with 64 slots, that
//     answer every assignment with --events-per-job step events and a success
//     result in one ReportEvents: the coordinator's event path at a rate real
//     training on this machine cannot reach.
// Watcher i follows job i % watched-jobs to its end, then the job
// watched-jobs later, and so on, so every event fans out to
// watchers / watched-jobs streams. Client and server share the machine, so
// the figures include the clients' CPU.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/data/idx.h"
#include "engine/data/npy.h"
#include "nlohmann/json.hpp"
#include "proto/fornax/v1/workers.grpc.pb.h"
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
  int fake_workers = 0;
  int events_per_job = 20;
  int watchers = 200;
  int rate = 50;
  int seconds = 30;
  int watched_jobs = 20;
  int get_rate = 200;
};

bool ParseOptions(int argc, char** argv, Options* o) {
  if (argc % 2 == 0) return false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i], value = argv[i + 1];
    if (name == "--coordinator") {
      o->coordinator = value;
    } else if (name == "--coordinator-bin") {
      o->coordinator_bin = value;
    } else if (name == "--worker-bin") {
      o->worker_bin = value;
    } else if (int* n = name == "--fake-workers"     ? &o->fake_workers
                        : name == "--events-per-job" ? &o->events_per_job
                        : name == "--watchers"       ? &o->watchers
                        : name == "--rate"           ? &o->rate
                        : name == "--seconds"        ? &o->seconds
                        : name == "--watched-jobs"   ? &o->watched_jobs
                        : name == "--get-rate"       ? &o->get_rate
                                                     : nullptr;
               n == nullptr || !absl::SimpleAtoi(value, n) || *n < 0) {
      return false;
    }
  }
  return o->coordinator.empty() != o->coordinator_bin.empty() &&
         (o->worker_bin.empty() || o->fake_workers == 0) && o->rate > 0 && o->seconds > 0 &&
         o->watched_jobs > 0 && o->get_rate > 0;
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

// "1.23 0.98 0.77": /proc/loadavg's 1, 5 and 15 minute averages.
std::string LoadAverage() {
  std::istringstream in(ReadFile("/proc/loadavg"));
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
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

// A fake worker until `stop`: registers with 64 slots, heartbeats on its
// Lease stream as the coordinator asks, and answers each assignment with
// `events` step events and a success result in one ReportEvents. Like a real
// worker its heartbeats list the attempts it holds, from the assignment read
// until the result is stored: the coordinator requeues a job of the worker
// that two heartbeats in a row do not list.
void RunFakeWorker(const std::string& address, const std::string& id, int events,
                   const std::atomic<bool>& stop, std::atomic<int64_t>& errors) {
  std::unique_ptr<v1::Workers::Stub> stub =
      v1::Workers::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext register_context;
  v1::RegisterRequest request;
  request.set_worker_id(id);
  request.set_hostname("localhost");
  request.mutable_capacity()->set_cpus(2);
  request.mutable_capacity()->set_slots(64);
  v1::RegisterResponse registered;
  if (!stub->Register(&register_context, request, &registered).ok()) {
    ++errors;
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::pair<std::string, int32_t>> running;  // guarded by mu
  std::deque<v1::Assignment> todo;                    // guarded by mu
  bool ended = false;                                 // the lease stream; guarded by mu
  auto heartbeat = [&] {
    v1::LeaseRequest beat;
    beat.set_session_id(registered.session_id());
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [job_id, attempt] : running) {
      v1::RunningJob* r = beat.add_running();
      r->set_job_id(job_id);
      r->set_attempt(attempt);
    }
    return beat;
  };
  grpc::ClientContext lease_context;
  auto lease = stub->Lease(&lease_context);
  lease->Write(heartbeat());
  // Heartbeats from a thread of their own. Ends the stream once told to stop.
  std::thread heart([&] {
    const auto interval = std::chrono::milliseconds(registered.heartbeat_interval_ms());
    auto next = std::chrono::steady_clock::now() + interval;
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (std::chrono::steady_clock::now() < next) continue;
      lease->Write(heartbeat());
      next += interval;
    }
    lease_context.TryCancel();
  });
  // Assignments are read as they come (a real worker's lease thread does
  // too), so the heartbeats list them however far the reports lag behind.
  std::thread reader([&] {
    v1::LeaseResponse response;
    while (lease->Read(&response)) {
      if (!response.has_assign()) continue;
      std::lock_guard<std::mutex> lock(mu);
      running.insert({response.assign().job_id(), response.assign().attempt()});
      todo.push_back(response.assign());
      cv.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu);
    ended = true;
    cv.notify_one();
  });
  for (;;) {
    v1::Assignment assignment;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return ended || !todo.empty(); });
      if (todo.empty()) break;
      assignment = std::move(todo.front());
      todo.pop_front();
    }
    grpc::ClientContext context;
    v1::ReportEventsRequest report;
    report.set_session_id(registered.session_id());
    report.set_job_id(assignment.job_id());
    report.set_attempt(assignment.attempt());
    for (int i = 1; i <= events; ++i) {
      v1::WorkerEvent* e = report.add_events();
      e->set_worker_sequence(i);
      e->mutable_step()->set_step(i);
      e->mutable_step()->set_global_step(i);
      (*e->mutable_step()->mutable_metrics()->mutable_values())["loss"] = 1.0 / i;
    }
    v1::WorkerEvent* result = report.add_events();
    result->set_worker_sequence(events + 1);
    result->mutable_result()->set_succeeded(true);
    v1::ReportEventsResponse acked;
    if (!stub->ReportEvents(&context, report, &acked).ok()) ++errors;
    std::lock_guard<std::mutex> lock(mu);
    running.erase({assignment.job_id(), assignment.attempt()});
  }
  reader.join();
  heart.join();
  lease->Finish().IgnoreError();
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "service_bench: %s\n", status.ToString().c_str());
  return 1;
}

int Run(const Options& o) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("service_bench.", getpid())).string();
  std::filesystem::create_directories(dir);
  const std::string load_before = LoadAverage();
  std::unique_ptr<Daemon> coordinator, worker;
  std::string address = o.coordinator;
  if (!o.coordinator_bin.empty()) {
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(
        o.coordinator_bin,
        {"--listen", "127.0.0.1:0", "--data-dir", dir + "/coordinator", "--metrics-listen",
         "127.0.0.1:0", "--max-watch-streams", std::to_string(o.watchers + 50)},
        dir + "/coordinator.log");
    if (!d.ok()) return Fail(d.status());
    coordinator = std::move(*d);
    address = coordinator->grpc_address();
  }
  if (!o.worker_bin.empty()) {
    absl::StatusOr<std::unique_ptr<Daemon>> d =
        Daemon::Start(o.worker_bin,
                      {"--coordinator", address, "--name", "bench-worker", "--work-dir",
                       dir + "/worker", "--metrics-listen", "127.0.0.1:0"},
                      dir + "/worker.log");
    if (!d.ok()) return Fail(d.status());
    worker = std::move(*d);
  }
  ServiceClient client(address);
  absl::StatusOr<v1::JobSpec> spec = TinyJob(client, dir);
  if (!spec.ok()) return Fail(spec.status());

  std::mutex mu;
  std::vector<std::string> ids;  // guarded by mu
  std::vector<double> submit_ms, get_ms;
  std::atomic<int64_t> delivered{0}, errors{0};
  std::atomic<bool> stop{false};
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(o.seconds);

  std::vector<std::thread> threads;
  for (int i = 0; i < o.fake_workers; ++i) {
    threads.emplace_back(RunFakeWorker, address, absl::StrCat("fake-", i), o.events_per_job,
                         std::cref(stop), std::ref(errors));
  }
  // Watchers: the streams move along the queue as the jobs end.
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
        while (reader->Read(&event)) ++delivered;
        grpc::Status status = reader->Finish();
        if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) break;
        if (!status.ok()) ++errors;
      }
    });
  }
  // GetJob probe: get_rate calls a second on a fixed schedule, a different
  // known job each time.
  threads.emplace_back([&] {
    ServiceClient c(address);
    uint64_t n = 0;
    for (absl::Time next = absl::Now(); !stop; next += absl::Seconds(1) / o.get_rate) {
      absl::SleepFor(next - absl::Now());
      std::string id;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!ids.empty()) id = ids[(n++ * 2654435761u) % ids.size()];
      }
      if (id.empty()) continue;
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
  // Submitter (this thread): `rate` jobs a second, on a fixed schedule.
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
    submit_ms.push_back(ms);
    ids.push_back(job->job_id());
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  stop = true;
  for (std::thread& t : threads) t.join();

  int64_t succeeded = 0, stored = 0, requeues = 0;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::Job> job = client.Get(id);
    if (!job.ok()) continue;
    stored += job->last_sequence();
    requeues += job->attempt();  // one per requeue, whatever the cause
    if (job->state() == v1::JOB_STATE_SUCCEEDED) ++succeeded;
  }
  const std::string runner =
      worker ? std::string("one fornax-worker")
      : o.fake_workers > 0
          ? absl::StrCat(o.fake_workers, " fake workers x ", o.events_per_job + 1, " events/job")
      : coordinator != nullptr ? std::string("no worker (jobs stay queued)")
                               : "the workers of coordinator " + address;
  std::printf(
      "service_bench: %s; %d watchers over a window of %d jobs; %d jobs/s for %d s\n"
      "  load average before %s, after %s\n"
      "  SubmitJob: %zu jobs (%.1f/s), p50 %.2f ms, p99 %.2f ms; %lld succeeded\n"
      "  GetJob: %zu calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n"
      "  events stored %.0f/s, delivered to watchers %.0f/s; errors: %lld; requeues: %lld\n",
      runner.c_str(), o.watchers, o.watched_jobs, o.rate, o.seconds, load_before.c_str(),
      LoadAverage().c_str(), submit_ms.size(), static_cast<double>(submit_ms.size()) / elapsed,
      Percentile(submit_ms, 0.5), Percentile(submit_ms, 0.99), static_cast<long long>(succeeded),
      get_ms.size(), Percentile(get_ms, 0.5), Percentile(get_ms, 0.99), Percentile(get_ms, 1.0),
      static_cast<double>(stored) / elapsed, static_cast<double>(delivered.load()) / elapsed,
      static_cast<long long>(errors.load()), static_cast<long long>(requeues));
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
                 "usage: service_bench (--coordinator ADDR | --coordinator-bin PATH)\n"
                 "         [--worker-bin PATH | --fake-workers N] [--events-per-job 20]\n"
                 "         [--watchers 200] [--rate 50] [--seconds 30] [--watched-jobs 20]\n"
                 "         [--get-rate 200]\n"
                 "(integers >= 0; --rate, --seconds, --watched-jobs, --get-rate >= 1)\n");
    return 2;
  }
  return fornax::Run(options);
}
