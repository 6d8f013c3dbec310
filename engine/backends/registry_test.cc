#include "engine/runtime/backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

TEST(RegistryTest, FindsTheBuiltInBackends) {
  for (const char* name : {"reference", "cpu"}) {
    absl::StatusOr<Backend*> backend = GetBackend(name);
    ASSERT_TRUE(backend.ok()) << backend.status();
    EXPECT_EQ((*backend)->name(), name);
    EXPECT_TRUE((*backend)->allocator()->host_accessible());
    EXPECT_EQ(*GetBackend(name), *backend);  // one instance per process
  }
}

TEST(RegistryTest, UnknownNamesAreNotFound) {
  const absl::StatusOr<Backend*> backend = GetBackend("tpu");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(backend.status().message(), HasSubstr("unknown backend 'tpu'"));
}

}  // namespace
}  // namespace fornax
