#include "engine/keras/variable_store.h"

namespace fornax {

int64_t VariableStore::Add(VariableInfo info, Tensor value) {
  values_.push_back(std::move(value));
  infos_.push_back(std::move(info));
  return size() - 1;
}

std::optional<int64_t> VariableStore::Find(const std::string& path) const {
  for (size_t i = 0; i < infos_.size(); ++i) {
    if (infos_[i].path == path) return static_cast<int64_t>(i);
  }
  return std::nullopt;
}

}  // namespace fornax
