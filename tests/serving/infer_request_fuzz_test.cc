// Replays the inference fuzz target's inputs (tests/testdata/fuzz_inference:
// its seeds, a few corpus inputs and every finding) through the same
// function the fuzzer calls, and checks the findings' exact errors.
#include "server/inference/infer_request_fuzz.h"

#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/data/test_files.h"
#include "gtest/gtest.h"
#include "server/inference/model_settings.h"

namespace fornax::serving {
namespace {

TEST(InferRequestFuzzTest, EveryInputIsDecodedOrACleanError) {
  const std::filesystem::path dir = testing::SourceDir() + "/tests/testdata/fuzz_inference";
  int inputs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
    ++inputs;
    const std::string bytes = testing::ReadFileOrEmpty(entry.path().string());
    const absl::Status status =
        RunUntrustedInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    const std::string name = entry.path().filename().string();
    std::cout << name << ": " << status << "\n";
    if (name.starts_with("seed_")) {
      EXPECT_TRUE(status.ok()) << name << ": " << status;
    } else if (name.starts_with("finding_")) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name << ": " << status;
    } else {
      EXPECT_TRUE(status.ok() || status.code() == absl::StatusCode::kInvalidArgument)
          << name << ": " << status;
    }
  }
  EXPECT_GT(inputs, 0) << "no inputs in " << dir;
}

// A request for `mask` (BOOL [-1,-1]) of `shape` with `bytes` raw bytes,
// beside valid x and ids of batch `shape[0]`.
inference::ModelInferRequest MaskRequest(std::vector<int64_t> shape, const std::string& bytes) {
  inference::ModelInferRequest request;
  const int64_t batch = shape[0];
  auto add = [&](const char* name, const char* datatype, std::vector<int64_t> dims,
                 std::string raw) {
    auto* input = request.add_inputs();
    input->set_name(name);
    input->set_datatype(datatype);
    for (int64_t d : dims) input->add_shape(d);
    request.add_raw_input_contents(std::move(raw));
  };
  add("x", "FP32", {batch, 6}, std::string(static_cast<size_t>(batch) * 24, '\0'));
  add("ids", "INT32", {batch, 3}, std::string(static_cast<size_t>(batch) * 12, '\0'));
  add("mask", "BOOL", std::move(shape), bytes);
  return request;
}

// Decodes `request` against the fuzz signature and expects exactly this
// InvalidArgument message.
void ExpectRefused(const inference::ModelInferRequest& request, const std::string& message) {
  const SharedMemoryRegistry no_regions;
  absl::StatusOr<DecodedRequest> decoded = DecodeInferRequest(request, FuzzSignature(), no_regions);
  ASSERT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << decoded.status();
  EXPECT_EQ(decoded.status().message(), message);
}

TEST(InferRequestFuzzTest, DeclaredShapeIsCheckedBeforeAllocating) {
  ExpectRefused(
      MaskRequest({1, int64_t{1} << 40}, "ab"),
      "input 'mask': expected 1099511627776 bytes for shape [1,1099511627776] BOOL, got 2");
}

TEST(InferRequestFuzzTest, ShapeWhoseSizeOverflowsIsRefused) {
  // 8 * 2^61 elements wrap to 0 in 64 bits: 0 bytes must not pass.
  ExpectRefused(MaskRequest({8, int64_t{1} << 61}, ""),
                "input 'mask': shape [8,2305843009213693952] BOOL is too large (over 2^63 bytes)");
}

TEST(InferRequestFuzzTest, TypedContentsAreCountedBeforeAllocating) {
  inference::ModelInferRequest request = MaskRequest({1, int64_t{1} << 40}, "");
  request.clear_raw_input_contents();
  for (int i = 0; i < request.inputs_size(); ++i) request.mutable_inputs(i)->mutable_contents();
  request.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->Resize(6, 0.0f);
  request.mutable_inputs(1)->mutable_contents()->mutable_int_contents()->Resize(3, 0);
  ExpectRefused(request,
                "input 'mask': expected 1099511627776 values in contents.bool_contents, got 0");
}

// The first byte's low two bits pick the parser: 01 config.json (with its
// version_policy), 11 config.pbtxt; 10 is a request like 00.
absl::Status RunText(char mode, const std::string& text) {
  const std::string bytes = mode + text;
  return RunUntrustedInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

TEST(InferRequestFuzzTest, TheFirstByteSelectsTheParser) {
  EXPECT_EQ(RunText('\x03', "max_batch_size: 0").message(),
            "config.pbtxt: max_batch_size: expected an integer >= 1, got 0 (0, or leaving it "
            "out, means no batch dimension to Triton; the first dimension of a Keras model is "
            "always the batch)");
  EXPECT_EQ(RunText('\x03', "name: \"other\" max_batch_size: 8").message(),
            "config.pbtxt: name: 'other' does not match the model's directory 'fuzz' (Triton "
            "requires them to be equal)");
  EXPECT_EQ(RunText('\x01', R"({"version_policy": {"latest": {"num_versions": 0}}})").message(),
            "config.json: version_policy.latest.num_versions: expected an integer >= 1, got 0");
  EXPECT_TRUE(RunText('\x07', "max_batch_size: 8").ok()) << "7: pbtxt, as 3";
  EXPECT_EQ(RunText('\x02', "").message(),
            "input 'x' is missing; model 'fuzz' expects 'x', 'ids', 'mask'")
      << "2: an empty request, as 0";
}

// Found by fuzzing config.pbtxt: the text format takes any number for an
// enum, and such a value went unnamed in the error ("kind:  is not
// supported"; a data_type passed the parse and was unnamed in the load's
// mismatch error).
TEST(InferRequestFuzzTest, PbtxtEnumNumbersWithoutANameAreRefusedByNumber) {
  EXPECT_EQ(RunText('\x03', "max_batch_size: 8 instance_group [ { kind: 7 } ]").message(),
            "config.pbtxt: instance_group[0].kind: unknown kind 7");
  EXPECT_EQ(
      RunText('\x03', R"(max_batch_size: 8 input [ { name: "x" data_type: 99 dims: [ 6 ] } ])")
          .message(),
      "config.pbtxt: input 'x'.data_type: unknown type 99");
  EXPECT_EQ(
      RunText('\x03', R"(max_batch_size: 8 output [ { name: "y" data_type: -1 } ])").message(),
      "config.pbtxt: output 'y'.data_type: unknown type -1");
  EXPECT_TRUE(RunText('\x03', R"(max_batch_size: 8 input [ { name: "x" data_type: 11 } ])").ok())
      << "11 is TYPE_FP32";
}

TEST(InferRequestFuzzTest, DeeplyNestedConfigValueIsAnErrorNotAStackOverflow) {
  // Quoting the value in the error message used to recurse once per level.
  const int depth = 1000000;
  const std::string text =
      absl::StrCat("{\"max_batch_size\": ", std::string(depth, '['), std::string(depth, ']'), "}");
  absl::StatusOr<ModelSettings> config = ParseModelConfigJson(text, "config.json");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  EXPECT_EQ(config.status().message(),
            "config.json: max_batch_size: expected an integer >= 1, got array");
}

}  // namespace
}  // namespace fornax::serving
