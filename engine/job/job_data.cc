#include "engine/job/job_data.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"
#include "engine/data/idx.h"
#include "engine/data/npy.h"
#include "engine/data/npz.h"

namespace fornax {
namespace {

absl::Status FieldError(const std::string& job_path, const std::string& field,
                        const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(job_path, ": ", field, ": ", what));
}

// Prefixes a reader's error (which already names the data file) with the job
// file and field, keeping its code.
absl::Status InField(const absl::Status& s, const std::string& job_path, const std::string& field) {
  return absl::Status(s.code(), absl::StrCat(job_path, ": ", field, ": ", s.message()));
}

std::string SampleShape(const Shape& s) {
  std::vector<int64_t> dims(s.dims().begin() + (s.rank() > 0 ? 1 : 0), s.dims().end());
  return Shape(dims).ToString();
}

absl::StatusOr<Tensor> ReadSourceFile(const DataSource& src, const std::string& default_key) {
  if (absl::EndsWith(src.path, ".npy")) return ReadNpy(src.path);
  if (!absl::EndsWith(src.path, ".npz")) return ReadIdx(src.path);
  if (!src.npz_key.empty()) return ReadNpzMember(src.path, src.npz_key);
  FORNAX_ASSIGN_OR_RETURN(std::vector<std::string> keys, ListNpz(src.path));
  if (keys.size() == 1) return ReadNpzMember(src.path, keys[0]);
  if (std::find(keys.begin(), keys.end(), default_key) != keys.end()) {
    return ReadNpzMember(src.path, default_key);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(src.path, ": the archive holds several arrays (", absl::StrJoin(keys, ", "),
                   "); pick one with 'path: ", src.path, ":KEY' or 'key: KEY'"));
}

// x * scale + offset, in double precision, rounded once to the dtype.
Tensor Affine(const Tensor& t, double scale, double offset) {
  Tensor out = t.Clone();
  const int64_t n = out.num_elements();
  if (out.dtype() == DType::kFloat32) {
    float* p = out.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(p[i] * scale + offset);
  } else {
    for (int64_t i = 0; i < n; ++i) out.SetFromDouble(i, out.GetAsDouble(i) * scale + offset);
  }
  return out;
}

// The loss configured for output `index`, as written ("sparse_categorical_crossentropy",
// "SparseCategoricalCrossentropy"); empty when it cannot be told.
std::string LossNameFor(const nlohmann::json& loss, size_t index, const std::string& output) {
  const nlohmann::json* l = &loss;
  if (loss.is_array() && index < loss.size()) l = &loss[index];
  if (loss.is_object() && !loss.contains("class_name") && loss.contains(output)) l = &loss[output];
  if (l->is_string()) return l->get<std::string>();
  if (l->is_object() && l->contains("class_name") && (*l)["class_name"].is_string()) {
    return (*l)["class_name"].get<std::string>();
  }
  return "";
}

bool IsSparseLoss(const std::string& name) {
  std::string normalized;
  for (char c : name) {
    if (c != '_')
      normalized.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return absl::StartsWith(normalized, "sparse");
}

// Checks labels for one output and converts them to what the loss consumes:
// int32 class indices for sparse losses, the output's dtype otherwise.
absl::StatusOr<Tensor> PrepareLabels(const JobSpec& job, const DataSource& src, Tensor y,
                                     const TensorSpec& output, const std::string& loss_name) {
  const bool sparse = IsSparseLoss(loss_name);
  const Shape& out = output.shape;
  if (sparse) {
    if (!IsInteger(y.dtype())) {
      return FieldError(job.path, src.field,
                        absl::StrCat("loss ", loss_name, " for output '", output.name,
                                     "' expects integer class labels, but ", src.path, " holds ",
                                     std::string(DTypeName(y.dtype()))));
    }
    const bool flat = y.shape().rank() == 1 || (y.shape().rank() == 2 && y.shape().dim(1) == 1);
    if (!flat) {
      return FieldError(
          job.path, src.field,
          absl::StrCat("output '", output.name, "' expects class labels of shape (samples,) but ",
                       src.path, " holds samples of shape ", SampleShape(y.shape())));
    }
    const int64_t classes = out.rank() >= 2 ? out.dim(out.rank() - 1) : 0;
    for (int64_t i = 0; i < y.num_elements() && classes > 0; ++i) {
      double v = y.GetAsDouble(i);
      if (v < 0 || v >= static_cast<double>(classes)) {
        return FieldError(job.path, src.field,
                          absl::StrCat("label ", v, " of sample ", i, " in ", src.path,
                                       " is out of range: output '", output.name, "' has ", classes,
                                       " classes (0..", classes - 1, ")"));
      }
    }
    return y.dtype() == DType::kInt32 ? y : y.CastTo(DType::kInt32);
  }
  // Dense labels: one value per output element, like Keras (N,) for (None, 1).
  std::vector<int64_t> want(out.dims().begin() + 1, out.dims().end());
  std::vector<int64_t> got(y.shape().dims().begin() + 1, y.shape().dims().end());
  if (got.empty() && want == std::vector<int64_t>{1}) {
    y = y.Reshaped(Shape{y.shape().dim(0), 1});
  } else if (got != want) {
    return FieldError(job.path, src.field,
                      absl::StrCat("output '", output.name, "' produces samples of shape ",
                                   Shape(want).ToString(), " but the labels in ", src.path,
                                   " have shape ", Shape(got).ToString()));
  }
  return y.dtype() == output.dtype ? y : y.CastTo(output.dtype);
}

// Orders a side's sources like the model's specs ("input"/"output" in messages).
absl::StatusOr<std::vector<const DataSource*>> MatchSources(const JobSpec& job,
                                                            const DataSide& side,
                                                            const std::string& field,
                                                            const std::vector<TensorSpec>& specs,
                                                            const std::string& kind) {
  std::vector<std::string> names;
  for (const TensorSpec& s : specs) names.push_back(s.name);
  std::vector<const DataSource*> ordered(specs.size(), nullptr);
  if (!side.by_name) {
    if (side.sources.size() != specs.size()) {
      return FieldError(job.path, field,
                        absl::StrCat("the model has ", specs.size(), " ", kind, "s (",
                                     absl::StrJoin(names, ", "), ") but ", side.sources.size(),
                                     " source", side.sources.size() == 1 ? " is" : "s are",
                                     " given; map each ", kind, " name to a source"));
    }
    for (size_t i = 0; i < specs.size(); ++i) ordered[i] = &side.sources[i].second;
    return ordered;
  }
  for (const auto& [name, src] : side.sources) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      return FieldError(job.path, src.field,
                        absl::StrCat("the model has no ", kind, " named '", name, "'; its ", kind,
                                     "s are: ", absl::StrJoin(names, ", ")));
    }
    ordered[static_cast<size_t>(it - names.begin())] = &src;
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (ordered[i] == nullptr) {
      return FieldError(job.path, field,
                        absl::StrCat("no source for the model's ", kind, " '", names[i], "'"));
    }
  }
  return ordered;
}

}  // namespace

absl::StatusOr<Tensor> LoadSource(const std::string& job_path, const DataSource& src,
                                  const std::string& default_key) {
  absl::StatusOr<Tensor> read = ReadSourceFile(src, default_key);
  if (!read.ok()) return InField(read.status(), job_path, src.field);
  Tensor t = *std::move(read);
  if (t.shape().rank() == 0) {
    return FieldError(job_path, src.field,
                      absl::StrCat(src.path, " holds a scalar; expected one row per sample"));
  }
  if (src.limit && *src.limit < t.shape().dim(0)) t = t.SliceRows(0, *src.limit);
  if (src.dtype && *src.dtype != t.dtype()) t = t.CastTo(*src.dtype);
  if (src.scale || src.offset) {
    if (src.dtype && !IsFloating(*src.dtype)) {
      return FieldError(job_path, src.field + (src.scale ? ".scale" : ".offset"),
                        absl::StrCat("needs a floating dtype, but dtype is ",
                                     std::string(DTypeName(*src.dtype))));
    }
    if (!IsFloating(t.dtype())) t = t.CastTo(DType::kFloat32);
    t = Affine(t, src.scale.value_or(1.0), src.offset.value_or(0.0));
  }
  if (src.reshape) {
    const int64_t n = t.shape().dim(0);
    const int64_t per_sample = n == 0 ? 0 : t.num_elements() / n;
    std::vector<int64_t> dims = *src.reshape;
    int64_t known = 1;
    for (int64_t d : dims) known *= d == -1 ? 1 : d;
    for (int64_t& d : dims) {
      if (d == -1 && known > 0 && per_sample % known == 0) d = per_sample / known;
    }
    Shape target(dims);
    if (target.NumElements() != per_sample) {
      return FieldError(
          job_path, src.field + ".reshape",
          absl::StrCat("cannot reshape samples of shape ", SampleShape(t.shape()), " (", per_sample,
                       " values) into ", Shape(*src.reshape).ToString()));
    }
    dims.insert(dims.begin(), n);
    t = t.Reshaped(Shape(dims));
  }
  return t;
}

absl::StatusOr<Dataset> LoadSplit(const JobSpec& job, const DataSplit& split,
                                  const std::string& split_field,
                                  const std::vector<TensorSpec>& inputs,
                                  const std::vector<TensorSpec>& outputs) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<const DataSource*> xs,
                          MatchSources(job, split.x, split_field + ".x", inputs, "input"));
  FORNAX_ASSIGN_OR_RETURN(std::vector<const DataSource*> ys,
                          MatchSources(job, split.y, split_field + ".y", outputs, "output"));
  Dataset data;
  int64_t samples = -1;
  const DataSource* first = nullptr;
  auto check_count = [&](const DataSource& src, const Tensor& t) -> absl::Status {
    if (samples < 0) {
      samples = t.shape().dim(0);
      first = &src;
    } else if (t.shape().dim(0) != samples) {
      return FieldError(job.path, src.field,
                        absl::StrCat(src.path, " holds ", t.shape().dim(0), " samples but ",
                                     first->field, " (", first->path, ") holds ", samples,
                                     "; x and y must have the same number of samples"));
    }
    return absl::OkStatus();
  };
  for (size_t i = 0; i < xs.size(); ++i) {
    const TensorSpec& input = inputs[i];
    FORNAX_ASSIGN_OR_RETURN(Tensor x, LoadSource(job.path, *xs[i], input.name));
    FORNAX_RETURN_IF_ERROR(check_count(*xs[i], x));
    std::vector<int64_t> want(input.shape.dims().begin() + 1, input.shape.dims().end());
    std::vector<int64_t> got(x.shape().dims().begin() + 1, x.shape().dims().end());
    if (want != got) {
      Shape want_shape(want);
      const bool same_size = want_shape.NumElements() == Shape(got).NumElements();
      return FieldError(
          job.path, xs[i]->field,
          absl::StrCat(
              "model input '", input.name, "' expects samples of shape ", want_shape.ToString(),
              " but ", xs[i]->path, " holds samples of shape ", Shape(got).ToString(),
              same_size ? absl::StrCat(" (add 'reshape: [", absl::StrJoin(want, ", "), "]')")
                        : ""));
    }
    data.x.push_back(x.dtype() == input.dtype ? x : x.CastTo(input.dtype));
  }
  for (size_t i = 0; i < ys.size(); ++i) {
    const TensorSpec& output = outputs[i];
    FORNAX_ASSIGN_OR_RETURN(Tensor y, LoadSource(job.path, *ys[i], output.name));
    FORNAX_RETURN_IF_ERROR(check_count(*ys[i], y));
    FORNAX_ASSIGN_OR_RETURN(y, PrepareLabels(job, *ys[i], std::move(y), output,
                                             LossNameFor(job.compile.loss, i, output.name)));
    data.y.push_back(std::move(y));
  }
  if (samples == 0) return FieldError(job.path, split_field, "the data holds no samples");
  return data;
}

absl::StatusOr<JobData> LoadJobData(const JobSpec& job, const Model& model) {
  if (!job.train) {
    return FieldError(job.path, "data.train", "required: the training data (x and y)");
  }
  JobData out;
  const std::vector<TensorSpec>& in = model.inputs();
  const std::vector<TensorSpec>& out_specs = model.outputs();
  FORNAX_ASSIGN_OR_RETURN(out.train, LoadSplit(job, *job.train, "data.train", in, out_specs));
  if (job.validation) {
    FORNAX_ASSIGN_OR_RETURN(out.validation,
                            LoadSplit(job, *job.validation, "data.validation", in, out_specs));
  }
  if (job.test) {
    FORNAX_ASSIGN_OR_RETURN(out.test, LoadSplit(job, *job.test, "data.test", in, out_specs));
  }
  return out;
}

}  // namespace fornax
