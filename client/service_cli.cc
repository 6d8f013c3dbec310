#include "client/service_cli.h"

#include <string.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/service_client.h"

namespace fornax {

absl::StatusOr<ServiceArgs> ParseServiceArgs(
    const std::string& command, const std::vector<std::string>& args,
    const std::string& global_coordinator, std::vector<std::string> value_flags,
    std::vector<std::string> switch_flags, const std::map<std::string, std::string>& short_flags) {
  std::vector<std::string> expanded;
  for (const std::string& arg : args) {
    auto it = short_flags.find(arg);
    expanded.push_back(it == short_flags.end() ? arg : it->second);
  }
  value_flags.push_back("coordinator");
  switch_flags.push_back("help");
  ServiceArgs out;
  out.command = command;
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(command, expanded, value_flags, switch_flags);
  if (!parsed.ok()) return parsed.status();
  out.parsed = *std::move(parsed);
  out.help = out.parsed.switches.count("help") > 0;
  auto flag = out.parsed.values.find("coordinator");
  out.coordinator =
      CoordinatorAddress(flag != out.parsed.values.end() ? flag->second : global_coordinator);
  return out;
}

int RunServiceCommand(const ServiceCommand& command, const std::string& global_coordinator,
                      const std::vector<std::string>& args,
                      const std::function<absl::Status(ServiceClient&, const ServiceArgs&)>& body) {
  absl::StatusOr<ServiceArgs> parsed =
      ParseServiceArgs(command.name, args, global_coordinator, command.value_flags,
                       command.switch_flags, command.short_flags);
  if (!parsed.ok()) return ReportError(parsed.status());
  if (parsed->help) {
    std::cout << command.help;
    return kExitOk;
  }
  if (command.positional >= 0) {
    absl::Status status =
        ExpectPositional(*parsed, static_cast<size_t>(command.positional), command.usage);
    if (!status.ok()) return ReportError(status);
  }
  ServiceClient client(parsed->coordinator);
  const absl::Status status = body(client, *parsed);
  return status.ok() ? kExitOk : ReportServiceError(status);
}

absl::Status ExpectPositional(const ServiceArgs& args, size_t count, const std::string& usage) {
  if (args.parsed.positional.size() == count) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("expected ", count, " argument", count == 1 ? "" : "s", ", got ",
                   args.parsed.positional.size(), " (usage: ", usage, ")"));
}

absl::StatusOr<int64_t> IntFlag(const ServiceArgs& args, const std::string& name, int64_t fallback,
                                int64_t min, int64_t max) {
  auto it = args.parsed.values.find(name);
  if (it == args.parsed.values.end()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(args.command, ": --", name,
                                                   ": expected an integer in [", min, ", ", max,
                                                   "], got '", it->second, "'"));
  }
  return value;
}

std::string Abbreviate(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  return absl::StrCat(text.substr(0, max_chars - 3), "...");
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  for (size_t c = 0; c < header.size(); ++c) widths[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      // The last column is not padded: no trailing blanks.
      absl::StrAppend(&line, row[c],
                      c + 1 < row.size() ? std::string(widths[c] - row[c].size() + 2, ' ') : "");
    }
    out << line << "\n";
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
  out << std::flush;
}

std::string HumanBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.1f %s", value, units[unit]);
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

std::string FormatMetrics(const v1::Metrics& metrics) {
  std::vector<std::pair<std::string, double>> items(metrics.values().begin(),
                                                    metrics.values().end());
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    const bool a_val = absl::StartsWith(a.first, "val_");
    const bool b_val = absl::StartsWith(b.first, "val_");
    return a_val != b_val ? b_val : a.first < b.first;
  });
  std::string out;
  for (const auto& [name, value] : items) {
    absl::StrAppend(&out, out.empty() ? "" : " ", name, "=", absl::StrFormat("%.4f", value));
  }
  return out;
}

std::string FormatFailureCause(const v1::Failure& failure, int epochs) {
  std::string cause;
  if (!failure.stopped_because().empty()) {
    // The worker's own stop: its signal would blame the wrong thing.
    cause = absl::StrCat("stopped by the worker because ", failure.stopped_because());
  } else if (failure.signal() != 0) {
    const char* abbrev = sigabbrev_np(failure.signal());
    cause = absl::StrCat("killed by signal ", failure.signal(),
                         abbrev != nullptr ? absl::StrCat(" (SIG", abbrev, ")") : "");
  } else {
    cause = absl::StrCat("exit code ", failure.exit_code());
  }
  // Failure.epoch is 0-based; people count epochs as Keras prints them.
  absl::StrAppend(&cause, " during epoch ", failure.epoch() + 1, "/", epochs,
                  ", at optimizer step ", failure.global_step());
  return cause;
}

}  // namespace fornax
