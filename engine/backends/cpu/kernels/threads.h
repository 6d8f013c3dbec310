// The CPU kernels' threads: how many there are (SetNumThreads, NumThreads)
// and the one way a kernel splits a loop across them (ParallelFor).
// Thread-safety: all of it may be called from any thread; SetNumThreads
// applies to kernels that start after it returns.
#ifndef FORNAX_ENGINE_BACKENDS_CPU_KERNELS_THREADS_H_
#define FORNAX_ENGINE_BACKENDS_CPU_KERNELS_THREADS_H_

#include <omp.h>

#include <cstdint>

namespace fornax::cpu {

// Threads the CPU kernels use; n <= 0 restores the default (1, or the
// FORNAX_NUM_THREADS environment variable).
void SetNumThreads(int n);
int NumThreads();

// Thread t's share [begin, end) of n items in a team of `threads`: the split
// GNU OpenMP's schedule(static) makes (the first n % threads threads take
// one item more), so a tensor's halves stay on the cores that held them
// under the `omp for` loops this replaced.
struct Share {
  int64_t begin, end;
};
inline Share StaticShare(int64_t n, int t, int threads) {
  int64_t q = n / threads;
  int64_t extra = n % threads;
  if (t < extra) {
    ++q;
    extra = 0;
  }
  const int64_t begin = q * t + extra;
  return Share{begin, begin + q};
}

// Runs body(begin, end) over the items [0, n). When `worth_threads` is
// false (the kernel's size threshold) or the team is one thread, that is a
// single call body(0, n) on the calling thread, with no OpenMP region: GNU
// OpenMP ends every region, even an if(false) or one-thread one, with a
// futex wake syscall, and a batch-1 MLP predict made 8 of them when each
// kernel opened its region unconditionally. Otherwise each thread of the
// team calls it once on its StaticShare, so per-thread scratch can live in
// the body.
template <typename Body>
void ParallelFor(int64_t n, bool worth_threads, const Body& body) {
  const int threads = worth_threads ? NumThreads() : 1;
  if (threads <= 1) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const Share share = StaticShare(n, omp_get_thread_num(), omp_get_num_threads());
    body(share.begin, share.end);
  }
}

}  // namespace fornax::cpu

#endif  // FORNAX_ENGINE_BACKENDS_CPU_KERNELS_THREADS_H_
