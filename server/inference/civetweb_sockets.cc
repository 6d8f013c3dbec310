#include "server/inference/civetweb_sockets.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <functional>

namespace fornax::serving {
namespace {

// The local port of `fd` if it is a TCP socket over IPv4 or IPv6, else -1.
int LocalTcpPort(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return -1;
  int type = 0;
  socklen_t type_len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM) return -1;
  sockaddr_storage address{};
  socklen_t address_len = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_len) != 0) return -1;
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  }
  return -1;
}

bool IsListening(int fd) {
  int listening = 0;
  socklen_t len = sizeof(listening);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0;
}

bool IsConnected(int fd) {
  sockaddr_storage peer{};
  socklen_t len = sizeof(peer);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
}

// Calls `shut(fd)` for each of this process's TCP sockets on `port` that
// are listening (`listening`) or accepted connections (!`listening`; a
// listening socket already shut down is neither).
void ForEachSocket(int port, bool listening, const std::function<void(int)>& shut) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;  // no /proc: the stop takes civetweb's own time
  const int own = dirfd(dir);
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == own) continue;
    const int descriptor = static_cast<int>(fd);
    if (LocalTcpPort(descriptor) == port &&
        (listening ? IsListening(descriptor) : IsConnected(descriptor))) {
      shut(descriptor);
    }
  }
  closedir(dir);
}

}  // namespace

void ShutdownListeningSocket(int port) {
  ForEachSocket(port, /*listening=*/true, [](int fd) { shutdown(fd, SHUT_RDWR); });
}

int ShutdownAcceptedConnections(int port) {
  int shut = 0;
  ForEachSocket(port, /*listening=*/false, [&shut](int fd) {
    if (shutdown(fd, SHUT_RD) == 0) ++shut;
  });
  return shut;
}

}  // namespace fornax::serving
