#include "engine/keras/callbacks/csv_logger.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fornax {

std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  // Shortest round-trip digits in scientific form: "-d.ddde+XX".
  auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);
  const bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string out;
  if (negative) out.push_back('-');
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out.append("0.");
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out.append(digits);
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out.append(digits);
      out.append(static_cast<size_t>(exponent + 1) - digits.size(), '0');
      out.append(".0");
    } else {
      const size_t point = static_cast<size_t>(exponent + 1);
      out.append(digits, 0, point);
      out.push_back('.');
      out.append(digits, point, std::string::npos);
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) {
    out.push_back('.');
    out.append(digits, 1, std::string::npos);
  }
  const int abs_exp = std::abs(exponent);
  absl::StrAppend(&out, "e", exponent < 0 ? "-" : "+", abs_exp < 10 ? "0" : "", abs_exp);
  return out;
}

CsvLogger::~CsvLogger() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status CsvLogger::OpenError() const {
  return absl::InvalidArgumentError(
      absl::StrCat("CSVLogger: cannot open '", filename_, "' for writing: ", std::strerror(errno)));
}

std::string CsvLogger::Header() const {
  std::string header = "epoch";
  for (const std::string& key : keys_) absl::StrAppend(&header, separator_, key);
  return header + "\r\n";
}

absl::Status CsvLogger::OnTrainBegin(TrainingControl&) {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  if (resumed_) {
    resumed_ = false;
    return Reopen();
  }
  // As Keras: a header unless append finds a file with something in it.
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(filename_, ec);
  kept_bytes_ = append_ && !ec ? size : 0;
  file_ = std::fopen(filename_.c_str(), append_ ? "ab" : "wb");
  if (file_ == nullptr) return OpenError();
  keys_.clear();
  have_keys_ = false;
  rows_.clear();
  return absl::OkStatus();
}

absl::Status CsvLogger::Reopen() {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(filename_, ec);
  const bool kept_here = kept_bytes_ > 0 && !ec && size >= kept_bytes_;
  if (kept_here) {
    std::filesystem::resize_file(filename_, kept_bytes_, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("CSVLogger: cannot cut '", filename_, "' back to the ", kept_bytes_,
                       " bytes it had before the run: ", ec.message()));
    }
  } else {
    // What the file held before the run is not here (it stayed on the
    // machine that ran the first attempt): the file is this run's alone.
    kept_bytes_ = 0;
  }
  file_ = std::fopen(filename_.c_str(), kept_here ? "ab" : "wb");
  if (file_ == nullptr) return OpenError();
  const std::string text = (have_keys_ && kept_bytes_ == 0 ? Header() : "") + rows_;
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
  return absl::OkStatus();
}

absl::Status CsvLogger::OnEpochEnd(TrainingControl&, int epoch, const Logs& logs) {
  if (file_ == nullptr) return absl::FailedPreconditionError("CSVLogger: training has not begun");
  if (!have_keys_) {
    have_keys_ = true;
    for (const auto& [name, value] : logs) keys_.push_back(name);  // std::map: sorted
    const bool has_val = std::any_of(keys_.begin(), keys_.end(), [](const std::string& k) {
      return absl::StartsWith(k, "val_");
    });
    if (!has_val && !keys_.empty()) {
      const size_t n = keys_.size();
      for (size_t i = 0; i < n; ++i) keys_.push_back("val_" + keys_[i]);
    }
    if (kept_bytes_ == 0) std::fputs(Header().c_str(), file_);
  }
  std::string row = absl::StrCat(epoch);
  for (const std::string& key : keys_) {
    auto it = logs.find(key);
    absl::StrAppend(&row, separator_, it == logs.end() ? "NA" : PythonFloatRepr(it->second));
  }
  row += "\r\n";
  std::fputs(row.c_str(), file_);
  std::fflush(file_);
  rows_ += row;
  return absl::OkStatus();
}

absl::Status CsvLogger::OnTrainEnd(TrainingControl&, const Logs&) {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  return absl::OkStatus();
}

nlohmann::json CsvLogger::State() const {
  return {{"kept_bytes", kept_bytes_},
          {"keys", have_keys_ ? nlohmann::json(keys_) : nlohmann::json()},
          {"rows", rows_}};
}

absl::Status CsvLogger::ResumeFrom(const nlohmann::json& state) {
  // A checkpoint from before CSVLogger kept its rows: the file starts afresh.
  if (state.is_null()) return absl::OkStatus();
  const auto expected = [](const char* field, const char* what) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected ", what));
  };
  if (!state.is_object()) return expected("state", "an object");
  const nlohmann::json kept = state.value("kept_bytes", nlohmann::json());
  const nlohmann::json keys = state.value("keys", nlohmann::json());
  const nlohmann::json rows = state.value("rows", nlohmann::json());
  if (!kept.is_number_integer() || kept.get<int64_t>() < 0) {
    return expected("kept_bytes", "a byte count");
  }
  const bool key_names =
      keys.is_array() && std::all_of(keys.begin(), keys.end(),
                                     [](const nlohmann::json& key) { return key.is_string(); });
  if (!keys.is_null() && !key_names) return expected("keys", "null or a list of column names");
  if (!rows.is_string()) return expected("rows", "a string (the rows written)");
  kept_bytes_ = kept.get<uint64_t>();
  have_keys_ = !keys.is_null();
  keys_ = have_keys_ ? keys.get<std::vector<std::string>>() : std::vector<std::string>();
  rows_ = rows.get<std::string>();
  resumed_ = true;
  return absl::OkStatus();
}

}  // namespace fornax
