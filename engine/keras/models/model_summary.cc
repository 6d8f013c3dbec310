// Model::Summary: the table keras.Model.summary() prints.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/keras/models/model.h"
#include "engine/keras/models/model_node.h"

namespace fornax {
namespace {

// Display width of UTF-8 text (box-drawing characters are one column).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string Pad(const std::string& s, size_t width, bool right_align) {
  const size_t w = Width(s);
  if (w >= width) return s;
  return right_align ? std::string(width - w, ' ') + s : s + std::string(width - w, ' ');
}

// 1234567 -> "1,234,567".
std::string Thousands(int64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Keras's readable_memory_size (float32 weights: 4 bytes each).
std::string Bytes(int64_t params) {
  double size = static_cast<double>(params) * 4.0;
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  for (const char* unit : units) {
    if (size / 1024.0 < 1.0) return absl::StrFormat("%.2f %s", size, unit);
    size /= 1024.0;
  }
  return absl::StrFormat("%.2f PB", size);
}

std::string Dims(const std::vector<TensorSpec>& specs) {
  if (specs.size() == 1) return specs[0].shape.ToString();
  std::string out;
  for (const TensorSpec& s : specs)
    absl::StrAppend(&out, out.empty() ? "" : ", ", s.shape.ToString());
  return absl::StrCat("[", out, "]");
}

}  // namespace

std::string Model::Summary() const {
  constexpr size_t kCol[3] = {31, 22, 13};  // text widths, as Keras's default line length
  std::string out = absl::StrCat("Model: \"", name_, "\"\n");
  auto rule = [&](const char* left, const char* mid, const char* right, const char* fill) {
    return absl::StrCat(left, Repeat(fill, kCol[0] + 2), mid, Repeat(fill, kCol[1] + 2), mid,
                        Repeat(fill, kCol[2] + 2), right, "\n");
  };
  auto row = [&](const char* bar, const std::string& a, const std::string& b,
                 const std::string& c) {
    return absl::StrCat(bar, " ", Pad(a, kCol[0], false), " ", bar, " ", Pad(b, kCol[1], false),
                        " ", bar, " ", Pad(c, kCol[2], true), " ", bar, "\n");
  };
  out += rule("┏", "┳", "┓", "━");
  out += row("┃", "Layer (type)", "Output Shape", "Param #");
  out += rule("┡", "╇", "┩", "━");

  std::vector<const LayerNode*> shown;
  for (const auto& node : nodes_) {
    if (node->in_summary && node->call_index == 0) shown.push_back(node.get());
  }
  std::stable_sort(shown.begin(), shown.end(), [](const LayerNode* a, const LayerNode* b) {
    return a->config_index < b->config_index;
  });
  // One row per layer; the layers of a nested model collapse into one row.
  struct Row {
    std::string name, class_name;
    std::vector<TensorSpec> outputs;
    int64_t params = 0;
  };
  std::vector<Row> rows;
  std::set<std::string> groups_done;
  for (const LayerNode* node : shown) {
    if (node->group.empty()) {
      rows.push_back({node->name, node->class_name, node->outputs,
                      node->layer ? node->layer->CountParams() : 0});
      continue;
    }
    if (!groups_done.insert(node->group).second) continue;
    Row row{node->group, node->group_class, node->group_outputs, 0};
    std::set<const Layer*> counted;
    for (const auto& other : nodes_) {
      if (other->group == node->group && other->layer &&
          counted.insert(other->layer.get()).second) {
        row.params += other->layer->CountParams();
      }
    }
    rows.push_back(std::move(row));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::string label = absl::StrCat(r.name, " (", r.class_name, ")");
    if (Width(label) <= kCol[0]) {
      out += row("│", label, Dims(r.outputs), Thousands(r.params));
    } else {  // Keras wraps a long label before the type
      out += row("│", r.name, Dims(r.outputs), Thousands(r.params));
      out += row("│", absl::StrCat("(", r.class_name, ")"), "", "");
    }
    out += i + 1 < rows.size() ? rule("├", "┼", "┤", "─") : rule("└", "┴", "┘", "─");
  }
  const int64_t total = CountParams(false);
  const int64_t trainable = CountParams(true);
  absl::StrAppend(&out, " Total params: ", Thousands(total), " (", Bytes(total), ")\n");
  absl::StrAppend(&out, " Trainable params: ", Thousands(trainable), " (", Bytes(trainable), ")\n");
  absl::StrAppend(&out, " Non-trainable params: ", Thousands(total - trainable), " (",
                  Bytes(total - trainable), ")\n");
  return out;
}

}  // namespace fornax
