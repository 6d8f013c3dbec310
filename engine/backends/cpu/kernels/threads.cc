// The CPU backend's thread count, shared by our OpenMP loops and oneDNN
// (Debian's libdnnl uses the GNU OpenMP runtime, so both draw from one pool).
//
// The default is one thread, or FORNAX_NUM_THREADS when set: GNU OpenMP
// spin-waits at every barrier, and on a machine whose cores are busy with
// other work (parallel test runs, builds) a two-thread step measured 20x
// slower than a one-thread step. Callers that own the machine (the
// benchmark, `fornax train --threads`) ask for more with SetNumThreads.
//
// With more than one thread the team is pinned one thread per allowed CPU
// (as OMP_PROC_BIND=true would): on the 2-core machine the scheduler
// otherwise keeps swapping the caller and the worker between the cores, and
// every kernel that follows a parallel one starts with cold caches (MLP step
// 1.41 ms unpinned, 1.08-1.24 ms pinned).
#include "engine/backends/cpu/kernels/threads.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace fornax::cpu {
namespace {

int DefaultThreads() {
  const char* env = std::getenv("FORNAX_NUM_THREADS");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 1;
}

std::atomic<int> g_num_threads{0};
std::mutex g_pin_mu;
int g_pinned_team = 1;  // GUARDED_BY(g_pin_mu): the team size last pinned

// Pins OpenMP thread i of an n-thread team (the caller is thread 0) to the
// i-th CPU this process may use. No-op with fewer than two such CPUs.
void PinTeam(int n) {
  std::lock_guard<std::mutex> lock(g_pin_mu);
  if (n <= g_pinned_team) return;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  if (cpus.size() < 2) return;
  omp_set_num_threads(n);
#pragma omp parallel num_threads(n)
  {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[static_cast<size_t>(omp_get_thread_num()) % cpus.size()], &one);
    pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
  }
  g_pinned_team = n;
}

}  // namespace

void SetNumThreads(int n) {
  g_num_threads.store(n > 0 ? n : 0);
  if (n > 1) PinTeam(n);
}

int NumThreads() {
  const int n = g_num_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
  static const int kDefault = [] {
    const int d = DefaultThreads();
    if (d > 1) PinTeam(d);
    return d;
  }();
  return kDefault;
}

}  // namespace fornax::cpu
