#include "engine/tensor/tensor.h"

#include <vector>

#include "gtest/gtest.h"

namespace fornax {
namespace {

std::vector<float> Values(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.num_elements());
}

TEST(Tensor, SliceRowsIsAViewOfThoseRows) {
  Tensor t = Tensor::FromFloats(Shape({3, 2}), std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor middle = t.SliceRows(1, 3);
  EXPECT_EQ(middle.shape().dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Values(middle), (std::vector<float>{3, 4, 5, 6}));
  middle.data<float>()[0] = 30;  // same buffer
  EXPECT_EQ(t.data<float>()[2], 30);
}

TEST(Tensor, ConcatRowsStacksPartsAlongTheFirstAxis) {
  Tensor a = Tensor::FromFloats(Shape({1, 2}), std::vector<float>{1, 2});
  Tensor b = Tensor::FromFloats(Shape({3, 2}), std::vector<float>{3, 4, 5, 6, 7, 8});
  Tensor joined = Tensor::ConcatRows({a, b.SliceRows(1, 3)});
  EXPECT_EQ(joined.shape().dims(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Values(joined), (std::vector<float>{1, 2, 5, 6, 7, 8}));
  joined.data<float>()[0] = 10;  // a copy
  EXPECT_EQ(a.data<float>()[0], 1);
}

TEST(TensorDeathTest, ConcatRowsRefusesPartsOfOtherShapes) {
  Tensor a = Tensor::FromFloats(Shape({1, 2}), std::vector<float>{1, 2});
  Tensor b = Tensor::FromFloats(Shape({1, 3}), std::vector<float>{3, 4, 5});
  EXPECT_DEATH(Tensor::ConcatRows({a, b}), "");
}

}  // namespace
}  // namespace fornax
