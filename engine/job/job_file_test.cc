#include "engine/job/job_file.h"

#include <memory>
#include <vector>

#include "engine/job/job_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

constexpr char kFullJob[] = R"(
model: model.json
backend: cpu
compile:
  optimizer: {class_name: Adam, config: {learning_rate: 0.001}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  steps_per_execution: 33
fit:
  epochs: 5
  batch_size: 128
  shuffle: false
  seed: 1
  callbacks:
    - TerminateOnNaN
    - {class_name: EarlyStopping, config: {patience: 2, monitor: val_loss}}
    - ReduceLROnPlateau: {factor: 0.5}
data:
  train:
    x: {path: data/train-images-idx3-ubyte.gz, dtype: float32, scale: 0.00392156862745098,
        reshape: [784]}
    y: data/train-labels-idx1-ubyte.gz
    limit: 2000
  validation:
    x: /abs/val.npz:x
    y: {path: /abs/val.npz, key: y, limit: 10}
  test:
    x: {image: /abs/img.npy, aux: /abs/aux.npy}
    y: [/abs/a.npy, /abs/b.npy]
)";

TEST(JobFileTest, ParsesEveryField) {
  absl::StatusOr<JobSpec> job = ParseJobYaml(kFullJob, "jobs/job.yaml", "jobs");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->model_path, "jobs/model.json");
  EXPECT_EQ(job->compile.optimizer["class_name"], "Adam");
  EXPECT_DOUBLE_EQ(job->compile.optimizer["config"]["learning_rate"].get<double>(), 0.001);
  EXPECT_EQ(job->compile.loss, "sparse_categorical_crossentropy");
  EXPECT_EQ(job->compile.metrics, nlohmann::json::array({"accuracy"}));
  EXPECT_EQ(job->compile.steps_per_execution, 33);
  EXPECT_EQ(job->compile.backend, "cpu");
  EXPECT_EQ(job->fit.epochs, 5);
  EXPECT_EQ(job->fit.batch_size, 128);
  EXPECT_FALSE(job->fit.shuffle);
  EXPECT_EQ(job->seed, 1u);
  ASSERT_EQ(job->callbacks.size(), 3u);
  EXPECT_EQ(job->callbacks[0]["class_name"], "TerminateOnNaN");
  EXPECT_TRUE(job->callbacks[0]["config"].is_object());
  EXPECT_EQ(job->callbacks[1]["config"]["patience"], 2);
  EXPECT_EQ(job->callbacks[2]["class_name"], "ReduceLROnPlateau");
  EXPECT_DOUBLE_EQ(job->callbacks[2]["config"]["factor"].get<double>(), 0.5);

  ASSERT_TRUE(job->train.has_value());
  const DataSource& x = job->train->x.sources[0].second;
  EXPECT_EQ(x.field, "data.train.x");
  EXPECT_EQ(x.path, "jobs/data/train-images-idx3-ubyte.gz");
  EXPECT_EQ(x.dtype, DType::kFloat32);
  EXPECT_DOUBLE_EQ(*x.scale, 1.0 / 255);
  EXPECT_EQ(*x.reshape, std::vector<int64_t>{784});
  EXPECT_EQ(*x.limit, 2000);
  EXPECT_EQ(*job->train->y.sources[0].second.limit, 2000);

  ASSERT_TRUE(job->validation.has_value());
  EXPECT_EQ(job->validation->x.sources[0].second.path, "/abs/val.npz");
  EXPECT_EQ(job->validation->x.sources[0].second.npz_key, "x");
  EXPECT_EQ(job->validation->y.sources[0].second.npz_key, "y");
  EXPECT_EQ(*job->validation->y.sources[0].second.limit, 10);

  ASSERT_TRUE(job->test.has_value());
  EXPECT_TRUE(job->test->x.by_name);
  ASSERT_EQ(job->test->x.sources.size(), 2u);
  EXPECT_EQ(job->test->x.sources[1].first, "aux");
  EXPECT_EQ(job->test->x.sources[1].second.field, "data.test.x.aux");
  EXPECT_FALSE(job->test->y.by_name);
  EXPECT_EQ(job->test->y.sources[1].second.field, "data.test.y[1]");
}

TEST(JobFileTest, DefaultsMatchKeras) {
  absl::StatusOr<JobSpec> job =
      ParseJobYaml("model: m.json\ncompile: {loss: mse}\n", "j.yaml", ".");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->fit.epochs, 1);
  EXPECT_EQ(job->fit.batch_size, 32);
  EXPECT_TRUE(job->fit.shuffle);
  EXPECT_EQ(job->compile.optimizer, "rmsprop");
  EXPECT_EQ(job->compile.steps_per_execution, 1);
  EXPECT_FALSE(job->train.has_value());
}

TEST(JobFileTest, ArchiveModelsMakeCompileOptional) {
  // The archive's compile_config is the default: no section, or only some keys.
  absl::StatusOr<JobSpec> bare = ParseJobYaml("model: m.keras\n", "j.yaml", ".");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_TRUE(bare->compile_keys.empty());
  EXPECT_TRUE(bare->compile.loss.is_null());
  absl::StatusOr<JobSpec> some = ParseJobYaml(
      "model: old.h5\ncompile: {optimizer: sgd, steps_per_execution: 2}\n", "j.yaml", ".");
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(some->compile_keys, (std::vector<std::string>{"optimizer", "steps_per_execution"}));
  EXPECT_EQ(some->compile.optimizer, "sgd");
  EXPECT_TRUE(some->compile.loss.is_null());
  EXPECT_TRUE(IsModelArchive("a/b.keras"));
  EXPECT_TRUE(IsModelArchive("b.h5"));
  EXPECT_FALSE(IsModelArchive("model.json"));
  // A model JSON has no compile_config: its job still needs compile.loss.
  absl::StatusOr<JobSpec> json_model =
      ParseJobYaml("model: m.json\ncompile: {optimizer: sgd}\n", "j.yaml", ".");
  EXPECT_THAT(std::string(json_model.status().message()),
              testing::HasSubstr("j.yaml: compile.loss: required"));
}

struct BadCase {
  const char* yaml;
  const char* message;
};

class JobFileErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(JobFileErrorTest, GivesOnePreciseMessage) {
  absl::StatusOr<JobSpec> job = ParseJobYaml(GetParam().yaml, "job.yaml", ".");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(job.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JobFileErrorTest,
    ::testing::Values(
        BadCase{"model: m.json\ncompile: {loss: mse}\nfit: {batch_size: abc}\n",
                "job.yaml: fit.batch_size: expected a positive integer, got 'abc'"},
        BadCase{"model: m.json\ncompile: {loss: mse}\nfit: {epochs: 0}\n",
                "job.yaml: fit.epochs: expected a positive integer, got '0'"},
        BadCase{"model: m.json\ncompile: {loss: mse}\nfit: {epochs: '3'}\n",
                "job.yaml: fit.epochs: expected a positive integer, got '3'"},
        BadCase{"model: m.json\ncompile: {loss: mse}\nfit: {validation_split: 1.5}\n",
                "job.yaml: fit.validation_split: expected a number in [0, 1), got '1.5'"},
        BadCase{"model: m.json\ncompile: {loss: mse}\nfit: {shuffle: maybe}\n",
                "job.yaml: fit.shuffle: expected true or false, got 'maybe'"},
        BadCase{"model: m.json\ncompile: {loss: mse}\nfit: {epoch: 3}\n",
                "job.yaml: fit.epoch: unknown field; expected one of epochs, batch_size"},
        BadCase{"model: m.json\ncompile: {loss: mse}\nmodle: x\n",
                "job.yaml: modle: unknown field; expected one of model, compile"},
        BadCase{"compile: {loss: mse}\n", "job.yaml: model: required"},
        BadCase{"model: m.json\n", "job.yaml: compile: required"},
        BadCase{"model: m.json\ncompile: {optimizer: adam}\n", "job.yaml: compile.loss: required"},
        BadCase{"model: m.json\ncompile: {loss: mse, optimizer: {learning_rate: 1}}\n",
                "job.yaml: compile.optimizer: expected an optimizer name"},
        BadCase{"model: m.json\ncompile: {loss: mse, steps_per_execution: -1}\n",
                "job.yaml: compile.steps_per_execution: expected a positive integer, got '-1'"},
        BadCase{"model: m.json\ncompile: {loss: mse}\nfit: {callbacks: [{config: {}}]}\n",
                "job.yaml: fit.callbacks[0]: missing class_name"},
        BadCase{"model: m.json\ncompile: {loss: mse}\ndata: {train: {x: a.npy}}\n",
                "job.yaml: data.train.y: required"},
        BadCase{"model: m.json\ncompile: {loss: mse}\ndata: {train: {x: {path: a.npy, "
                "dtype: float64}, y: b.npy}}\n",
                "job.yaml: data.train.x.dtype: unknown dtype 'float64'"},
        BadCase{"model: m.json\ncompile: {loss: mse}\ndata: {train: {x: {path: a.npy, "
                "reshape: 784}, y: b.npy}}\n",
                "job.yaml: data.train.x.reshape: expected a list of dimensions"},
        BadCase{"model: m.json\ncompile: {loss: mse}\ndata: {train: {x: {path: a.npy, "
                "reshape: [-1, -1]}, y: b.npy}}\n",
                "job.yaml: data.train.x.reshape: at most one dimension may be -1"},
        BadCase{"model: m.json\ncompile: {loss: mse}\ndata: {train: {x: {path: a.npy, "
                "scael: 2}, y: b.npy}}\n",
                "job.yaml: data.train.x.scael: unknown field"},
        BadCase{"model: m.json\ncompile: {loss: mse}\nfit: {validation_split: 0.1}\n"
                "data: {validation: {x: a.npy, y: b.npy}}\n",
                "job.yaml: data.validation: set either data.validation or fit.validation_split"},
        BadCase{"model: m.json\ncompile: {loss: mse\nfit: {}\n", "job.yaml:3:4: malformed YAML"},
        BadCase{"- just\n- a list\n", "job.yaml: expected a map with model"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      return "Case" + std::to_string(info.index);
    });

TEST(JobFileTest, MissingJobFileIsNotFound) {
  absl::StatusOr<JobSpec> job = ParseJobFile("/nonexistent/job.yaml");
  EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(job.status().message()),
              HasSubstr("/nonexistent/job.yaml: no such file"));
}

// The service's rule for the files callbacks write (the worker runs a job in
// its own directory); `fornax train` does not apply it.
TEST(JobFileTest, CallbackFilesMustStayInTheJobDir) {
  auto check = [](const std::string& callbacks) {
    absl::StatusOr<JobSpec> job =
        ParseJobYaml("model: m.json\ncompile: {loss: mse}\nfit: {callbacks: " + callbacks + "}\n",
                     "job.yaml", "/jobs/a");
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return job.status();
    absl::StatusOr<std::vector<std::unique_ptr<Callback>>> built = BuildJobCallbacks(*job);
    EXPECT_TRUE(built.ok()) << built.status();
    return built.ok() ? CheckCallbackFilesStayInJobDir(*job, *built) : built.status();
  };
  for (const char* ok :
       {"[{CSVLogger: {filename: log.csv}}]", "[{CSVLogger: {filename: ./logs/log.csv}}]",
        "[TerminateOnNaN, {CSVLogger: {filename: logs/run..1.csv}}]",
        "[{class_name: ModelCheckpoint, config: {filepath: 'c-{epoch:02d}.keras'}}]"}) {
    EXPECT_TRUE(check(ok).ok()) << ok << ": " << check(ok);
  }
  const std::pair<const char*, const char*> bad[] = {
      {"[{CSVLogger: {filename: /tmp/log.csv}}]",
       "job.yaml: fit.callbacks[0] (CSVLogger): filename: expected a relative path inside the "
       "job's directory, got '/tmp/log.csv' (is absolute)"},
      {"[TerminateOnNaN, {class_name: CSVLogger, config: {filename: logs/../../log.csv}}]",
       "job.yaml: fit.callbacks[1] (CSVLogger): filename: expected a relative path inside the "
       "job's directory, got 'logs/../../log.csv' (has a '..' part)"},
      {"[{CSVLogger: {filename: logs/./log.csv}}]",
       "job.yaml: fit.callbacks[0] (CSVLogger): filename: expected a relative path inside the "
       "job's directory, got 'logs/./log.csv' (has a '.' part)"},
      {"[{CSVLogger: {filename: ./../log.csv}}]",
       "job.yaml: fit.callbacks[0] (CSVLogger): filename: expected a relative path inside the "
       "job's directory, got './../log.csv' (has a '..' part)"},
      {"[{CSVLogger: {filename: 'logs\\log.csv'}}]",
       "job.yaml: fit.callbacks[0] (CSVLogger): filename: expected a relative path inside the "
       "job's directory, got 'logs\\\\log.csv' (has a backslash at byte 4)"},
      {"[{ModelCheckpoint: {filepath: '../m-{epoch}.keras'}}]",
       "job.yaml: fit.callbacks[0] (ModelCheckpoint): filepath: expected a relative path inside "
       "the job's directory, got '../m-{epoch}.keras' (has a '..' part)"},
  };
  for (const auto& [callbacks, message] : bad) {
    absl::Status status = check(callbacks);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << callbacks;
    EXPECT_EQ(std::string(status.message()), message);
  }
}

TEST(JobFileTest, InputFilePathsAreInputsShaName) {
  const std::string sha(64, 'a');
  const std::string prefix = "inputs/" + sha + "/";
  EXPECT_TRUE(CheckInputFilePath(prefix + "a..b.npy", sha).ok());
  const std::pair<std::string, std::string> bad[] = {
      {"files/log.csv", "not three parts under inputs/"},
      {prefix + "sub/x.npy", "not three parts under inputs/"},
      {"inputs/" + std::string(64, 'b') + "/x.npy", "its second part is not the input's sha256"},
      {prefix + "../x.npy", "has a '..' part"},
      {prefix, "has an empty part ('//' or a final '/')"},
  };
  for (const auto& [path, why] : bad) {
    absl::Status status = CheckInputFilePath(path, sha);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(std::string(status.message()),
              "expected inputs/<sha256>/<name> with the input's sha256, got '" + path + "' (" +
                  why + ")");
  }
}

}  // namespace
}  // namespace fornax

namespace fornax {
namespace {

// Odd documents of every shape: each must come back as a Status, never a crash.
TEST(JobFileTest, OddDocumentsNeverCrash) {
  const char* docs[] = {
      "",
      "~",
      "[]",
      "42",
      "model: [1, 2]",
      "model: {a: b}",
      "model: m\ncompile: []",
      "model: m\ncompile: {loss: x}\nfit: [1]",
      "model: m\ncompile: {loss: x}\ndata: 3",
      "model: m\ncompile: {loss: x}\ndata: {train: []}",
      "model: m\ncompile: {loss: x}\ndata: {train: {x: [], y: {}}}",
      "model: m\ncompile: {loss: x}\ndata: {train: {x: {a: [1]}, y: {path: [1]}}}",
      "model: m\ncompile: {loss: x}\ndata: {train: {x: {path: a, reshape: [[1]]}, y: b}}",
      "model: m\ncompile: {loss: x, optimizer: [adam]}",
      "model: &a m\ncompile: {loss: *a}",
      "model: m\ncompile: {loss: x}\nfit: {callbacks: [[1], {a: 1, b: 2}]}",
      "model: m\ncompile: {loss: x}\nfit: {callbacks: {x: 1}}",
      "model: m\ncompile: {loss: x}\nfit: {callbacks: [{CSVLogger: [1]}, {CSVLogger: 2}]}",
      "model: m\ncompile: {loss: x}\nfit: {callbacks: [{class_name: {a: 1}, config: {}}]}",
      "{? [a]: b}",
      "!!binary x",
      "model: m\ncompile: {loss: x}\nfit: {epochs: 99999999999999999999999}",
  };
  for (const char* doc : docs) {
    absl::StatusOr<JobSpec> job = ParseJobYaml(doc, "odd.yaml", ".");
    absl::StatusOr<std::vector<std::unique_ptr<Callback>>> callbacks =
        job.ok() ? BuildJobCallbacks(*job) : job.status();
    const absl::Status status =
        callbacks.ok() ? CheckCallbackFilesStayInJobDir(*job, *callbacks) : callbacks.status();
    if (!status.ok()) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << doc;
      EXPECT_THAT(std::string(status.message()), ::testing::StartsWith("odd.yaml")) << doc;
    }
  }
}

}  // namespace
}  // namespace fornax
