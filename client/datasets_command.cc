// `fornax datasets upload FILE | ls | rm SHA256`: the coordinator's
// content-addressed dataset store.
#include <filesystem>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/dataset_upload.h"
#include "client/service_cli.h"
#include "engine/data/sha256.h"
#include "engine/base/status_macros.h"

namespace fornax {

const char kDatasetsHelp[] = R"(usage: fornax [--coordinator ADDR] datasets upload FILE
       fornax [--coordinator ADDR] datasets ls
       fornax [--coordinator ADDR] datasets rm SHA256

The coordinator's dataset store: files addressed by their sha256. `submit`
uploads a job's files itself; `upload` stores one ahead of time (printing its
sha256), `ls` lists them, `rm` deletes one (a unique prefix of its sha256 is
enough; refused while an unfinished job uses it).
)";

namespace {

constexpr char kUsage[] = "fornax datasets upload FILE | ls | rm SHA256";

absl::StatusOr<v1::ListDatasetsResponse> List(ServiceClient& client) {
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::ListDatasetsResponse response;
  FORNAX_RETURN_IF_ERROR(
      client.Check(client.datasets().ListDatasets(&context, v1::ListDatasetsRequest(), &response)));
  return response;
}

absl::Status Upload(ServiceClient& client, const std::string& path) {
  FORNAX_ASSIGN_OR_RETURN(FileDigest digest, Sha256File(path));
  const std::string name = std::filesystem::path(path).filename().string();
  FORNAX_ASSIGN_OR_RETURN(v1::Dataset dataset, UploadFile(client, path, name, digest));
  std::cout << dataset.sha256() << "  " << name << " (" << HumanBytes(digest.size_bytes)
            << (dataset.already_stored() ? ", already stored" : ", uploaded") << ")" << std::endl;
  return absl::OkStatus();
}

absl::Status Remove(ServiceClient& client, const std::string& prefix) {
  FORNAX_ASSIGN_OR_RETURN(v1::ListDatasetsResponse listed, List(client));
  std::vector<std::string> matches;
  for (const v1::Dataset& d : listed.datasets()) {
    if (absl::StartsWith(d.sha256(), prefix)) matches.push_back(d.sha256());
  }
  if (matches.empty()) {
    return absl::NotFoundError(absl::StrCat("no dataset with sha256 ", prefix));
  }
  if (matches.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sha256 prefix ", prefix, " matches ", matches.size(), " datasets"));
  }
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::DeleteDatasetRequest request;
  request.set_sha256(matches[0]);
  v1::DeleteDatasetResponse response;
  FORNAX_RETURN_IF_ERROR(
      client.Check(client.datasets().DeleteDataset(&context, request, &response)));
  std::cout << "deleted " << matches[0] << std::endl;
  return absl::OkStatus();
}

absl::Status Datasets(ServiceClient& client, const ServiceArgs& args) {
  const std::vector<std::string>& pos = args.parsed.positional;
  const std::string verb = pos.empty() ? "" : pos[0];
  if (verb == "upload" && pos.size() == 2) return Upload(client, pos[1]);
  if (verb == "rm" && pos.size() == 2) return Remove(client, pos[1]);
  if (verb == "ls" && pos.size() == 1) {
    FORNAX_ASSIGN_OR_RETURN(v1::ListDatasetsResponse listed, List(client));
    std::vector<std::vector<std::string>> rows;
    for (const v1::Dataset& d : listed.datasets()) {
      rows.push_back(
          {d.sha256(), HumanBytes(d.size_bytes()), FormatTime(d.create_time()), d.name()});
    }
    PrintTable(std::cout, {"SHA256", "SIZE", "CREATED", "NAME"}, rows);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("datasets: usage: ", kUsage));
}

}  // namespace

int RunDatasets(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand({"datasets", kDatasetsHelp, {}, {}, -1, kUsage}, coordinator, args,
                           Datasets);
}

}  // namespace fornax
