// The CPU backend's thread count, shared by our OpenMP loops and oneDNN
// (Debian's libdnnl uses the GNU OpenMP runtime, so both draw from one pool).
#include <omp.h>

#include <atomic>

#include "engine/backends/cpu/kernels/kernels.h"

namespace fornax::cpu {
namespace {

std::atomic<int> g_num_threads{0};

}  // namespace

void SetNumThreads(int n) { g_num_threads.store(n > 0 ? n : 0); }

int NumThreads() {
  const int n = g_num_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_num_procs();
}

}  // namespace fornax::cpu
