// Triton's classification extension (server/inference/classification.h):
// the top classes per row as Triton formats them, the clamp to the class
// count, ties and NaN, labels and how a labels file splits into them, and
// the parameter and datatype errors; and through
// DecodeInferRequest/EncodeInferResponse, the BYTES output a request gets.
#include "server/inference/classification.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/tensor_codec.h"

namespace fornax::serving {
namespace {

using ::testing::ElementsAre;
using ParameterMap = google::protobuf::Map<std::string, inference::InferParameter>;

ParameterMap Count(int64_t k) {
  ParameterMap parameters;
  parameters["classification"].set_int64_param(k);
  return parameters;
}

Tensor Floats(const std::vector<int64_t>& dims, const std::vector<float>& values) {
  return Tensor::FromFloats(Shape(dims), values);
}

Tensor Ints(const std::vector<int64_t>& dims, const std::vector<int32_t>& values) {
  return Tensor::FromInts(Shape(dims), values);
}

TensorSpec Spec(DType dtype) { return TensorSpec{"y", dtype, Shape({-1, 3})}; }

TEST(ClassificationTest, TopClassesPerRowHighestFirstAsTritonPrintsThem) {
  const Tensor scores = Floats({2, 4}, {0.1f, 0.7f, -2.5f, 0.2f,  //
                                        3.0f, 1.0f, 2.0f, 0.0f});
  const Classification top = TopClasses(scores, 2);
  EXPECT_THAT(top.shape, ElementsAre(2, 2));
  // "%f" (std::to_string) of the float's value.
  EXPECT_THAT(BytesElements(top.raw),
              ElementsAre("0.700000:1", "0.200000:3", "3.000000:0", "2.000000:2"));
  // Each element is a 4-byte little-endian length and the string.
  ASSERT_GE(top.raw.size(), 4u);
  EXPECT_EQ(top.raw.substr(0, 4), std::string("\x0a\0\0\0", 4));
}

TEST(ClassificationTest, CountOverTheClassesReturnsEveryClass) {
  const Tensor scores = Floats({1, 3}, {1, 3, 2});
  const Classification top = TopClasses(scores, 100);
  EXPECT_THAT(top.shape, ElementsAre(1, 3));
  EXPECT_THAT(BytesElements(top.raw), ElementsAre("3.000000:1", "2.000000:2", "1.000000:0"));
}

TEST(ClassificationTest, TiesKeepIndexOrderAndNanRanksLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor scores = Floats({1, 5}, {nan, 1, 5, 1, -INFINITY});
  EXPECT_THAT(BytesElements(TopClasses(scores, 5).raw),
              ElementsAre("5.000000:2", "1.000000:1", "1.000000:3", "-inf:4", "nan:0"));
  // Fewer than all classes: ties among the top ones still in index order.
  const Tensor tied = Floats({1, 6}, {1, 5, nan, 1, 5, 1});
  EXPECT_THAT(BytesElements(TopClasses(tied, 3).raw),
              ElementsAre("5.000000:1", "5.000000:4", "1.000000:0"));
}

TEST(ClassificationTest, IntegerOutputsPrintTheirValues) {
  const Tensor ints = Ints({1, 3}, {-7, 40, 2});
  EXPECT_THAT(BytesElements(TopClasses(ints, 2).raw), ElementsAre("40:1", "2:2"));
  Tensor bytes(DType::kUInt8, Shape({1, 3}));
  bytes.data<uint8_t>()[0] = 200;
  bytes.data<uint8_t>()[1] = 9;
  bytes.data<uint8_t>()[2] = 255;
  EXPECT_THAT(BytesElements(TopClasses(bytes, 1).raw), ElementsAre("255:2"));
}

TEST(ClassificationTest, ClassesAreEveryElementAfterTheBatchDimension) {
  // [batch 1, 2, 2]: flattened to 4 classes per row, as Triton does.
  const Tensor scores = Floats({1, 2, 2}, {0, 4, 1, 3});
  const Classification top = TopClasses(scores, 3);
  EXPECT_THAT(top.shape, ElementsAre(1, 3));
  EXPECT_THAT(BytesElements(top.raw), ElementsAre("4.000000:1", "3.000000:3", "1.000000:2"));
}

TEST(ClassificationTest, LabelsAreAppendedAsTritonDoes) {
  const Tensor scores = Floats({2, 4}, {0.1f, 0.7f, -2.5f, 0.2f,  //
                                        3.0f, 1.0f, 2.0f, 0.0f});
  // Class 1's line is empty and class 3 is past the last line: neither has
  // a label, so their strings have no third part (Triton's "no label").
  const std::vector<std::string> labels = {"cat", "", "bird:of prey"};
  EXPECT_THAT(BytesElements(TopClasses(scores, 4, labels).raw),
              ElementsAre("0.700000:1", "0.200000:3", "0.100000:0:cat",
                          "-2.500000:2:bird:of prey",  //
                          "3.000000:0:cat", "2.000000:2:bird:of prey", "1.000000:1", "0.000000:3"));
  const Tensor ints = Ints({1, 3}, {-7, 40, 2});
  EXPECT_THAT(BytesElements(TopClasses(ints, 1, labels).raw), ElementsAre("40:1"));
  EXPECT_THAT(BytesElements(TopClasses(ints, 1, {"a", "b"}).raw), ElementsAre("40:1:b"));
}

TEST(ClassificationTest, ALabelsFileIsSplitIntoLinesAsTritonDoes) {
  using Lines = std::vector<std::string>;
  EXPECT_EQ(SplitLabels("cat\ndog\n"), (Lines{"cat", "dog"})) << "a final newline adds none";
  EXPECT_EQ(SplitLabels("cat\ndog"), (Lines{"cat", "dog"})) << "nor does its absence drop one";
  EXPECT_EQ(SplitLabels("cat\n\ndog\n\n"), (Lines{"cat", "", "dog", ""}));
  EXPECT_EQ(SplitLabels("cat\r\ndog\r\n"), (Lines{"cat\r", "dog\r"})) << "only '\\n' ends one";
  EXPECT_EQ(SplitLabels(" a b \n"), (Lines{" a b "})) << "spaces are kept";
  EXPECT_EQ(SplitLabels(""), Lines{});
  EXPECT_EQ(SplitLabels("\n"), (Lines{""}));
}

TEST(ClassificationTest, CountParameterMustBeAPositiveInteger) {
  EXPECT_EQ(*ClassificationCount(ParameterMap(), Spec(DType::kFloat32)), 0);
  EXPECT_EQ(*ClassificationCount(Count(3), Spec(DType::kFloat32)), 3);
  ParameterMap text;
  text["classification"].set_string_param("3");
  ParameterMap fraction;
  fraction["classification"].set_double_param(2.5);
  // A uint64 0 is no count either (it would answer the tensor, silently).
  ParameterMap unsigned_zero;
  unsigned_zero["classification"].set_uint64_param(0);
  for (const auto& [parameters, got] :
       std::vector<std::pair<ParameterMap, std::string>>{{Count(0), "0"},
                                                         {Count(-2), "-2"},
                                                         {text, "'3'"},
                                                         {fraction, "2.500000"},
                                                         {unsigned_zero, "0"}}) {
    absl::StatusOr<int64_t> count = ClassificationCount(parameters, Spec(DType::kFloat32));
    ASSERT_FALSE(count.ok());
    EXPECT_EQ(count.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(count.status().message(),
              "output 'y': parameter 'classification' must be a positive integer (how many "
              "classes to return), got " +
                  got);
  }
}

TEST(ClassificationTest, HalfFloatAndBoolOutputsAreRefusedAsInTriton) {
  for (DType dtype : {DType::kFloat16, DType::kBFloat16, DType::kBool}) {
    absl::StatusOr<int64_t> count = ClassificationCount(Count(1), Spec(dtype));
    ASSERT_FALSE(count.ok());
    EXPECT_EQ(count.status().message(),
              "output 'y': classification is not available for datatype " + WireDatatype(dtype) +
                  " (only FP32, INT32, INT64, UINT8)");
  }
  for (DType dtype : {DType::kInt32, DType::kInt64, DType::kUInt8}) {
    EXPECT_TRUE(ClassificationCount(Count(1), Spec(dtype)).ok());
  }
}

TEST(ClassificationTest, ARequestGetsABytesOutputBesideTheRawOne) {
  const ModelSignature signature{
      "m",
      {TensorSpec{"x", DType::kFloat32, Shape({-1, 2})}},
      {Spec(DType::kFloat32), TensorSpec{"z", DType::kFloat32, Shape({-1, 1})}},
      8};
  inference::ModelInferRequest request;
  auto* input = request.add_inputs();
  input->set_name("x");
  input->set_datatype("FP32");
  input->add_shape(1);
  input->add_shape(2);
  request.add_raw_input_contents(std::string(8, '\0'));
  auto* classified = request.add_outputs();
  classified->set_name("y");
  (*classified->mutable_parameters())["classification"].set_int64_param(2);
  request.add_outputs()->set_name("z");
  const SharedMemoryRegistry no_regions;
  absl::StatusOr<DecodedRequest> decoded = DecodeInferRequest(request, signature, no_regions);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->outputs.size(), 2u);
  EXPECT_EQ(decoded->outputs[0].classification, 2);
  EXPECT_EQ(decoded->outputs[1].classification, 0);

  inference::ModelInferResponse response;
  ASSERT_TRUE(EncodeInferResponse({Floats({1, 3}, {0.5f, 0.25f, 0.75f}), Floats({1, 1}, {9})},
                                  decoded->outputs, signature, &response)
                  .ok());
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_EQ(response.outputs(0).datatype(), "BYTES");
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(1, 2));
  EXPECT_THAT(BytesElements(response.raw_output_contents(0)),
              ElementsAre("0.750000:2", "0.500000:0"));
  EXPECT_EQ(response.outputs(1).datatype(), "FP32");
  EXPECT_EQ(response.raw_output_contents(1).size(), 4u);

  // An output with labels gets them; the others do not.
  ModelSignature labelled = signature;
  labelled.labels["y"] = ClassLabels{"labels.txt", {"a", "b", "c"}};
  labelled.labels["x"] = ClassLabels{"x.txt", {"wrong"}};
  response.Clear();
  ASSERT_TRUE(EncodeInferResponse({Floats({1, 3}, {0.5f, 0.25f, 0.75f}), Floats({1, 1}, {9})},
                                  decoded->outputs, labelled, &response)
                  .ok());
  EXPECT_THAT(BytesElements(response.raw_output_contents(0)),
              ElementsAre("0.750000:2:c", "0.500000:0:a"));

  // Classes are answered in the reply, never written to a region.
  auto* parameters = classified->mutable_parameters();
  (*parameters)["shared_memory_region"].set_string_param("r");
  (*parameters)["shared_memory_byte_size"].set_int64_param(64);
  decoded = DecodeInferRequest(request, signature, no_regions);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().message(),
            "output 'y': the 'classification' and shared memory parameters cannot be combined "
            "(classes are answered in the reply)");
}

}  // namespace
}  // namespace fornax::serving
