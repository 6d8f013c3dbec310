// M1-3 acceptance 5 and deploy/: a real Prometheus server (Debian's
// /usr/bin/prometheus) scrapes the coordinator and a worker every second
// during a job, and its HTTP query API returns the job's loss series; every
// metric the Grafana dashboard in deploy/ queries is one the processes export.
#include <signal.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// The metric family names in a Prometheus text exposition.
std::set<std::string> ExportedNames(const std::string& exposition) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty()) continue;
    std::vector<std::string> words = absl::StrSplit(line, absl::ByAnyChar(" {"), absl::SkipEmpty());
    if (words.size() >= 3 && words[0] == "#" && (words[1] == "TYPE" || words[1] == "HELP")) {
      names.insert(words[2]);
    } else if (line[0] != '#' && !words.empty()) {
      names.insert(words[0]);
    }
  }
  return names;
}

TEST_F(ServiceTest, PrometheusScrapesTheJobsLossSeries) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  ServiceClient client(coordinator->grpc_address());
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);

  const std::string prometheus_address = absl::StrCat("127.0.0.1:", FreePort());
  std::ofstream(Path("prometheus.yml"))
      << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
         "scrape_configs:\n"
         "  - job_name: fornax-coordinator\n"
         "    honor_labels: true\n"
         "    static_configs: [{targets: ['"
      << coordinator->metrics_address()
      << "']}]\n"
         "  - job_name: fornax-worker\n"
         "    honor_labels: true\n"
         "    static_configs: [{targets: ['"
      << worker->metrics_address() << "']}]\n";
  ASSERT_STRNE(FORNAX_PROMETHEUS_BIN, "")
      << "no prometheus binary (Debian package prometheus; scripts/install-deps.sh installs it)";
  absl::StatusOr<std::unique_ptr<Daemon>> prometheus = Daemon::Spawn(
      FORNAX_PROMETHEUS_BIN,
      {"--config.file=" + Path("prometheus.yml"), "--storage.tsdb.path=" + Path("tsdb"),
       "--web.listen-address=" + prometheus_address, "--log.level=warn"},
      Path("prometheus.log"));
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!HttpGet(prometheus_address, "/-/ready").ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(HttpGet(prometheus_address, "/-/ready").ok()) << "prometheus never became ready";

  JobOptions options = JobOptions::Long(30);
  options.name = "scraped";
  absl::StatusOr<v1::Job> job = client.Submit(Spec(options, coordinator->grpc_address()));
  ASSERT_TRUE(job.ok()) << job.status();
  const absl::Time started = absl::Now();
  absl::StatusOr<v1::Job> done = WaitForJob(client, job->job_id(), Ended, absl::Seconds(90));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::JOB_STATE_SUCCEEDED);
  // The series as Prometheus has it. The coordinator's ends at the final
  // loss once a scrape came after the job's end (one a second, but a
  // loaded machine can delay Prometheus): asked again until then.
  const std::string query =
      absl::StrCat("fornax_job_metric{metric=\"loss\",job=\"", job->job_id(), "\"}");
  const double final_loss = done->last_metrics().values().at("loss");
  absl::StatusOr<std::string> body;
  nlohmann::json series;
  bool coordinator_series_ends_at_final_loss = false;
  deadline = absl::Now() + absl::Seconds(30);
  do {
    absl::SleepFor(absl::Seconds(1));
    const std::string target = absl::StrCat(
        "/api/v1/query_range?query=", UrlEncode(query), "&start=", absl::ToUnixSeconds(started) - 5,
        "&end=", absl::ToUnixSeconds(absl::Now()) + 1, "&step=1");
    body = HttpGet(prometheus_address, target);
    ASSERT_TRUE(body.ok()) << body.status();
    const nlohmann::json response = nlohmann::json::parse(*body);
    ASSERT_EQ(response["status"], "success") << *body;
    series = response["data"]["result"];
    for (const nlohmann::json& s : series) {
      if (s["metric"]["instance"] == coordinator->metrics_address() && !s["values"].empty()) {
        const double last = std::stod(s["values"].back()[1].get<std::string>());
        coordinator_series_ends_at_final_loss = std::abs(last - final_loss) <= 1e-6 * final_loss;
      }
    }
  } while (!coordinator_series_ends_at_final_loss && absl::Now() < deadline);
  ASSERT_FALSE(series.empty()) << "no loss series for " << job->job_id() << ": " << *body;
  std::set<std::string> scrape_jobs;
  for (const nlohmann::json& s : series) {
    EXPECT_EQ(s["metric"]["job"], job->job_id());
    EXPECT_EQ(s["metric"]["metric"], "loss");
    scrape_jobs.insert(s["metric"]["instance"].get<std::string>());
    ASSERT_FALSE(s["values"].empty());
    for (const nlohmann::json& point : s["values"]) {
      const double v = std::stod(point[1].get<std::string>());
      EXPECT_TRUE(std::isfinite(v) && v > 0 && v < 10) << point.dump();
    }
  }
  EXPECT_TRUE(coordinator_series_ends_at_final_loss) << *body << "\nfinal loss " << final_loss;
  EXPECT_EQ(scrape_jobs.count(coordinator->metrics_address()), 1u) << *body;
  EXPECT_EQ(scrape_jobs.count(worker->metrics_address()), 1u)
      << "the worker's per-step loss was never scraped: " << *body;
}

TEST_F(ServiceTest, DashboardQueriesOnlyExportedMetrics) {
  std::ifstream in(SourceDir() + "/deploy/grafana/fornax-dashboard.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json dashboard = nlohmann::json::parse(in);  // throws (fails) when malformed
  std::set<std::string> queried;
  // Ours, and Triton's nv_inference_* that a worker hosting models exports.
  const std::regex metric("(fornax|nv)_[a-z_]+");
  ASSERT_TRUE(dashboard.contains("panels"));
  for (const nlohmann::json& panel : dashboard["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const nlohmann::json& t : panel["targets"]) {
      const std::string expr = t.value("expr", "");
      for (std::sregex_iterator m(expr.begin(), expr.end(), metric), end; m != end; ++m) {
        queried.insert(m->str());
      }
    }
  }
  ASSERT_GE(queried.size(), 10u);

  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  ServiceClient client(coordinator->grpc_address());
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);
  // Never finishes on its own: the scrapes below need it still training
  // after a crash, a resume and a deploy, which a loaded machine may take
  // longer over than 30 epochs allowed.
  JobOptions options = JobOptions::Long(500);
  absl::StatusOr<v1::Job> job = client.Submit(Spec(options, coordinator->grpc_address()));
  ASSERT_TRUE(job.ok()) << job.status();
  // Scrape both while the job trains (per-job gauges exist then), after one
  // checkpoint and one crash of the job's process (so the checkpoint and
  // restart series exist too).
  ASSERT_TRUE(WaitForJob(
                  client, job->job_id(),
                  [](const v1::Job& j) { return j.epoch() >= 1 || Ended(j); }, absl::Seconds(60))
                  .ok());
  const std::vector<pid_t> children = JobProcesses(*worker);
  ASSERT_EQ(children.size(), 1u);
  ASSERT_EQ(kill(children[0], SIGKILL), 0);
  absl::StatusOr<v1::Job> resumed = WaitForJob(
      client, job->job_id(),
      [](const v1::Job& j) {
        return (j.attempt() == 1 && j.state() == v1::JOB_STATE_RUNNING && j.epoch() >= 3) ||
               Ended(j);
      },
      absl::Seconds(60));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_EQ(resumed->state(), v1::JOB_STATE_RUNNING);
  // A deployment of its first checkpoint, so the worker serves a model (the
  // serving panels' series) while the job trains.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListCheckpointsRequest list;
  list.set_job_id(job->job_id());
  v1::ListCheckpointsResponse checkpoints;
  ASSERT_TRUE(client.jobs().ListCheckpoints(&context, list, &checkpoints).ok());
  ASSERT_GE(checkpoints.checkpoints_size(), 1);
  CliResult deploy =
      RunCli(coordinator->grpc_address(), {"deploy", job->job_id(), "--name", "m", "--checkpoint",
                                           checkpoints.checkpoints(0).checkpoint_id()});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  std::set<std::string> exported;
  for (const Daemon* d : {coordinator.get(), worker.get()}) {
    absl::StatusOr<std::string> text = HttpGet(d->metrics_address(), "/metrics");
    ASSERT_TRUE(text.ok()) << text.status();
    exported.merge(ExportedNames(*text));
  }
  // The precondition of the per-job series: the job still trained then.
  absl::StatusOr<v1::Job> scraped = client.Get(job->job_id());
  ASSERT_TRUE(scraped.ok()) << scraped.status();
  EXPECT_EQ(scraped->state(), v1::JOB_STATE_RUNNING) << scraped->ShortDebugString();
  for (const std::string& name : queried) {
    // A histogram's _bucket/_sum/_count series, or its family with no series
    // yet; a counter may itself end in _count (nv_inference_count).
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (family.ends_with(suffix)) family.resize(family.size() - std::strlen(suffix));
    }
    EXPECT_TRUE(exported.count(name) == 1 || exported.count(family) == 1)
        << "the dashboard queries " << name << ", which neither process exports";
  }
}

}  // namespace
}  // namespace fornax::service_testing
