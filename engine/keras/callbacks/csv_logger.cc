#include "engine/keras/callbacks/csv_logger.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

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

absl::Status CsvLogger::OnTrainBegin(TrainingControl&) {
  write_header_ = true;
  if (append_) {
    if (std::FILE* existing = std::fopen(filename_.c_str(), "r")) {
      write_header_ = std::fgetc(existing) == EOF;
      std::fclose(existing);
    }
  }
  if (file_ != nullptr) std::fclose(file_);
  file_ = std::fopen(filename_.c_str(), append_ ? "ab" : "wb");
  if (file_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("CSVLogger: cannot open '", filename_,
                                                   "' for writing: ", std::strerror(errno)));
  }
  keys_.clear();
  have_keys_ = false;
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
    if (write_header_) {
      std::string header = "epoch";
      for (const std::string& key : keys_) absl::StrAppend(&header, separator_, key);
      header += "\r\n";
      std::fputs(header.c_str(), file_);
    }
  }
  std::string row = absl::StrCat(epoch);
  for (const std::string& key : keys_) {
    auto it = logs.find(key);
    absl::StrAppend(&row, separator_, it == logs.end() ? "NA" : PythonFloatRepr(it->second));
  }
  row += "\r\n";
  std::fputs(row.c_str(), file_);
  std::fflush(file_);
  return absl::OkStatus();
}

absl::Status CsvLogger::OnTrainEnd(TrainingControl&, const Logs&) {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  return absl::OkStatus();
}

}  // namespace fornax
