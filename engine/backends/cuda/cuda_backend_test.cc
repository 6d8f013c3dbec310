// Tests for the cuda backend. Without a usable device (this build machine,
// CI) the kernel tests skip with the probe's message; with one they run each
// kernel on the GPU and compare with a host loop.
#include "engine/backends/cuda/cuda_backend.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Node MakeNode(Op op, Shape shape, DType dtype = DType::kFloat32) {
  Node node;
  node.op = op;
  node.dtype = dtype;
  node.shape = std::move(shape);
  return node;
}

std::vector<float> RandomFloats(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

std::vector<float> ToVector(const Tensor& host) {
  const float* p = host.data<float>();
  return std::vector<float>(p, p + host.num_elements());
}

TEST(CudaProbeTest, ReportsTheCudaErrorOrABackend) {
  absl::Status probe = ProbeCudaDevice();
  absl::StatusOr<Backend*> backend = GetCudaBackend();
  if (probe.ok()) {
    ASSERT_TRUE(backend.ok()) << backend.status();
    EXPECT_EQ((*backend)->name(), "cuda");
    EXPECT_FALSE((*backend)->allocator()->host_accessible());
  } else {
    EXPECT_EQ(probe.code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(probe.message()), StartsWith("no CUDA device: "));
    EXPECT_EQ(backend.status(), probe);
  }
}

TEST(CudaProbeTest, LinksCudnn9) { EXPECT_GE(CudnnVersion() / 10000, 9u) << CudnnVersion(); }

TEST(CudaKernelLookupTest, CoversFloat32AddMulReluMatMulOnly) {
  EXPECT_NE(FindCudaKernel(MakeNode(Op::kAdd, Shape{2})), nullptr);
  EXPECT_NE(FindCudaKernel(MakeNode(Op::kMul, Shape{2})), nullptr);
  EXPECT_NE(FindCudaKernel(MakeNode(Op::kRelu, Shape{2})), nullptr);
  EXPECT_NE(FindCudaKernel(MakeNode(Op::kMatMul, Shape{2, 2})), nullptr);
  EXPECT_EQ(FindCudaKernel(MakeNode(Op::kAdd, Shape{2}, DType::kInt32)), nullptr);
  EXPECT_EQ(FindCudaKernel(MakeNode(Op::kConv2D, Shape{1, 2, 2, 1})), nullptr);
}

class CudaKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status probe = ProbeCudaDevice();
    if (!probe.ok()) GTEST_SKIP() << probe.message();
    backend_ = *GetCudaBackend();
  }

  // Runs `node` on device copies of `inputs`; returns the output on the host.
  std::vector<float> Run(const Node& node, const std::vector<Tensor>& host_inputs) {
    KernelFn fn = backend_->FindKernel(node);
    EXPECT_NE(fn, nullptr);
    if (fn == nullptr) return {};
    std::vector<Tensor> inputs;
    for (const Tensor& t : host_inputs) {
      absl::StatusOr<Tensor> on_device = CopyToDevice(t, backend_->allocator());
      EXPECT_TRUE(on_device.ok()) << on_device.status();
      if (!on_device.ok()) return {};
      inputs.push_back(*on_device);
    }
    Tensor out(node.dtype, node.shape, backend_->allocator());
    KernelContext ctx{node, inputs, out};
    fn(ctx);
    absl::StatusOr<Tensor> host = CopyToHost(out);
    EXPECT_TRUE(host.ok()) << host.status();
    return host.ok() ? ToVector(*host) : std::vector<float>{};
  }

  Backend* backend_ = nullptr;
};

TEST_F(CudaKernelTest, AllocatorGivesZeroedDeviceMemory) {
  Tensor t(DType::kFloat32, Shape{3, 5}, backend_->allocator());
  EXPECT_STREQ(t.buffer()->allocator()->device_name(), "cuda");
  absl::StatusOr<Tensor> host = CopyToHost(t);
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_THAT(ToVector(*host), ::testing::Each(0.0f));
  EXPECT_FALSE(CopyToDevice(t, backend_->allocator()).ok());  // already on the device
}

TEST_F(CudaKernelTest, AddAndMulSameShapeMatchHost) {
  std::vector<float> a = RandomFloats(1000, 1), b = RandomFloats(1000, 2);
  Tensor ta = Tensor::FromFloats(Shape{10, 100}, a), tb = Tensor::FromFloats(Shape{10, 100}, b);
  std::vector<float> sum = Run(MakeNode(Op::kAdd, Shape{10, 100}), {ta, tb});
  std::vector<float> product = Run(MakeNode(Op::kMul, Shape{10, 100}), {ta, tb});
  ASSERT_EQ(sum.size(), a.size());
  ASSERT_EQ(product.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(sum[i], a[i] + b[i]) << i;
    EXPECT_EQ(product[i], a[i] * b[i]) << i;
  }
}

TEST_F(CudaKernelTest, AddBroadcastsLikeNumPy) {
  // (2, 1, 3) + (4, 1) -> (2, 4, 3)
  std::vector<float> a = RandomFloats(6, 3), b = RandomFloats(4, 4);
  std::vector<float> got =
      Run(MakeNode(Op::kAdd, Shape{2, 4, 3}),
          {Tensor::FromFloats(Shape{2, 1, 3}, a), Tensor::FromFloats(Shape{4, 1}, b)});
  ASSERT_EQ(got.size(), 24u);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      for (int k = 0; k < 3; ++k) {
        EXPECT_EQ(got[static_cast<size_t>((i * 4 + j) * 3 + k)],
                  a[static_cast<size_t>(i * 3 + k)] + b[static_cast<size_t>(j)]);
      }
    }
  }
}

TEST_F(CudaKernelTest, MulBroadcastsABiasRow) {
  std::vector<float> a = RandomFloats(12, 5), b = RandomFloats(4, 6);
  std::vector<float> got = Run(MakeNode(Op::kMul, Shape{3, 4}), {Tensor::FromFloats(Shape{3, 4}, a),
                                                                 Tensor::FromFloats(Shape{4}, b)});
  ASSERT_EQ(got.size(), 12u);
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(got[i], a[i] * b[i % 4]) << i;
}

TEST_F(CudaKernelTest, ReluMatchesHost) {
  std::vector<float> x = RandomFloats(777, 7);
  std::vector<float> got =
      Run(MakeNode(Op::kRelu, Shape{777}), {Tensor::FromFloats(Shape{777}, x)});
  ASSERT_EQ(got.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], x[i] > 0 ? x[i] : 0.0f) << i;
}

TEST_F(CudaKernelTest, MatMulMatchesHostForEveryTranspose) {
  const int m = 5, k = 7, n = 3;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(testing::Message() << "transpose_a=" << ta << " transpose_b=" << tb);
      std::vector<float> a = RandomFloats(m * k, 8), b = RandomFloats(k * n, 9);
      Node node = MakeNode(Op::kMatMul, Shape{m, n});
      node.attrs.transpose_a = ta;
      node.attrs.transpose_b = tb;
      std::vector<float> got = Run(node, {Tensor::FromFloats(ta ? Shape{k, m} : Shape{m, k}, a),
                                          Tensor::FromFloats(tb ? Shape{n, k} : Shape{k, n}, b)});
      ASSERT_EQ(got.size(), static_cast<size_t>(m * n));
      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
          double want = 0;
          for (int p = 0; p < k; ++p) {
            float av = ta ? a[static_cast<size_t>(p * m + i)] : a[static_cast<size_t>(i * k + p)];
            float bv = tb ? b[static_cast<size_t>(j * k + p)] : b[static_cast<size_t>(p * n + j)];
            want += static_cast<double>(av) * bv;
          }
          EXPECT_NEAR(got[static_cast<size_t>(i * n + j)], want, 1e-4) << i << "," << j;
        }
      }
    }
  }
}

}  // namespace
}  // namespace fornax
