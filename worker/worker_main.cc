// fornax-worker: the daemon (worker.h), or `fornax-worker run-job`, the job
// process it starts for each assignment (run_job.h).
#include <iostream>
#include <string>
#include <vector>

#include "worker/run_job.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "run-job") {
    return fornax::worker::RunJobCommand({args.begin() + 1, args.end()});
  }
  std::cerr << "fornax-worker: daemon not written yet\n";
  return 1;
}
