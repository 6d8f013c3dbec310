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
// usage: serving_bench --fornax BIN --repo DIR [--seconds 2]
//          [--models mlp:784,mlp_nobatch:784,cnn:28x28x1,cnn_nobatch:28x28x1]
#include <signal.h>
#include <spawn.h>
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
  std::vector<std::string> args = {fornax,   "serve", "--model-repository", repo,
                                   "--port", "0",     "--metrics-port",     "0"};
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
};

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

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"seconds", "2"}, {"models", "mlp:784,mlp_nobatch:784,cnn:28x28x1,cnn_nobatch:28x28x1"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[std::string(argv[i]).substr(2)] = argv[i + 1];
  if (!flags.count("fornax") || !flags.count("repo")) {
    std::cerr << "usage: serving_bench --fornax BIN --repo DIR [--seconds S] [--models ...]\n";
    return 2;
  }
  const double seconds = std::stod(flags["seconds"]);
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
    targets.push_back({model, serve_address, MakeRequest(model, input, dims)});
    start = end + 1;
  }
  targets.insert(targets.begin(), {"echo", echo_address, MakeRequest("echo", "x", first_dims)});

  std::map<std::pair<std::string, int>, Result> results;
  std::printf("%-14s %5s %12s %10s %10s %7s\n", "target", "conc", "requests/s", "p50_us", "p99_us",
              "errors");
  for (const Target& target : targets) {
    auto stubs = Stubs(target.address);
    for (int concurrency : {1, 8, 64}) {
      LoadRun run(stubs, target.request, concurrency);
      const Result r = run.Run(/*warmup_s=*/0.3, seconds);
      results[{target.name, concurrency}] = r;
      std::printf("%-14s %5d %12.0f %10.0f %10.0f %7lld\n", target.name.c_str(), concurrency,
                  r.requests_per_second, r.p50_us, r.p99_us, static_cast<long long>(r.errors));
      std::fflush(stdout);
    }
  }
  auto ratio = [&](const std::string& a, const std::string& b, int c, bool latency) {
    if (!results.count({a, c}) || !results.count({b, c})) return 0.0;
    const Result& x = results[{a, c}];
    const Result& y = results[{b, c}];
    return latency ? x.p50_us / y.p50_us : x.requests_per_second / y.requests_per_second;
  };
  std::printf("\nratios (goals in brackets):\n");
  std::printf("  mlp p50 / echo p50 at c=1:                 %.2f  [<= 2]\n",
              ratio("mlp", "echo", 1, true));
  std::printf("  mlp throughput / echo throughput at c=64:  %.2f  [>= 0.70]\n",
              ratio("mlp", "echo", 64, false));
  std::printf("  cnn batching on / off throughput at c=64:  %.2f  [>= 3]\n",
              ratio("cnn", "cnn_nobatch", 64, false));
  std::printf("  cnn batching on / off throughput at c=8:   %.2f\n",
              ratio("cnn", "cnn_nobatch", 8, false));
  std::printf("  mlp batching on / off throughput at c=64:  %.2f\n",
              ratio("mlp", "mlp_nobatch", 64, false));
  kill(serve_pid, SIGTERM);
  kill(echo_pid, SIGKILL);
  waitpid(serve_pid, nullptr, 0);
  waitpid(echo_pid, nullptr, 0);
  return 0;
}
