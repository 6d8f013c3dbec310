// SaveKerasArchive: Keras's class-name-to-group naming, the zip's members
// (order, stored uncompressed) and the compile_config Keras's compile()
// records. LoadKerasArchive: a bit-identical round trip, and precise errors
// for broken or hostile archives. That real Keras loads the archives is
// tests/interop's job.
#include "engine/archive/keras_archive.h"

#include <zip.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "engine/archive/keras_layout.h"
#include "engine/data/file_util.h"
#include "engine/data/test_files.h"
#include "engine/keras/callbacks/callback_state.h"
#include "engine/keras/optimizers/optimizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

TEST(KerasSnakeCaseTest, MatchesKerasNamingToSnakeCase) {
  EXPECT_EQ(KerasSnakeCase("Dense"), "dense");
  EXPECT_EQ(KerasSnakeCase("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(KerasSnakeCase("Conv2D"), "conv2d");
  EXPECT_EQ(KerasSnakeCase("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(KerasSnakeCase("InputLayer"), "input_layer");
  EXPECT_EQ(KerasSnakeCase("GlobalAveragePooling2D"), "global_average_pooling2d");
}

std::unique_ptr<Trainer> MlpTrainer(json optimizer) {
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::FromJsonFile(testing::SourceDir() + "/examples/fashion_mlp/model.json");
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return nullptr;
  CompileConfig compile;
  compile.optimizer = std::move(optimizer);
  compile.loss = "sparse_categorical_crossentropy";
  compile.metrics = json::array({"accuracy"});
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(*std::move(model), compile, 1);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  return trainer.ok() ? *std::move(trainer) : nullptr;
}

TEST(KerasArchiveTest, WritesThreeStoredMembersInKerasOrder) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("adam");
  ASSERT_NE(trainer, nullptr);
  const std::string path =
      (std::filesystem::temp_directory_path() / "fornax_archive_test.keras").string();
  ASSERT_TRUE(SaveKerasArchive(path, *trainer).ok());
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
  ASSERT_NE(zip, nullptr);
  ASSERT_EQ(zip_get_num_entries(zip, 0), 3);
  const std::vector<std::string> expected = {"metadata.json", "config.json", "model.weights.h5"};
  for (zip_uint64_t i = 0; i < 3; ++i) {
    zip_stat_t stat;
    ASSERT_EQ(zip_stat_index(zip, i, 0, &stat), 0);
    EXPECT_EQ(stat.name, expected[i]);
    EXPECT_EQ(stat.comp_method, ZIP_CM_STORE) << stat.name;
  }
  zip_close(zip);
  std::filesystem::remove(path);
}

TEST(KerasArchiveTest, CompileConfigIsWhatKerasCompileRecords) {
  std::unique_ptr<Trainer> trainer =
      MlpTrainer(json{{"class_name", "Adam"}, {"config", {{"learning_rate", 0.01}}}});
  ASSERT_NE(trainer, nullptr);
  absl::StatusOr<json> config = KerasArchiveConfig(*trainer);
  ASSERT_TRUE(config.ok()) << config.status();
  const json& compile = (*config)["compile_config"];
  std::vector<std::string> keys;
  for (const auto& [key, value] : compile.items()) keys.push_back(key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"jit_compile", "loss", "loss_weights", "metrics", "optimizer",
                                      "run_eagerly", "steps_per_execution", "weighted_metrics"}));
  const json& optimizer = compile["optimizer"];
  EXPECT_EQ(optimizer["module"], "keras.optimizers");
  EXPECT_EQ(optimizer["class_name"], "Adam");
  EXPECT_TRUE(optimizer["registered_name"].is_null());
  EXPECT_EQ(optimizer["config"]["name"], "adam");
  // The float32 variable's value, as Keras serializes it.
  EXPECT_EQ(optimizer["config"]["learning_rate"].get<double>(),
            static_cast<double>(static_cast<float>(0.01)));
  EXPECT_EQ(compile["loss"], "sparse_categorical_crossentropy");
  EXPECT_EQ((*config)["build_config"], json::parse(R"({"input_shape": [null, 784]})"));
}

TEST(KerasArchiveTest, UnwritableDestinationIsAnError) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("sgd");
  ASSERT_NE(trainer, nullptr);
  absl::Status status = SaveKerasArchive("/nonexistent_dir/x/model.keras", *trainer);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent_dir/x/model.keras"), std::string::npos) << status;
}

// Writes a zip with the given members (name -> bytes), stored.
void WriteZip(const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& members) {
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(zip, nullptr);
  for (const auto& [name, data] : members) {
    zip_source_t* source = zip_source_buffer(zip, data.data(), data.size(), 0);
    ASSERT_GE(zip_file_add(zip, name.c_str(), source, 0), 0);
  }
  ASSERT_EQ(zip_close(zip), 0);
}

std::string ReadMember(const std::string& path, const std::string& name) {
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
  zip_stat_t stat;
  zip_stat(zip, name.c_str(), 0, &stat);
  std::string data(stat.size, '\0');
  zip_file_t* file = zip_fopen(zip, name.c_str(), 0);
  zip_fread(file, data.data(), stat.size);
  zip_fclose(file);
  zip_discard(zip);
  return data;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / name).string();
}

std::string LoadError(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Trainer>> loaded = LoadKerasArchive(path, 0);
  return loaded.ok() ? "ok" : std::string(loaded.status().message());
}

TEST(KerasArchiveReaderTest, RoundTripRestoresWeightsAndOptimizerState) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("adam");
  ASSERT_NE(trainer, nullptr);
  Tensor x(DType::kFloat32, Shape{8, 784});
  Tensor y(DType::kInt32, Shape{8});
  for (int64_t i = 0; i < x.num_elements(); ++i)
    x.data<float>()[i] = static_cast<float>(i % 13) / 13;
  for (int64_t i = 0; i < 8; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i % 10);
  FitConfig fit;
  fit.batch_size = 4;
  ASSERT_TRUE(trainer->Fit(Dataset{{x}, {y}}, nullptr, fit, {}).ok());
  const std::string path = TempPath("fornax_roundtrip.keras");
  ASSERT_TRUE(SaveKerasArchive(path, *trainer).ok());
  absl::StatusOr<std::unique_ptr<Trainer>> loaded = LoadKerasArchive(path, 5);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->iterations(), 2);
  const VariableStore& a = trainer->variables();
  VariableStore& b = (*loaded)->variables();
  std::vector<int64_t> saved = trainer->optimizer().keras_variables();
  for (int64_t i = 0; i < a.size(); ++i) {
    if (a.info(i).kind == VariableKind::kWeight) saved.push_back(i);
  }
  int compared = 0;
  for (int64_t i : saved) {
    std::optional<int64_t> j = b.Find(a.info(i).path);
    ASSERT_TRUE(j.has_value()) << a.info(i).path;
    EXPECT_TRUE(a.value(i).BitwiseEquals(b.value(*j))) << a.info(i).path;
    ++compared;
  }
  EXPECT_EQ(compared, 6 + 2 + 12);  // 3 Dense x (kernel, bias); iteration, lr; Adam m and v
  std::filesystem::remove(path);
}

TEST(KerasArchiveReaderTest, NotAZipFile) {
  const std::string path = TempPath("fornax_not_zip.keras");
  { std::ofstream(path) << "{\"not\": \"a zip\"}"; }
  EXPECT_THAT(LoadError(path), ::testing::HasSubstr("not a readable .keras (zip) archive"));
  std::filesystem::remove(path);
}

TEST(KerasArchiveReaderTest, MissingMemberIsNamed) {
  const std::string path = TempPath("fornax_no_weights.keras");
  WriteZip(path, {{"metadata.json", "{}"}, {"config.json", "{}"}});
  EXPECT_THAT(LoadError(path), ::testing::HasSubstr("has no member 'model.weights.h5'"));
  std::filesystem::remove(path);
}

TEST(KerasArchiveReaderTest, PathTraversalNamesAreRefused) {
  const std::string path = TempPath("fornax_traversal.keras");
  const std::pair<std::string, std::string> refused[] = {
      {"../evil.txt",
       "member '../evil.txt' has a name that could point outside the archive's "
       "directory (has a '..' part); refusing the archive"},
      {"/etc/evil",
       "member '/etc/evil' has a name that could point outside the archive's "
       "directory (is absolute); refusing the archive"},
      {"assets/../../x", "(has a '..' part)"},
      {"a\\..\\b",
       "member 'a\\\\..\\\\b' has a name that could point outside the archive's "
       "directory (has a backslash at byte 1)"},
      {"assets/./x", "(has a '.' part)"},
      {"assets//x", "(has an empty part ('//' or a final '/'))"},
      {"x\nb",
       "member 'x\\nb' has a name that could point outside the archive's directory "
       "(has a control character (0x0a) at byte 1)"},
  };
  for (const auto& [name, message] : refused) {
    WriteZip(path, {{"config.json", "{}"}, {name, "x"}});
    EXPECT_THAT(LoadError(path), ::testing::HasSubstr(message)) << name;
  }
  // A directory entry ("assets/", as `zip -r` writes it) and a ':' are fine:
  // the archive fails later, for its missing weights.
  for (const std::string name : {"assets/", "a:b"}) {
    WriteZip(path, {{"config.json", "{}"}, {name, ""}});
    EXPECT_THAT(LoadError(path), ::testing::HasSubstr("has no member 'model.weights.h5'")) << name;
  }
  std::filesystem::remove(path);
}

TEST(KerasArchiveReaderTest, WeightsThatAreNotHdf5) {
  const std::string path = TempPath("fornax_bad_h5.keras");
  WriteZip(path, {{"config.json", "{}"}, {"model.weights.h5", "PK not hdf5 at all"}});
  EXPECT_THAT(LoadError(path), ::testing::HasSubstr("model.weights.h5: not an HDF5 file"));
  std::filesystem::remove(path);
}

TEST(KerasArchiveReaderTest, ShapeMismatchNamesGroupAndVariable) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("adam");
  ASSERT_NE(trainer, nullptr);
  const std::string good = TempPath("fornax_good.keras");
  ASSERT_TRUE(SaveKerasArchive(good, *trainer).ok());
  json config = json::parse(ReadMember(good, "config.json"));
  json& layers = config["config"]["layers"];
  layers[3]["config"]["units"] = 7;  // the output Dense: 10 -> 7 units
  const std::string bad = TempPath("fornax_mismatch.keras");
  WriteZip(bad, {{"config.json", config.dump()},
                 {"model.weights.h5", ReadMember(good, "model.weights.h5")}});
  const std::string message = LoadError(bad);
  EXPECT_THAT(message, ::testing::HasSubstr("layers/dense_2/vars/0"));
  EXPECT_THAT(message, ::testing::HasSubstr("expected shape"));
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

TEST(KerasArchiveReaderTest, HighlyCompressedMembersAreRefused) {
  const std::string path = TempPath("fornax_bomb.keras");
  // libzip deflates by default: 8 MiB of spaces store as a few KiB.
  WriteZip(path, {{"config.json", std::string(8 << 20, ' ')}, {"model.weights.h5", "x"}});
  const std::string message = LoadError(path);
  EXPECT_THAT(message, ::testing::HasSubstr("member 'config.json' declares 8388608 bytes"));
  EXPECT_THAT(message, ::testing::HasSubstr("refusing it"));
  std::filesystem::remove(path);
}

TEST(KerasArchiveReaderTest, TruncatedWeightsAndVariableCountMismatch) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("adam");
  ASSERT_NE(trainer, nullptr);
  const std::string good = TempPath("fornax_good2.keras");
  ASSERT_TRUE(SaveKerasArchive(good, *trainer).ok());
  const std::string config = ReadMember(good, "config.json");
  const std::string weights = ReadMember(good, "model.weights.h5");
  const std::string bad = TempPath("fornax_broken.keras");

  WriteZip(bad,
           {{"config.json", config}, {"model.weights.h5", weights.substr(0, weights.size() / 2)}});
  EXPECT_THAT(LoadError(bad), ::testing::HasSubstr("model.weights.h5"));
  EXPECT_NE(LoadError(bad), "ok");

  json no_bias = json::parse(config);
  no_bias["config"]["layers"][1]["config"]["use_bias"] = false;  // the first Dense
  WriteZip(bad, {{"config.json", no_bias.dump()}, {"model.weights.h5", weights}});
  const std::string message = LoadError(bad);
  EXPECT_THAT(message, ::testing::HasSubstr("layers/dense/vars"));
  EXPECT_THAT(message, ::testing::HasSubstr("expected 1 variables"));
  EXPECT_THAT(message, ::testing::HasSubstr("the file has 2"));
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

// A Fornax state whose tensors (bytes: NaN and -0 among them) go to
// fornax/tensors.bin, the way a job's checkpoint holds EarlyStopping's best
// weights and an epoch's metrics.
json TensorState() {
  const Tensor kernel = Tensor::FromFloats(
      Shape{2, 3},
      std::vector<float>{1.5f, -0.0f, std::numeric_limits<float>::quiet_NaN(), 4, 5, 6});
  return {{"metrics", {{"m/total", TensorStateJson(Tensor::Scalar(0.1f))}}},
          {"callbacks",
           json::array(
               {{{"class_name", "EarlyStopping"},
                 {"state",
                  {{"best", "3fb999999999999a"},
                   {"best_weights", json::array({TensorStateJson(kernel),
                                                 TensorStateJson(Tensor::Scalar(7.0f))})}}}}})}};
}

TEST(KerasArchiveReaderTest, FornaxStateTensorsRoundTripThroughTheirMember) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("adam");
  ASSERT_NE(trainer, nullptr);
  const std::string path = TempPath("fornax_tensors.keras");
  ASSERT_TRUE(SaveKerasArchive(path, *trainer, TensorState()).ok());
  // 24 + 4 + 4 bytes, in metadata.json's order (keys sorted: callbacks first).
  EXPECT_EQ(ReadMember(path, kFornaxTensorsMember).size(), 32u);
  const json metadata = json::parse(ReadMember(path, "metadata.json"));
  const json& reference = metadata["fornax"]["callbacks"][0]["state"]["best_weights"][0]["bytes"];
  EXPECT_EQ(reference["member"], kFornaxTensorsMember);
  EXPECT_EQ(reference["offset"], 0);
  EXPECT_EQ(reference["size"], 24);
  EXPECT_EQ(metadata["fornax"]["callbacks"][0]["state"]["best_weights"][0]["shape"],
            json::array({2, 3}));

  absl::StatusOr<KerasArchive> archive = ReadKerasArchive(path);
  ASSERT_TRUE(archive.ok()) << archive.status();
  EXPECT_EQ(archive->fornax_state, TensorState());  // binary values compare bytewise
  // No tensors, no member: the archive is the three members Keras writes.
  ASSERT_TRUE(SaveKerasArchive(path, *trainer, {{"callbacks", json::array()}}).ok());
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
  ASSERT_NE(zip, nullptr);
  EXPECT_EQ(zip_get_num_entries(zip, 0), 3);
  zip_discard(zip);
  std::filesystem::remove(path);
}

std::string ReadError(const std::string& path) {
  absl::StatusOr<KerasArchive> archive = ReadKerasArchive(path);
  return archive.ok() ? "ok" : std::string(archive.status().message());
}

TEST(KerasArchiveReaderTest, BrokenFornaxTensorsNameTheArchiveMemberAndField) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("adam");
  ASSERT_NE(trainer, nullptr);
  const std::string good = TempPath("fornax_tensors_good.keras");
  ASSERT_TRUE(SaveKerasArchive(good, *trainer, TensorState()).ok());
  const std::string metadata = ReadMember(good, "metadata.json");
  const std::string config = ReadMember(good, "config.json");
  const std::string weights = ReadMember(good, "model.weights.h5");
  const std::string tensors = ReadMember(good, kFornaxTensorsMember);
  const std::string bad = TempPath("fornax_tensors_bad.keras");
  const std::string kernel = "fornax.callbacks[0].state.best_weights[0].bytes";

  WriteZip(bad, {{"metadata.json", metadata},
                 {"config.json", config},
                 {"model.weights.h5", weights},
                 {kFornaxTensorsMember, tensors.substr(0, 20)}});
  std::string message = ReadError(bad);
  EXPECT_THAT(message, ::testing::StartsWith(bad + ": member 'fornax/tensors.bin' has 20 bytes"));
  EXPECT_THAT(message, ::testing::HasSubstr(kernel + " needs bytes [0, 24)"));

  WriteZip(bad,
           {{"metadata.json", metadata}, {"config.json", config}, {"model.weights.h5", weights}});
  EXPECT_THAT(ReadError(bad), ::testing::HasSubstr("'fornax/tensors.bin' has 0 bytes"));

  std::string flipped = tensors;
  flipped[9] ^= 1;
  WriteZip(bad, {{"metadata.json", metadata},
                 {"config.json", config},
                 {"model.weights.h5", weights},
                 {kFornaxTensorsMember, flipped}});
  message = ReadError(bad);
  EXPECT_THAT(message, ::testing::StartsWith(bad + ": member 'fornax/tensors.bin': bytes [0, 24)"));
  EXPECT_THAT(message, ::testing::HasSubstr(kernel + " have crc32 "));

  json broken = json::parse(metadata);
  broken["fornax"]["callbacks"][0]["state"]["best_weights"][0]["bytes"]["size"] = -1;
  WriteZip(bad, {{"metadata.json", broken.dump()},
                 {"config.json", config},
                 {"model.weights.h5", weights},
                 {kFornaxTensorsMember, tensors}});
  EXPECT_THAT(ReadError(bad), ::testing::HasSubstr(bad + ": metadata.json: " + kernel +
                                                   R"(: expected {"member", "offset", "size")"));

  json deep = json::array();
  for (int i = 0; i < 100; ++i) deep = json::array({deep});
  broken = json::parse(metadata);
  broken["fornax"]["deep"] = deep;
  WriteZip(bad, {{"metadata.json", broken.dump()},
                 {"config.json", config},
                 {"model.weights.h5", weights},
                 {kFornaxTensorsMember, tensors}});
  EXPECT_THAT(ReadError(bad), ::testing::HasSubstr("metadata.json: fornax.deep[0][0]"));
  EXPECT_THAT(ReadError(bad), ::testing::HasSubstr(": nested deeper than 64 levels"));

  // A byte changed in the file itself (libzip reads it without complaint).
  std::string file = ReadFileToString(good).value_or("");
  const size_t at = file.rfind(tensors);
  ASSERT_NE(at, std::string::npos);
  file[at + 9] ^= 1;
  std::ofstream(bad, std::ios::binary) << file;
  EXPECT_THAT(ReadError(bad),
              ::testing::StartsWith(
                  bad + ": member 'fornax/tensors.bin': bytes [0, 24) for metadata.json's " +
                  kernel + " have crc32 "));
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

TEST(KerasArchiveReaderTest, ConfigErrorsNameTheMemberAndClass) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("adam");
  ASSERT_NE(trainer, nullptr);
  const std::string good = TempPath("fornax_good3.keras");
  ASSERT_TRUE(SaveKerasArchive(good, *trainer).ok());
  const std::string config = ReadMember(good, "config.json");
  const std::string weights = ReadMember(good, "model.weights.h5");
  const std::string bad = TempPath("fornax_bad_config.keras");
  auto error_with = [&](const std::string& config_text) {
    WriteZip(bad, {{"config.json", config_text}, {"model.weights.h5", weights}});
    return LoadError(bad);
  };
  EXPECT_THAT(error_with(config.substr(0, config.size() / 2)),
              ::testing::HasSubstr(bad + ": config.json is not a JSON object"));
  json unknown_layer = json::parse(config);
  unknown_layer["config"]["layers"][1]["class_name"] = "FancyDense";
  EXPECT_THAT(error_with(unknown_layer.dump()),
              ::testing::AllOf(::testing::HasSubstr(bad + ": config.json"),
                               ::testing::HasSubstr("unknown layer class 'FancyDense'")));
  json unknown_optimizer = json::parse(config);
  unknown_optimizer["compile_config"]["optimizer"]["class_name"] = "Nadamax";
  EXPECT_THAT(
      error_with(unknown_optimizer.dump()),
      ::testing::HasSubstr(bad + ": compile_config: optimizer: unknown optimizer 'Nadamax'"));
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

TEST(KerasArchiveReaderTest, TraversalMembersAreNeverWritten) {
  // The reader keeps members in memory: a refused (or accepted) archive
  // leaves nothing next to it or above it.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "fornax_dest";
  std::filesystem::create_directories(dir / "inner");
  const std::string path = (dir / "inner" / "a.keras").string();
  WriteZip(path, {{"config.json", "{}"}, {"../escaped.txt", "x"}, {"model.weights.h5", "x"}});
  EXPECT_THAT(LoadError(path), ::testing::HasSubstr("member '../escaped.txt'"));
  EXPECT_FALSE(std::filesystem::exists(dir / "escaped.txt"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "inner"),
                          std::filesystem::directory_iterator()),
            1);
  std::filesystem::remove_all(dir);
}

TEST(KerasArchiveReaderTest, CompileConfigIsTheDefaultUnderTheJobsKeys) {
  std::unique_ptr<Trainer> trainer =
      MlpTrainer(json{{"class_name", "Adam"}, {"config", {{"learning_rate", 0.01}}}});
  ASSERT_NE(trainer, nullptr);
  const std::string path = TempPath("fornax_compile_default.keras");
  ASSERT_TRUE(SaveKerasArchive(path, *trainer).ok());
  CompileConfig job;  // a job's section: only steps_per_execution and metrics
  job.steps_per_execution = 4;
  job.metrics = json::array();
  job.loss = "mse";  // ignored: not one of the job's keys
  const std::vector<std::string> keys = {"steps_per_execution", "metrics"};
  absl::StatusOr<std::unique_ptr<Trainer>> loaded = LoadKerasArchive(path, 0, &job, &keys);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const CompileConfig& got = (*loaded)->compile_config();
  EXPECT_EQ(got.loss, "sparse_categorical_crossentropy");  // the archive's
  EXPECT_EQ(got.steps_per_execution, 4);                   // the job's
  EXPECT_EQ(got.metrics, json::array());
  EXPECT_EQ((*loaded)->optimizer().name(), "adam");
  const std::vector<std::string> none;
  absl::StatusOr<std::unique_ptr<Trainer>> defaults = LoadKerasArchive(path, 0, &job, &none);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ((*defaults)->compile_config().steps_per_execution, 1);
  EXPECT_EQ((*defaults)->compile_config().metrics, json::array({"accuracy"}));
  std::filesystem::remove(path);
}

TEST(KerasArchiveTest, Float16AndBFloat16VariablesKeepTheirDtypes) {
  // Layers with a float16 / bfloat16 dtype hold 16-bit variables; they are
  // saved as Keras saves them and come back bit-identical.
  for (const DType dtype : {DType::kFloat16, DType::kBFloat16}) {
    const std::string name(DTypeName(dtype));
    const json config = {
        {"class_name", "Sequential"},
        {"config",
         {{"name", "half"},
          {"layers",
           {{{"class_name", "InputLayer"},
             {"config", {{"batch_shape", {nullptr, 3}}, {"dtype", name}, {"name", "x"}}}},
            {{"class_name", "Dense"},
             {"config", {{"name", "dense"}, {"units", 2}, {"dtype", name}}}}}}}}};
    absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(config, name);
    ASSERT_TRUE(model.ok()) << model.status();
    CompileConfig compile;
    compile.optimizer = "sgd";
    compile.loss = "mse";
    absl::StatusOr<std::unique_ptr<Trainer>> trainer =
        Trainer::Create(*std::move(model), compile, 3);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    const std::string path = TempPath("fornax_half.keras");
    ASSERT_TRUE(SaveKerasArchive(path, **trainer).ok()) << name;
    absl::StatusOr<std::unique_ptr<Trainer>> loaded = LoadKerasArchive(path, 9);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    for (const std::string variable : {"dense/kernel", "dense/bias"}) {
      std::optional<int64_t> i = (*trainer)->variables().Find(variable);
      std::optional<int64_t> j = (*loaded)->variables().Find(variable);
      ASSERT_TRUE(i.has_value() && j.has_value()) << variable;
      const Tensor& saved = (*trainer)->variables().value(*i);
      EXPECT_EQ(saved.dtype(), dtype) << variable;
      EXPECT_TRUE(saved.BitwiseEquals((*loaded)->variables().value(*j))) << name << variable;
    }
    std::filesystem::remove(path);
  }
}

}  // namespace
}  // namespace fornax
