// ModelRepository: latest version served, new versions and models picked up
// by polling, corrupt versions reported without stopping others, removal,
// explicit unload/load (refused in mode none), models loading independently,
// the index rows of versions that stopped serving (and of models never
// loaded) and of versions loading, reloads when a labels file changes. A
// fake loader stands in for .keras loading: a model.keras whose text is
// "corrupt" fails to load.
#include "server/inference/model_repository.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/inference/classification.h"

namespace fornax::serving {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            absl::StrCat("fornax_repo_test_", ::getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& model, int version, const std::string& text) {
    const fs::path dir = root_ / model / std::to_string(version);
    fs::create_directories(dir);
    std::ofstream(dir / "model.keras") << text;
  }

  ModelRepository::Loader FakeLoader() {
    return [this](const std::string& name, int64_t version,
                  const std::string& dir) -> absl::StatusOr<std::shared_ptr<ServedModel>> {
      ++loads_;
      std::ifstream in(fs::path(dir) / std::to_string(version) / "model.keras");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text == "corrupt") return absl::InvalidArgumentError("not a zip archive");
      if (text.starts_with("error:")) return absl::InvalidArgumentError(text.substr(6));
      auto model = std::make_shared<ServedModel>();
      model->name = name;
      model->version = version;
      return model;
    };
  }

  static std::string Describe(const std::vector<ModelIndexEntry>& index) {
    std::string out;
    for (const ModelIndexEntry& e : index) {
      absl::StrAppend(&out, e.name, ":", e.version, ":", e.state, ":", e.reason, ";");
    }
    return out;
  }

  void WriteConfig(const std::string& model, const std::string& file, const std::string& text) {
    fs::create_directories(root_ / model);
    std::ofstream(root_ / model / file) << text;
  }

  fs::path root_;
  int loads_ = 0;
};

TEST_F(ModelRepositoryTest, ServesTheLatestVersionAndPicksUpNewOnes) {
  Write("mlp", 1, "a");
  Write("mlp", 2, "b");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  ASSERT_NE(repository.Find("mlp", ""), nullptr);
  EXPECT_EQ(repository.Find("mlp", "")->version, 2);
  EXPECT_NE(repository.Find("mlp", "2"), nullptr);
  EXPECT_EQ(repository.Find("mlp", "1"), nullptr);
  EXPECT_EQ(repository.Find("nope", ""), nullptr);
  repository.Poll();
  EXPECT_EQ(loads_, 1) << "an unchanged version is not reloaded";

  std::shared_ptr<ServedModel> old = repository.Find("mlp", "");
  Write("mlp", 10, "c");  // numeric order, not lexicographic
  Write("cnn", 1, "d");
  repository.Poll();
  EXPECT_EQ(repository.Find("mlp", "")->version, 10);
  EXPECT_EQ(repository.Find("cnn", "")->version, 1);
  EXPECT_EQ(old->version, 2) << "a request holding the old version keeps it";
  EXPECT_EQ(Describe(repository.Index()), "cnn:1:READY:;mlp:2:UNAVAILABLE:unloaded;mlp:10:READY:;")
      << "version 1 never served, so it is not listed (as in Triton)";
}

TEST_F(ModelRepositoryTest, ChangingConfigPbtxtReloads) {
  Write("mlp", 1, "a");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  std::ofstream(root_ / "mlp" / "config.pbtxt") << "max_batch_size: 8";
  repository.Poll();
  EXPECT_EQ(loads_, 2) << "a new config.pbtxt reloads the model";
}

// The labels files config.pbtxt names are config too: a change reloads, and
// a missing one (the load fails) is retried once it appears.
TEST_F(ModelRepositoryTest, ChangingALabelsFileReloads) {
  Write("mlp", 1, "a");
  WriteConfig("mlp", "config.pbtxt",
              "max_batch_size: 8 output [ { name: \"y\" label_filename: \"labels.txt\" } ]");
  // The fake loader with the labels, read as LoadServedModel reads them.
  const auto loader = [this](
                          const std::string& name, int64_t version,
                          const std::string& dir) -> absl::StatusOr<std::shared_ptr<ServedModel>> {
    absl::StatusOr<std::shared_ptr<ServedModel>> model = FakeLoader()(name, version, dir);
    absl::StatusOr<ModelSettings> settings = ReadModelSettings(dir);
    if (!settings.ok()) return settings.status();
    absl::StatusOr<std::map<std::string, ClassLabels>> labels = ReadClassLabels(*settings);
    if (!labels.ok()) return labels.status();
    (*model)->signature.labels = *std::move(labels);
    return model;
  };
  const auto labels = [](const std::shared_ptr<ServedModel>& model) {
    return model == nullptr ? std::vector<std::string>{"not serving"}
                            : model->signature.labels.at("y").labels;
  };
  ModelRepository repository(root_.string(), loader);
  repository.Poll();
  const std::string path = (root_ / "mlp" / "labels.txt").string();
  EXPECT_EQ(Describe(repository.Index()),
            absl::StrCat("mlp:1:UNAVAILABLE:version 1: ", (root_ / "mlp" / "config.pbtxt").string(),
                         ": output 'y'.label_filename: ", path, ": no such file;"));
  repository.Poll();
  EXPECT_EQ(loads_, 1) << "not retried while the labels file is still missing";

  WriteConfig("mlp", "labels.txt", "cat\ndog\n");
  repository.Poll();
  EXPECT_EQ(labels(repository.Find("mlp", "")), (std::vector<std::string>{"cat", "dog"}));
  repository.Poll();
  EXPECT_EQ(loads_, 2) << "an unchanged labels file is not read again";

  WriteConfig("mlp", "labels.txt", "cat\ndog\nbird\n");
  repository.Poll();
  EXPECT_EQ(loads_, 3);
  EXPECT_EQ(labels(repository.Find("mlp", "")), (std::vector<std::string>{"cat", "dog", "bird"}));

  // Removed: the load fails, and the version loaded before keeps serving.
  fs::remove(path);
  repository.Poll();
  EXPECT_EQ(labels(repository.Find("mlp", "")), (std::vector<std::string>{"cat", "dog", "bird"}));
  EXPECT_EQ(Describe(repository.Index()),
            absl::StrCat("mlp:1:READY:;mlp:1:UNAVAILABLE:version 1: ",
                         (root_ / "mlp" / "config.pbtxt").string(),
                         ": output 'y'.label_filename: ", path, ": no such file;"));
}

TEST_F(ModelRepositoryTest, AVersionIsNamedAsTheLoaderNamesItsDirectory) {
  Write("mlp", 1, "a");
  for (const char* name : {"02", "+3", "0"}) {  // the loader would read 2/, 3/, 0/
    fs::create_directories(root_ / "mlp" / name);
    std::ofstream(root_ / "mlp" / name / "model.keras") << "x";
  }
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()), "mlp:1:READY:;");
  EXPECT_EQ(repository.Find("mlp", "")->version, 1);
  EXPECT_NE(repository.Find("mlp", "1"), nullptr);
  for (const char* version : {"01", "+1", " 1", "1 ", "0", "-1", "1x", "99999999999999999999"}) {
    EXPECT_EQ(repository.Find("mlp", version), nullptr) << version;
  }
}

TEST_F(ModelRepositoryTest, LatestNServesSeveralVersionsAtOnce) {
  WriteConfig("mlp", "config.json", R"({"version_policy": {"latest": {"num_versions": 2}}})");
  Write("mlp", 1, "a");
  Write("mlp", 2, "b");
  Write("mlp", 3, "c");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()), "mlp:2:READY:;mlp:3:READY:;");
  EXPECT_EQ(loads_, 2) << "version 1 is not selected, so not loaded";
  EXPECT_EQ(repository.Find("mlp", "")->version, 3) << "no version asked: the highest";
  ASSERT_NE(repository.Find("mlp", "2"), nullptr);
  EXPECT_EQ(repository.Find("mlp", "2")->version, 2);
  EXPECT_EQ(repository.Find("mlp", "1"), nullptr);
  EXPECT_EQ(repository.Find("mlp", "02"), nullptr);
  absl::StatusOr<std::shared_ptr<ServedModel>> one = repository.Lookup("mlp", "1");
  EXPECT_EQ(one.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(one.status().message(),
            "model 'mlp' version '1' is not served; the serving versions are 2, 3");
  EXPECT_EQ(repository.Serving("mlp").size(), 2u);
  EXPECT_EQ(repository.Ready().size(), 2u);

  std::shared_ptr<ServedModel> two = repository.Find("mlp", "2");
  Write("mlp", 4, "d");
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()), "mlp:2:UNAVAILABLE:unloaded;mlp:3:READY:;mlp:4:READY:;");
  EXPECT_EQ(repository.Find("mlp", "2"), nullptr) << "no grace: version 2 goes at once";
  EXPECT_EQ(two->version, 2) << "a request holding version 2 keeps it";
  EXPECT_EQ(loads_, 3) << "version 3 keeps serving without a reload";
}

TEST_F(ModelRepositoryTest, SpecificAndAllPoliciesFromConfigPbtxt) {
  WriteConfig("mlp", "config.pbtxt",
              "max_batch_size: 8 version_policy { specific { versions: [ 1, 3 ] } }");
  Write("mlp", 1, "a");
  Write("mlp", 2, "b");
  Write("mlp", 3, "c");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()), "mlp:1:READY:;mlp:3:READY:;");
  EXPECT_EQ(repository.Find("mlp", "2"), nullptr);

  WriteConfig("mlp", "config.pbtxt", "max_batch_size: 8 version_policy { all { } }");
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()), "mlp:1:READY:;mlp:2:READY:;mlp:3:READY:;");

  WriteConfig("mlp", "config.pbtxt",
              "max_batch_size: 8 version_policy { specific { versions: [ 7 ] } }");
  repository.Poll();
  EXPECT_EQ(repository.Find("mlp", ""), nullptr);
  EXPECT_EQ(Describe(repository.Index()),
            "mlp::UNAVAILABLE:version_policy selects none of the versions present (1, 2, 3);"
            "mlp:1:UNAVAILABLE:unloaded;mlp:2:UNAVAILABLE:unloaded;mlp:3:UNAVAILABLE:unloaded;");
  EXPECT_EQ(repository.Lookup("mlp", "").status().message(),
            "model 'mlp' is not ready: version_policy selects none of the versions present "
            "(1, 2, 3)");
  EXPECT_EQ(repository.Lookup("ghost", "").status().message(),
            absl::StrCat("unknown model 'ghost' (not in the repository ", root_.string(), ")"));
}

// A selected version that fails leaves the one it would replace serving.
TEST_F(ModelRepositoryTest, AFailedSelectedVersionKeepsTheOneItWouldReplace) {
  WriteConfig("mlp", "config.json", R"({"version_policy": {"latest": {"num_versions": 2}}})");
  Write("mlp", 1, "a");
  Write("mlp", 2, "b");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  Write("mlp", 3, "corrupt");
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()),
            "mlp:1:READY:;mlp:2:READY:;mlp:3:UNAVAILABLE:version 3: not a zip archive;");
  EXPECT_EQ(repository.Find("mlp", "")->version, 2);
  Write("mlp", 3, "fixed");
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()), "mlp:1:UNAVAILABLE:unloaded;mlp:2:READY:;mlp:3:READY:;");
}

TEST_F(ModelRepositoryTest, AnUnselectedVersionAnswersByNumberDuringTheGrace) {
  Write("mlp", 1, "a");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.SetOldVersionGrace(std::chrono::hours(1));
  repository.Poll();
  Write("mlp", 2, "b");
  repository.Poll();
  EXPECT_EQ(repository.Find("mlp", "")->version, 2);
  ASSERT_NE(repository.Find("mlp", "1"), nullptr) << "within the grace";
  EXPECT_EQ(repository.Find("mlp", "1")->version, 1);
  EXPECT_EQ(Describe(repository.Index()), "mlp:1:UNLOADING:;mlp:2:READY:;")
      << "going, not served: Triton's state while a version's requests finish";
  repository.SetOldVersionGrace(std::chrono::milliseconds(0));
  Write("mlp", 3, "c");
  repository.Poll();
  EXPECT_EQ(repository.Find("mlp", "2"), nullptr) << "no grace now";
  EXPECT_NE(repository.Find("mlp", "1"), nullptr) << "still within its own grace";
  EXPECT_EQ(Describe(repository.Index()),
            "mlp:1:UNLOADING:;mlp:2:UNAVAILABLE:unloaded;mlp:3:READY:;");
}

TEST_F(ModelRepositoryTest, ACorruptModelIsReportedAndOthersServe) {
  Write("good", 1, "ok");
  Write("bad", 1, "corrupt");
  fs::create_directories(root_ / "empty");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  EXPECT_NE(repository.Find("good", ""), nullptr);
  EXPECT_EQ(repository.Find("bad", ""), nullptr);
  EXPECT_EQ(Describe(repository.Index()),
            "bad:1:UNAVAILABLE:version 1: not a zip archive;"
            "empty::UNAVAILABLE:no version directory with a model.keras "
            "(empty/<version>/model.keras);"
            "good:1:READY:;");
  const int loads = loads_;
  repository.Poll();
  EXPECT_EQ(loads_, loads) << "a failed file is not retried until it changes";

  Write("bad", 1, "fixed now");
  repository.Poll();
  EXPECT_NE(repository.Find("bad", ""), nullptr);
}

TEST_F(ModelRepositoryTest, ABadNewVersionKeepsThePreviousOneServing) {
  Write("mlp", 1, "ok");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  Write("mlp", 2, "corrupt");
  repository.Poll();
  ASSERT_NE(repository.Find("mlp", ""), nullptr);
  EXPECT_EQ(repository.Find("mlp", "")->version, 1);
  EXPECT_EQ(Describe(repository.Index()),
            "mlp:1:READY:;mlp:2:UNAVAILABLE:version 2: not a zip archive;");
}

TEST_F(ModelRepositoryTest, ARemovedModelIsUnloaded) {
  Write("a", 1, "ok");
  Write("b", 1, "ok");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  fs::remove_all(root_ / "a");
  repository.Poll();
  EXPECT_EQ(repository.Find("a", ""), nullptr);
  EXPECT_NE(repository.Find("b", ""), nullptr);
  EXPECT_EQ(Describe(repository.Index()), "b:1:READY:;");
}

TEST_F(ModelRepositoryTest, ExplicitUnloadHoldsUntilLoad) {
  Write("mlp", 1, "ok");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  ASSERT_TRUE(repository.Unload("mlp").ok());
  repository.Poll();
  EXPECT_EQ(repository.Find("mlp", ""), nullptr) << "polling does not undo an unload";
  EXPECT_EQ(Describe(repository.Index()), "mlp:1:UNAVAILABLE:unloaded;");
  ASSERT_TRUE(repository.Load("mlp").ok());
  EXPECT_NE(repository.Find("mlp", ""), nullptr);
  EXPECT_EQ(Describe(repository.Index()), "mlp:1:READY:;");

  absl::Status missing = repository.Load("ghost");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(),
            absl::StrCat("model 'ghost' is not in the repository ", root_.string()));
  EXPECT_EQ(repository.Load("../etc").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repository.Unload("ghost").code(), absl::StatusCode::kNotFound);

  Write("bad", 1, "corrupt");
  absl::Status bad = repository.Load("bad");
  EXPECT_EQ(bad.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(bad.message(), "model 'bad' version 1: not a zip archive");
}

// Before any poll (explicit mode): a model is in the index from the start,
// with only its name (as Triton lists a model never loaded), and unloading
// it is a success.
TEST_F(ModelRepositoryTest, ModelsNeverLoadedAreListedByNameOnly) {
  Write("mlp", 1, "ok");
  Write("cnn", 1, "ok");
  ModelRepository repository(root_.string(), FakeLoader());
  EXPECT_EQ(Describe(repository.Index()), "cnn:::;mlp:::;");
  ASSERT_TRUE(repository.Load("mlp").ok());
  EXPECT_EQ(Describe(repository.Index()), "cnn:::;mlp:1:READY:;");
  ASSERT_TRUE(repository.Unload("cnn").ok());
  EXPECT_EQ(loads_, 1);
  EXPECT_EQ(Describe(repository.Index()), "cnn::UNAVAILABLE:unloaded;mlp:1:READY:;");
  EXPECT_EQ(repository.Unload("ghost").code(), absl::StatusCode::kNotFound);
}

// As Triton: every version that served and was unloaded is listed
// UNAVAILABLE "unloaded" (never the versions that never loaded); a model
// none of whose versions served is listed "unloaded" as a whole.
TEST_F(ModelRepositoryTest, UnloadListsEachVersionThatServedAsUnloaded) {
  WriteConfig("mlp", "config.json", R"({"version_policy": {"latest": {"num_versions": 2}}})");
  Write("mlp", 1, "a");
  Write("mlp", 2, "b");
  Write("mlp", 3, "c");
  Write("bad", 1, "corrupt");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  ASSERT_TRUE(repository.Unload("mlp").ok());
  ASSERT_TRUE(repository.Unload("bad").ok());
  EXPECT_EQ(Describe(repository.Index()),
            "bad::UNAVAILABLE:unloaded;mlp:2:UNAVAILABLE:unloaded;mlp:3:UNAVAILABLE:unloaded;");
  EXPECT_EQ(repository.Lookup("mlp", "").status().message(), "model 'mlp' is not ready: unloaded");
  EXPECT_EQ(repository.Lookup("bad", "").status().message(), "model 'bad' is not ready: unloaded");

  // Loaded again under a policy that keeps only version 3: version 2 stays
  // listed as unloaded, version 3 is READY again.
  WriteConfig("mlp", "config.json", R"({"version_policy": {"specific": {"versions": [3]}}})");
  ASSERT_TRUE(repository.Load("mlp").ok());
  EXPECT_EQ(Describe(repository.Index()),
            "bad::UNAVAILABLE:unloaded;mlp:2:UNAVAILABLE:unloaded;mlp:3:READY:;");
  // A retired version that fails when selected again shows its failure.
  Write("mlp", 2, "corrupt");
  WriteConfig("mlp", "config.json", R"({"version_policy": {"all": {}}})");
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()),
            "bad::UNAVAILABLE:unloaded;mlp:1:READY:;"
            "mlp:2:UNAVAILABLE:version 2: not a zip archive;mlp:3:READY:;");
}

// Index rows go into proto3 string fields, which tritonclient refuses to
// parse unless they are UTF-8: bytes that are not (from a config.pbtxt
// string such as name: "m\377", or a directory name) are written as \xNN,
// and valid UTF-8 (an accented letter, an emoji) is kept.
TEST_F(ModelRepositoryTest, IndexRowsAreValidUtf8) {
  Write("bad", 1, "error:name 'm\xff' \xc3\xa9 \xf0\x9f\x98\x80 \xed\xa0\x80 \xc3");
  Write("m\xfe", 1, "ok");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  EXPECT_EQ(Describe(repository.Index()),
            "bad:1:UNAVAILABLE:version 1: name 'm\\xff' \xc3\xa9 \xf0\x9f\x98\x80 "
            "\\xed\\xa0\\x80 \\xc3;"
            "m\\xfe:1:READY:;");
  EXPECT_EQ(repository.Load("bad").message(),
            "model 'bad' version 1: name 'm\\xff' \xc3\xa9 \xf0\x9f\x98\x80 \\xed\\xa0\\x80 "
            "\\xc3");
}

// One model's slow load (the loader blocks until released) holds up no
// other model's unload or load.
TEST_F(ModelRepositoryTest, ASlowLoadHoldsUpNoOtherModel) {
  Write("a", 1, "ok");
  Write("b", 1, "ok");
  Write("c", 1, "ok");
  std::promise<void> b_loading;
  std::promise<void> release_b;
  std::shared_future<void> released = release_b.get_future().share();
  ModelRepository::Loader fake = FakeLoader();
  ModelRepository repository(root_.string(),
                             [&](const std::string& name, int64_t version, const std::string& dir) {
                               if (name == "b") {
                                 b_loading.set_value();
                                 released.wait();
                               }
                               return fake(name, version, dir);
                             });
  ASSERT_TRUE(repository.Load("a").ok());
  std::future<absl::Status> b =
      std::async(std::launch::async, [&] { return repository.Load("b"); });
  b_loading.get_future().wait();
  std::future<absl::Status> others = std::async(std::launch::async, [&] {
    absl::Status status = repository.Unload("a");
    return status.ok() ? repository.Load("c") : status;
  });
  const bool others_done = others.wait_for(10s) == std::future_status::ready;
  const bool b_held = b.wait_for(0s) == std::future_status::timeout;
  const bool a_gone = repository.Find("a", "") == nullptr;
  const bool c_served = repository.Find("c", "") != nullptr;
  release_b.set_value();  // before any check can end the test with b held
  EXPECT_TRUE(others_done) << "a's unload or c's load waited for b's load";
  EXPECT_TRUE(b_held);
  EXPECT_TRUE(a_gone);
  EXPECT_TRUE(c_served);
  EXPECT_TRUE(others.get().ok());
  EXPECT_TRUE(b.get().ok());
  EXPECT_NE(repository.Find("b", ""), nullptr);
}

// While a version loads (the loader blocks until released, mu_ released),
// its row is LOADING and a request to it says so (UNAVAILABLE, as Triton);
// a newer version loading beside a serving one changes nothing for
// requests to the serving one. The model starts unloaded: its "unloaded"
// row goes once it loads again.
TEST_F(ModelRepositoryTest, AVersionLoadingIsListedAndNamedInRequests) {
  Write("mlp", 1, "ok");
  std::promise<void> started[3];
  std::promise<void> release[3];
  std::shared_future<void> released[3];
  for (int v = 1; v <= 2; ++v) released[v] = release[v].get_future().share();
  ModelRepository::Loader fake = FakeLoader();
  ModelRepository repository(root_.string(),
                             [&](const std::string& name, int64_t version, const std::string& dir) {
                               started[version].set_value();
                               released[version].wait();
                               return fake(name, version, dir);
                             });
  ASSERT_TRUE(repository.Unload("mlp").ok());
  std::future<absl::Status> load =
      std::async(std::launch::async, [&] { return repository.Load("mlp"); });
  started[1].get_future().wait();
  const std::string first_rows = Describe(repository.Index());
  const absl::Status first_latest = repository.Lookup("mlp", "").status();
  const absl::Status first_v1 = repository.Lookup("mlp", "1").status();
  release[1].set_value();  // before any check can end the test with the load held
  EXPECT_EQ(first_rows, "mlp:1:LOADING:;");
  EXPECT_EQ(first_latest.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(first_latest.message()), "model 'mlp' version 1 is loading");
  EXPECT_EQ(first_v1, first_latest);
  ASSERT_TRUE(load.get().ok());

  Write("mlp", 2, "ok");
  std::future<void> poll = std::async(std::launch::async, [&] { repository.Poll(); });
  started[2].get_future().wait();
  const std::string rows = Describe(repository.Index());
  absl::StatusOr<std::shared_ptr<ServedModel>> latest = repository.Lookup("mlp", "");
  absl::StatusOr<std::shared_ptr<ServedModel>> v1 = repository.Lookup("mlp", "1");
  const absl::Status v2 = repository.Lookup("mlp", "2").status();
  release[2].set_value();
  EXPECT_EQ(rows, "mlp:1:READY:;mlp:2:LOADING:;");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ((*latest)->version, 1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ((*v1)->version, 1);
  EXPECT_EQ(v2.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(v2.message()), "model 'mlp' version 2 is loading");
  poll.get();
  EXPECT_EQ(repository.Find("mlp", "")->version, 2);
  EXPECT_EQ(Describe(repository.Index()), "mlp:1:UNAVAILABLE:unloaded;mlp:2:READY:;");
}

// Requests racing the swaps: with latest {num_versions: 2}, each new version
// loads (slowly, mu_ released) while the two before it serve, and replaces
// the oldest in one step, so a request always finds exactly two versions
// and the highest never goes back.
TEST_F(ModelRepositoryTest, RequestsSeeNoGapWhileSeveralVersionsSwap) {
  WriteConfig("mlp", "config.json", R"({"version_policy": {"latest": {"num_versions": 2}}})");
  Write("mlp", 1, "ok");
  Write("mlp", 2, "ok");
  ModelRepository::Loader fake = FakeLoader();
  ModelRepository repository(root_.string(),
                             [&](const std::string& name, int64_t version, const std::string& dir) {
                               std::this_thread::sleep_for(2ms);
                               return fake(name, version, dir);
                             });
  repository.Poll();
  std::atomic<bool> stop = false;
  std::future<std::string> reader = std::async(std::launch::async, [&]() -> std::string {
    int64_t highest = 0;
    int reads = 0;
    while (!stop) {
      absl::StatusOr<std::shared_ptr<ServedModel>> model = repository.Lookup("mlp", "");
      if (!model.ok()) return std::string(model.status().message());
      if ((*model)->version < highest) return absl::StrCat("version ", (*model)->version);
      highest = (*model)->version;
      const size_t serving = repository.Serving("mlp").size();
      if (serving != 2) return absl::StrCat(serving, " versions serving at v", highest);
      ++reads;
    }
    return reads > 0 ? "" : "no reads";
  });
  for (int version = 3; version <= 12; ++version) {
    Write("mlp", version, "ok");
    repository.Poll();
  }
  stop = true;
  EXPECT_EQ(reader.get(), "");
  const std::vector<std::shared_ptr<ServedModel>> serving = repository.Serving("mlp");
  ASSERT_EQ(serving.size(), 2u);
  EXPECT_EQ(serving[0]->version, 11);
  EXPECT_EQ(serving[1]->version, 12);
}

TEST_F(ModelRepositoryTest, ThePollerPicksUpANewVersionWithinTheInterval) {
  Write("mlp", 1, "ok");
  ModelRepository repository(root_.string(), FakeLoader());
  repository.Poll();
  repository.StartPolling(50ms);
  Write("mlp", 2, "ok");
  const auto start = std::chrono::steady_clock::now();
  while (repository.Find("mlp", "")->version != 2 &&
         std::chrono::steady_clock::now() - start < 5s) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(repository.Find("mlp", "")->version, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

}  // namespace
}  // namespace fornax::serving
