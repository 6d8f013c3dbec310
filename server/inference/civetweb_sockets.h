// Making a civetweb server (ours in http_server.h, prometheus-cpp's Exposer)
// stop at once.
//
// mg_stop only sets a flag, which civetweb 1.15's threads read between
// polls of at most SOCKET_TIMEOUT_QUANTUM (2 s, fixed when civetweb is
// compiled; no option changes it): the master thread polls the listening
// socket with it and joins every worker once it sees the flag, and a worker
// polls an idle keep-alive connection with it. So mg_stop took whatever was
// left of the master's current 2 s poll (0-2 s, 1 s on average; strace shows
// poll(..., 2000) returning Timeout), and up to 2 s more per idle
// keep-alive connection. Shutting the sockets down first wakes those polls
// at once: the listening socket's poll returns (accept then fails) and the
// master sees the flag; a connection reads end-of-stream and its worker
// closes it.
//
// The sockets are found by port among this process's file descriptors
// (/proc/self/fd) and only shut down (shutdown(2)), never closed: civetweb
// still owns and closes them.
// Thread-safety: the functions may be called from any thread.
#ifndef FORNAX_SERVER_INFERENCE_CIVETWEB_SOCKETS_H_
#define FORNAX_SERVER_INFERENCE_CIVETWEB_SOCKETS_H_

namespace fornax::serving {

// Shuts down this process's listening TCP socket on `port`: connections are
// refused from then on and the server's master thread stops polling it.
// Call just before mg_stop (or destroying the Exposer) on that port; the
// socket stays open until then, so the descriptor found is that socket.
void ShutdownListeningSocket(int port);

// Shuts down the reading side of this process's accepted TCP connections on
// `port` and returns how many: a worker waiting for a keep-alive
// connection's next request reads end-of-stream; a request in flight (or
// already received) can still send its reply. The caller
// must keep civetweb from closing those connections meanwhile (HttpServer
// holds the lock its connection_close callback takes), or a descriptor
// closed and reused between finding and shutting it could be another
// socket.
int ShutdownAcceptedConnections(int port);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_CIVETWEB_SOCKETS_H_
