// serving_bench: throughput and latency of `fornax serve` against a bare
// gRPC echo server (the floor), all on this machine in one run.
//
// For each target (models of the repository given, plus "echo": a callback
// gRPC server that returns the request's tensor unchanged, so it moves the
// same request payload) and each concurrency, `concurrency` closed-loop
// clients send one-sample ModelInfer requests for --seconds and record
// every latency. Prints requests/s, p50 and p99, then the ratios the M1-4
// goals are stated in. bench/serving_bench.sh prepares the models.
//
// Then, in this process, the engine's own cost of one predict call per
// sample at batch 1, 8 and 64 (thread CPU time, best of 9 rounds: it does
// not move with the machine's load as the served figures do).
//
// usage: serving_bench --fornax BIN --repo DIR [--seconds 2]
//          [--models mlp:784,mlp_nobatch:784,cnn:28x28x1,cnn_nobatch:28x28x1]
//          [--engine mlp,cnn] [--rounds 1]
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "server/inference/model_runner.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// The floor: ModelInfer answers with the request's first tensor.
class EchoService final : public inference::GRPCInferenceService::CallbackService {
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    auto* out = response->add_outputs();
    out->set_name("echo");
    out->set_datatype(request->inputs(0).datatype());
    *out->mutable_shape() = request->inputs(0).shape();
    *response->add_raw_output_contents() = request->raw_input_contents(0);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Runs the echo server in a child process; returns its port.
int StartEchoServer(pid_t* pid) {
  int fds[2];
  if (pipe(fds) != 0) return 0;
  *pid = fork();
  if (*pid == 0) {
    close(fds[0]);
    EchoService service;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (write(fds[1], &port, sizeof(port)) != sizeof(port)) _exit(1);
    close(fds[1]);
    server->Wait();
    _exit(0);
  }
  close(fds[1]);
  int port = 0;
  if (read(fds[0], &port, sizeof(port)) != sizeof(port)) port = 0;
  close(fds[0]);
  return port;
}

// Spawns `fornax serve` and returns its gRPC address ("" on failure).
std::string StartFornaxServe(const std::string& fornax, const std::string& repo, pid_t* pid) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<std::string> args = {fornax,        "serve", "--model-repository", repo,
                                   "--port",      "0",     "--metrics-port",     "0",
                                   "--http-port", "-1"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(pid, fornax.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) return "";
  std::string line;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') line += c;
  close(fds[0]);
  const size_t at = line.find("grpc=");
  if (at == std::string::npos) return "";
  return line.substr(at + 5, line.find(' ', at) - at - 5);
}

struct Result {
  double requests_per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  int64_t errors = 0;
  int64_t completed = 0;  // warm-up included
  // CPU time per request of the server's and of this load generator's
  // process (the two share the machine's cores).
  double server_us = 0;
  double client_us = 0;
  double batch = 0;  // the model's average rows per engine call
};

// CPU time (user + system) a process has used, in microseconds.
double ProcessCpuMicros(pid_t pid) {
  if (pid == 0) {
    rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  }
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char text[1024] = {};
  const size_t n = std::fread(text, 1, sizeof(text) - 1, f);
  std::fclose(f);
  // Fields 14 and 15 (utime, stime, in clock ticks) follow the ")" ending
  // field 2, the command name.
  const char* p = std::strrchr(text, ')');
  if (n == 0 || p == nullptr) return 0;
  unsigned long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
      2) {
    return 0;
  }
  return static_cast<double>(utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// `concurrency` closed loops of ModelInfer over a few channels.
class LoadRun {
 public:
  LoadRun(const std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>>& stubs,
          const inference::ModelInferRequest& request, int concurrency)
      : stubs_(stubs), request_(request), concurrency_(concurrency) {}

  Result Run(double warmup_s, double seconds) {
    start_ = Clock::now();
    measure_from_ = start_ + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(warmup_s));
    stop_at_ = measure_from_ +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    loops_.resize(static_cast<size_t>(concurrency_));
    for (int i = 0; i < concurrency_; ++i) Issue(i);
    {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [this] { return finished_ == concurrency_; });
    }
    Result result;
    std::sort(latencies_us_.begin(), latencies_us_.end());
    if (!latencies_us_.empty()) {
      result.p50_us = latencies_us_[latencies_us_.size() / 2];
      result.p99_us = latencies_us_[latencies_us_.size() * 99 / 100];
    }
    result.requests_per_second = static_cast<double>(latencies_us_.size()) / seconds;
    result.errors = errors_;
    result.completed = completed_;
    return result;
  }

 private:
  struct Loop {
    std::unique_ptr<grpc::ClientContext> context;
    inference::ModelInferResponse response;
    Clock::time_point sent;
  };

  void Issue(int i) {
    Loop& loop = loops_[static_cast<size_t>(i)];
    loop.context = std::make_unique<grpc::ClientContext>();
    loop.response.Clear();
    loop.sent = Clock::now();
    stubs_[static_cast<size_t>(i) % stubs_.size()]->async()->ModelInfer(
        loop.context.get(), &request_, &loop.response, [this, i](grpc::Status status) {
          const Clock::time_point now = Clock::now();
          Loop& loop = loops_[static_cast<size_t>(i)];
          {
            std::lock_guard<std::mutex> lock(mu_);
            ++completed_;
            if (!status.ok()) {
              if (errors_++ == 0) std::cerr << "error: " << status.error_message() << "\n";
            } else if (loop.sent >= measure_from_ && now <= stop_at_) {
              latencies_us_.push_back(
                  std::chrono::duration<double, std::micro>(now - loop.sent).count());
            }
            if (now >= stop_at_) {
              if (++finished_ == concurrency_) done_.notify_all();
              return;
            }
          }
          Issue(i);
        });
  }

  const std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>>& stubs_;
  const inference::ModelInferRequest& request_;
  const int concurrency_;
  Clock::time_point start_, measure_from_, stop_at_;
  std::vector<Loop> loops_;
  std::mutex mu_;
  std::condition_variable done_;
  std::vector<double> latencies_us_;
  int64_t errors_ = 0;
  int64_t completed_ = 0;
  int finished_ = 0;
};

inference::ModelInferRequest MakeRequest(const std::string& model, const std::string& input,
                                         const std::vector<int64_t>& dims) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* tensor = request.add_inputs();
  tensor->set_name(input);
  tensor->set_datatype("FP32");
  tensor->add_shape(1);
  int64_t n = 1;
  for (int64_t d : dims) {
    tensor->add_shape(d);
    n *= d;
  }
  std::vector<float> values(static_cast<size_t>(n));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(0, 1);
  for (float& v : values) v = uniform(rng);
  request.add_raw_input_contents()->assign(reinterpret_cast<const char*>(values.data()),
                                           values.size() * sizeof(float));
  return request;
}

std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> Stubs(
    const std::string& address) {
  std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> stubs;
  for (int i = 0; i < 4; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("fornax_bench_channel", i);  // distinct args: distinct connections
    stubs.push_back(inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
  }
  return stubs;
}

// The model's first input name, from ModelMetadata.
std::string InputName(inference::GRPCInferenceService::Stub& stub, const std::string& model) {
  inference::ModelMetadataRequest request;
  request.set_name(model);
  inference::ModelMetadataResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub.ModelMetadata(&context, request, &response);
  if (!status.ok() || response.inputs_size() == 0) {
    std::cerr << "serving_bench: ModelMetadata(" << model << "): " << status.error_message()
              << "\n";
    return "";
  }
  return response.inputs(0).name();
}

// The model's (inferences, engine calls) so far, from ModelStatistics;
// zeros for the echo server, which has no statistics.
std::pair<uint64_t, uint64_t> Executions(inference::GRPCInferenceService::Stub& stub,
                                         const std::string& model) {
  inference::ModelStatisticsRequest request;
  request.set_name(model);
  inference::ModelStatisticsResponse response;
  grpc::ClientContext context;
  if (!stub.ModelStatistics(&context, request, &response).ok()) return {0, 0};
  std::pair<uint64_t, uint64_t> counts = {0, 0};
  for (const auto& stats : response.model_stats()) {
    counts.first += stats.inference_count();
    counts.second += stats.execution_count();
  }
  return counts;
}

std::vector<int64_t> ParseDims(const std::string& text) {
  std::vector<int64_t> dims;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find('x', start), text.size());
    dims.push_back(std::stoll(text.substr(start, end - start)));
    start = end + 1;
  }
  return dims;
}

// One run of `concurrency` closed loops against `target`, with the CPU time
// its server (`pid`) and this process spent per request.
Result Measure(const std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>>& stubs,
               const std::string& target, pid_t pid, const inference::ModelInferRequest& request,
               int concurrency, double seconds) {
  LoadRun run(stubs, request, concurrency);
  const auto executions = Executions(*stubs[0], target);
  const double server_cpu = ProcessCpuMicros(pid);
  const double client_cpu = ProcessCpuMicros(0);
  Result r = run.Run(/*warmup_s=*/0.3, seconds);
  const double requests = static_cast<double>(std::max<int64_t>(r.completed, 1));
  r.server_us = (ProcessCpuMicros(pid) - server_cpu) / requests;
  r.client_us = (ProcessCpuMicros(0) - client_cpu) / requests;
  const auto executions_after = Executions(*stubs[0], target);
  const uint64_t calls = executions_after.second - executions.second;
  if (calls > 0) {
    r.batch =
        static_cast<double>(executions_after.first - executions.first) / static_cast<double>(calls);
  }
  return r;
}

void PrintHeader() {
  std::printf("%-14s %5s %12s %10s %10s %7s %11s %11s %6s\n", "target", "conc", "requests/s",
              "p50_us", "p99_us", "errors", "server_cpu", "client_cpu", "batch");
}

void PrintRow(const std::string& target, int concurrency, const Result& r) {
  std::printf("%-14s %5d %12.0f %10.0f %10.0f %7lld %11.1f %11.1f %6.1f\n", target.c_str(),
              concurrency, r.requests_per_second, r.p50_us, r.p99_us,
              static_cast<long long>(r.errors), r.server_us, r.client_us, r.batch);
  std::fflush(stdout);
}

std::string LoadAverage() {
  FILE* f = std::fopen("/proc/loadavg", "r");
  char text[64] = {};
  if (f == nullptr) return "?";
  const size_t n = std::fread(text, 1, sizeof(text) - 1, f);
  std::fclose(f);
  std::string load(text, n);
  return load.substr(0, load.find(' ', load.find(' ', load.find(' ') + 1) + 1));
}

double ThreadCpuMicros() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

// Prints the engine's CPU time per sample of one predict call, as the
// server makes it (plan compiled for 64 rows), at batch 1, 8 and 64;
// `us_at_64`: the batch-64 figure.
bool PrintEngineCost(const std::string& repo, const std::string& model, double* us_at_64) {
  absl::StatusOr<std::unique_ptr<fornax::serving::ModelRunner>> runner =
      fornax::serving::ModelRunner::Load(repo + "/" + model + "/1/model.keras", 64);
  if (!runner.ok()) {
    std::cerr << "serving_bench: " << model << ": " << runner.status() << "\n";
    return false;
  }
  std::printf("%-14s", model.c_str());
  for (int64_t batch : {1, 8, 64}) {
    std::vector<fornax::Tensor> inputs;
    for (const fornax::TensorSpec& spec : (*runner)->inputs()) {
      std::vector<int64_t> dims = spec.shape.dims();
      dims[0] = batch;
      inputs.emplace_back(spec.dtype, fornax::Shape(std::move(dims)));
    }
    const int calls = static_cast<int>(640 / batch);
    double best = 1e30;
    for (int round = 0; round < 9; ++round) {
      const double start = ThreadCpuMicros();
      for (int i = 0; i < calls; ++i) {
        if (!(*runner)->Run(inputs).ok()) return false;
      }
      best = std::min(best, (ThreadCpuMicros() - start) / static_cast<double>(calls * batch));
    }
    std::printf(" %10.1f", best);
    *us_at_64 = best;
  }
  std::printf("\n");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"seconds", "2"},
      {"rounds", "1"},
      {"models", "mlp:784,mlp_nobatch:784,cnn:28x28x1,cnn_nobatch:28x28x1"},
      {"engine", "mlp,cnn"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[std::string(argv[i]).substr(2)] = argv[i + 1];
  if (!flags.count("fornax") || !flags.count("repo")) {
    std::cerr << "usage: serving_bench --fornax BIN --repo DIR [--seconds S] [--rounds N] "
                 "[--models ...] [--engine ...]\n";
    return 2;
  }
  const double seconds = std::stod(flags["seconds"]);
  const int rounds = std::stoi(flags["rounds"]);
  pid_t echo_pid = 0, serve_pid = 0;
  const int echo_port = StartEchoServer(&echo_pid);  // fork before any gRPC use here
  const std::string serve_address = StartFornaxServe(flags["fornax"], flags["repo"], &serve_pid);
  if (echo_port == 0 || serve_address.empty()) {
    std::cerr << "serving_bench: could not start the servers\n";
    return 1;
  }
  const std::string echo_address = "127.0.0.1:" + std::to_string(echo_port);

  struct Target {
    std::string name;
    std::string address;
    pid_t pid;  // the server's process
    inference::ModelInferRequest request;
  };
  std::vector<Target> targets;
  auto serve_stubs = Stubs(serve_address);
  std::vector<int64_t> first_dims;
  std::string models = flags["models"];
  for (size_t start = 0; start < models.size();) {
    const size_t end = std::min(models.find(',', start), models.size());
    const std::string spec = models.substr(start, end - start);
    const size_t colon = spec.find(':');
    const std::string model = spec.substr(0, colon);
    const std::vector<int64_t> dims = ParseDims(spec.substr(colon + 1));
    if (first_dims.empty()) first_dims = dims;
    const std::string input = InputName(*serve_stubs[0], model);
    if (input.empty()) return 1;
    targets.push_back({model, serve_address, serve_pid, MakeRequest(model, input, dims)});
    start = end + 1;
  }
  targets.insert(targets.begin(),
                 {"echo", echo_address, echo_pid, MakeRequest("echo", "x", first_dims)});

  // Every target at every concurrency, `rounds` times over (interleaved, so
  // a burst of load elsewhere on the machine hits one round, not one
  // target); the round with the highest throughput counts.
  std::map<std::pair<std::string, int>, Result> results;
  for (int round = 1; round <= rounds; ++round) {
    std::printf("round %d of %d (load average %s)\n", round, rounds, LoadAverage().c_str());
    PrintHeader();
    for (const Target& target : targets) {
      auto stubs = Stubs(target.address);
      for (int concurrency : {1, 8, 64}) {
        const Result r =
            Measure(stubs, target.name, target.pid, target.request, concurrency, seconds);
        PrintRow(target.name, concurrency, r);
        Result& best = results[{target.name, concurrency}];
        if (r.requests_per_second > best.requests_per_second) best = r;
      }
    }
  }
  kill(serve_pid, SIGTERM);
  kill(echo_pid, SIGKILL);
  waitpid(serve_pid, nullptr, 0);
  waitpid(echo_pid, nullptr, 0);
  if (rounds > 1) {
    std::printf("\nbest of %d rounds:\n", rounds);
    PrintHeader();
    for (const Target& target : targets) {
      for (int concurrency : {1, 8, 64}) {
        PrintRow(target.name, concurrency, results[{target.name, concurrency}]);
      }
    }
  }

  std::printf("\nengine CPU time per sample of one predict call, us (best of 9 rounds):\n");
  std::printf("%-14s %10s %10s %10s\n", "model", "batch 1", "batch 8", "batch 64");
  std::map<std::string, double> engine_us_at_64;
  const std::string engine_models = flags["engine"];
  for (size_t start = 0; start < engine_models.size();) {
    const size_t end = std::min(engine_models.find(',', start), engine_models.size());
    const std::string model = engine_models.substr(start, end - start);
    if (!PrintEngineCost(flags["repo"], model, &engine_us_at_64[model])) return 1;
    start = end + 1;
  }

  auto ratio = [&](const std::string& a, const std::string& b, int c, bool latency) {
    if (!results.count({a, c}) || !results.count({b, c})) return 0.0;
    const Result& x = results[{a, c}];
    const Result& y = results[{b, c}];
    return latency ? x.p50_us / y.p50_us : x.requests_per_second / y.requests_per_second;
  };
  std::printf("\nratios (goals in brackets):\n");
  std::printf("  (c) mlp p50 / echo p50 at c=1:                 %.2f  [<= 2]\n",
              ratio("mlp", "echo", 1, true));
  std::printf("  (b) mlp throughput / echo throughput at c=64:  %.2f  [>= 0.70]\n",
              ratio("mlp", "echo", 64, false));
  std::printf("  (a) cnn batching on / off throughput at c=64:  %.2f  [>= 3]\n",
              ratio("cnn", "cnn_nobatch", 64, false));
  std::printf("      cnn batching on / off throughput at c=8:   %.2f\n",
              ratio("cnn", "cnn_nobatch", 8, false));
  std::printf("      mlp batching on / off throughput at c=64:  %.2f\n",
              ratio("mlp", "mlp_nobatch", 64, false));
  // When the cores are the limit, throughput is inversely proportional to
  // the CPU time a request costs (server + client). Batching on can at best
  // cost the engine's batch-64 time per sample plus what the bare echo costs
  // (no serving work at all); batching off costs what was measured.
  if (results.count({"cnn_nobatch", 64}) && results.count({"echo", 64}) &&
      engine_us_at_64.count("cnn")) {
    const Result& off = results[{"cnn_nobatch", 64}];
    const Result& echo = results[{"echo", 64}];
    const Result& on = results[{"cnn", 64}];
    const double floor_us = engine_us_at_64["cnn"] + echo.server_us + echo.client_us;
    std::printf(
        "  CPU per request at c=64 (server + client): cnn on %.0f us, cnn off %.0f us; "
        "a zero-overhead server would cost %.0f us (engine %.0f + echo %.0f), so at most "
        "%.2fx on/off\n",
        on.server_us + on.client_us, off.server_us + off.client_us, floor_us,
        engine_us_at_64["cnn"], echo.server_us + echo.client_us,
        (off.server_us + off.client_us) / floor_us);
  }
  // The same bound for (b): a batching server with no overhead would cost
  // the echo's CPU plus the engine's batch-64 time per sample.
  if (results.count({"mlp", 64}) && results.count({"echo", 64}) && engine_us_at_64.count("mlp")) {
    const Result& echo = results[{"echo", 64}];
    const Result& mlp = results[{"mlp", 64}];
    const double echo_us = echo.server_us + echo.client_us;
    std::printf(
        "  CPU per request at c=64 (server + client): echo %.0f us, mlp %.0f us; a zero-overhead "
        "server would cost %.0f us (engine %.1f + echo), so (b) is at most %.2f; reaching 0.70 "
        "needs mlp <= %.0f us\n",
        echo_us, mlp.server_us + mlp.client_us, echo_us + engine_us_at_64["mlp"],
        engine_us_at_64["mlp"], echo_us / (echo_us + engine_us_at_64["mlp"]), echo_us / 0.70);
  }
  return 0;
}
