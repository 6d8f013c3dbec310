// CHECK for broken internal invariants (never for user input: that returns
// absl::Status). A failed CHECK prints the condition and location and aborts.
#ifndef FORNAX_ENGINE_BASE_CHECK_H_
#define FORNAX_ENGINE_BASE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FORNAX_CHECK(cond)                                                          \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

#ifdef NDEBUG
#define FORNAX_DCHECK(cond) \
  do {                      \
  } while (0)
#else
#define FORNAX_DCHECK(cond) FORNAX_CHECK(cond)
#endif

#endif  // FORNAX_ENGINE_BASE_CHECK_H_
