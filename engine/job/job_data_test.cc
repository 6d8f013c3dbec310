#include "engine/job/job_data.h"

#include <vector>

#include "engine/data/npy.h"
#include "engine/data/npz.h"
#include "engine/data/test_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

const std::vector<TensorSpec> kImageInput = {{"image", DType::kFloat32, Shape{kBatch, 4}}};
const std::vector<TensorSpec> kTenClasses = {{"probs", DType::kFloat32, Shape{kBatch, 10}}};

Tensor Bytes(Shape shape) {
  Tensor t(DType::kUInt8, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i)
    t.data<uint8_t>()[i] = static_cast<uint8_t>(i % 10);
  return t;
}

class JobDataTest : public ::testing::Test {
 protected:
  // Writes the tensors and parses `yaml` with the temp dir as base.
  JobSpec Job(const std::string& yaml) {
    absl::StatusOr<JobSpec> job = ParseJobYaml("model: m.json\n" + yaml, "job.yaml", dir_.File(""));
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : JobSpec();
  }
  void Write(const std::string& name, const Tensor& t) {
    ASSERT_TRUE(WriteNpy(dir_.File(name), t).ok());
  }
  absl::StatusOr<Dataset> Train(const JobSpec& job,
                                const std::vector<TensorSpec>& inputs = kImageInput,
                                const std::vector<TensorSpec>& outputs = kTenClasses) {
    return LoadSplit(job, *job.train, "data.train", inputs, outputs);
  }
  testing::TempDir dir_;
};

TEST_F(JobDataTest, AppliesTransformsAndConvertsSparseLabels) {
  Write("x.npy", Bytes(Shape{6, 2, 2}));
  Write("y.npy", Bytes(Shape{6}));
  JobSpec job =
      Job("compile: {loss: sparse_categorical_crossentropy}\n"
          "data: {train: {x: {path: x.npy, scale: 0.5, offset: -1, reshape: [-1]}, y: y.npy, "
          "limit: 5}}\n");
  absl::StatusOr<Dataset> d = Train(job);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_samples(), 5);
  EXPECT_EQ(d->x[0].dtype(), DType::kFloat32);
  EXPECT_EQ(d->x[0].shape(), (Shape{5, 4}));
  EXPECT_FLOAT_EQ(d->x[0].data<float>()[3], 0.5f);  // 3 * 0.5 - 1
  EXPECT_EQ(d->y[0].dtype(), DType::kInt32);
  EXPECT_EQ(d->y[0].shape(), (Shape{5}));
  EXPECT_EQ(d->y[0].data<int32_t>()[4], 4);
}

TEST_F(JobDataTest, CastsXToTheInputDTypeAndDenseLabelsToFloat) {
  Write("x.npy", Bytes(Shape{3, 4}));
  Write("y.npy", Tensor::FromInts(Shape{3, 10}, std::vector<int32_t>(30, 1)));
  absl::StatusOr<Dataset> d = Train(
      Job("compile: {loss: categorical_crossentropy}\ndata: {train: {x: x.npy, y: y.npy}}\n"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->x[0].dtype(), DType::kFloat32);
  EXPECT_EQ(d->y[0].dtype(), DType::kFloat32);
}

TEST_F(JobDataTest, SampleCountMismatchNamesBothSources) {
  Write("x.npy", Bytes(Shape{6, 4}));
  Write("y.npy", Bytes(Shape{5}));
  absl::StatusOr<Dataset> d =
      Train(Job("compile: {loss: sparse_categorical_crossentropy}\n"
                "data: {train: {x: x.npy, y: y.npy}}\n"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("job.yaml: data.train.y: " + dir_.File("y.npy") +
                        " holds 5 samples but data.train.x (" + dir_.File("x.npy") + ") holds 6"));
}

TEST_F(JobDataTest, FloatLabelsForASparseLossAreRefused) {
  Write("x.npy", Bytes(Shape{2, 4}));
  Write("y.npy", Tensor::FromFloats(Shape{2}, std::vector<float>{0, 1}));
  absl::StatusOr<Dataset> d =
      Train(Job("compile: {loss: sparse_categorical_crossentropy}\n"
                "data: {train: {x: x.npy, y: y.npy}}\n"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("data.train.y: loss sparse_categorical_crossentropy for output 'probs' "
                        "expects integer class labels, but " +
                        dir_.File("y.npy") + " holds float32"));
}

TEST_F(JobDataTest, LabelOutOfRangeIsRefused) {
  Write("x.npy", Bytes(Shape{2, 4}));
  Write("y.npy", Tensor::FromInts(Shape{2}, std::vector<int32_t>{3, 10}));
  absl::StatusOr<Dataset> d =
      Train(Job("compile: {loss: {class_name: SparseCategoricalCrossentropy}}\n"
                "data: {train: {x: x.npy, y: y.npy}}\n"));
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("label 10 of sample 1 in " + dir_.File("y.npy") +
                        " is out of range: output 'probs' has 10 classes (0..9)"));
}

TEST_F(JobDataTest, ShapeMismatchSuggestsReshape) {
  Write("x.npy", Bytes(Shape{2, 2, 2}));
  Write("y.npy", Bytes(Shape{2}));
  absl::StatusOr<Dataset> d =
      Train(Job("compile: {loss: sparse_categorical_crossentropy}\n"
                "data: {train: {x: x.npy, y: y.npy}}\n"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(d.status().message()),
      HasSubstr("data.train.x: model input 'image' expects samples of shape (4,) but " +
                dir_.File("x.npy") + " holds samples of shape (2, 2) (add 'reshape: [4]')"));
}

TEST_F(JobDataTest, BadReshapeIsRefused) {
  Write("x.npy", Bytes(Shape{2, 2, 2}));
  Write("y.npy", Bytes(Shape{2}));
  absl::StatusOr<Dataset> d =
      Train(Job("compile: {loss: sparse_categorical_crossentropy}\n"
                "data: {train: {x: {path: x.npy, reshape: [3]}, y: y.npy}}\n"));
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("data.train.x.reshape: cannot reshape samples of shape (2, 2) (4 values) "
                        "into (3,)"));
}

TEST_F(JobDataTest, NamedSourcesFollowTheModelOrder) {
  Write("a.npy", Bytes(Shape{3, 4}));
  Write("b.npy", Bytes(Shape{3, 2}));
  ASSERT_TRUE(WriteNpz(dir_.File("y.npz"), {{"score", Tensor(DType::kFloat32, Shape{3, 1})},
                                            {"probs", Bytes(Shape{3})}})
                  .ok());
  const std::vector<TensorSpec> inputs = {{"image", DType::kFloat32, Shape{kBatch, 4}},
                                          {"aux", DType::kFloat32, Shape{kBatch, 2}}};
  const std::vector<TensorSpec> outputs = {{"probs", DType::kFloat32, Shape{kBatch, 10}},
                                           {"score", DType::kFloat32, Shape{kBatch, 1}}};
  JobSpec job =
      Job("compile: {loss: {probs: sparse_categorical_crossentropy, score: mse}}\n"
          "data: {train: {x: {aux: b.npy, image: a.npy}, y: {score: y.npz, probs: y.npz}}}\n");
  absl::StatusOr<Dataset> d = Train(job, inputs, outputs);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->x[0].shape(), (Shape{3, 4}));
  EXPECT_EQ(d->x[1].shape(), (Shape{3, 2}));
  EXPECT_EQ(d->y[0].dtype(), DType::kInt32);
  EXPECT_EQ(d->y[1].shape(), (Shape{3, 1}));

  JobSpec wrong = Job(
      "compile: {loss: mse}\ndata: {train: {x: {imgae: a.npy, aux: b.npy}, y: [y.npz, y.npz]}}\n");
  EXPECT_THAT(std::string(Train(wrong, inputs, outputs).status().message()),
              HasSubstr("data.train.x.imgae: the model has no input named 'imgae'; its inputs "
                        "are: image, aux"));
  JobSpec single = Job("compile: {loss: mse}\ndata: {train: {x: a.npy, y: y.npz}}\n");
  EXPECT_THAT(std::string(Train(single, inputs, outputs).status().message()),
              HasSubstr("data.train.x: the model has 2 inputs (image, aux) but 1 source is given"));
}

TEST_F(JobDataTest, MissingFileStaysNotFoundAndNamesTheField) {
  absl::StatusOr<Dataset> d =
      Train(Job("compile: {loss: mse}\ndata: {train: {x: gone.npy, y: gone.npy}}\n"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("job.yaml: data.train.x: " + dir_.File("gone.npy") + ": no such file"));
}

TEST_F(JobDataTest, AmbiguousArchiveAsksForAKey) {
  ASSERT_TRUE(
      WriteNpz(dir_.File("d.npz"), {{"a", Bytes(Shape{2, 4})}, {"b", Bytes(Shape{2})}}).ok());
  absl::StatusOr<Dataset> d =
      Train(Job("compile: {loss: mse}\ndata: {train: {x: d.npz, y: d.npz:b}}\n"));
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("the archive holds several arrays (a, b)"));
}

}  // namespace
}  // namespace fornax
