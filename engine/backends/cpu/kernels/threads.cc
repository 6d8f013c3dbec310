// The CPU backend's thread count, shared by our OpenMP loops and oneDNN
// (Debian's libdnnl uses the GNU OpenMP runtime, so both draw from one pool).
//
// The default is one thread, or FORNAX_NUM_THREADS when set: GNU OpenMP
// spin-waits at every barrier, and on a machine whose cores are busy with
// other work (parallel test runs, builds) a two-thread step measured 20x
// slower than a one-thread step. Callers that own the machine (the
// benchmark, `fornax train --threads`) ask for more with SetNumThreads.
#include <omp.h>

#include <atomic>
#include <cstdlib>

#include "engine/backends/cpu/kernels/kernels.h"

namespace fornax::cpu {
namespace {

int DefaultThreads() {
  const char* env = std::getenv("FORNAX_NUM_THREADS");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 1;
}

std::atomic<int> g_num_threads{0};

}  // namespace

void SetNumThreads(int n) { g_num_threads.store(n > 0 ? n : 0); }

int NumThreads() {
  const int n = g_num_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
  static const int kDefault = DefaultThreads();
  return kDefault;
}

}  // namespace fornax::cpu
