// asio_line_server: the bare-Asio baseline of scripts/server-cpu. reference_server's line
// protocol ("<line>\r\n" in, "ack:<line>\r\n" out) with nothing but Asio and the standard
// library: no stage timing, no counters, no bounds, no admin endpoint, no drain.
//
//   --mode inline  answers on the io_context thread
//   --mode hop     hands each line to an asio::thread_pool whose task posts the reply back to
//                  the io_context: dispatch_bench's BM_AsioPostRoundTrip, with sockets around it
//
// Each connection reads up to 64 KiB at a time and writes what its replies have queued with one
// async_write while none is in progress, as reference_server does, so the two differ only in
// what the reference server adds. SIGINT/SIGTERM stop it at once.
#include <CLI/CLI.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/thread_pool.hpp>
#include <asio/write.hpp>

#include <array>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace {

using asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `pool`: null in inline mode.
  Session(tcp::socket socket, asio::thread_pool* pool) : socket_(std::move(socket)), pool_(pool) {}

  void read() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](std::error_code error, std::size_t n) {
                              if (!error) self->on_read(n);
                            });
  }

 private:
  void on_read(std::size_t bytes) {
    pending_.append(buffer_.data(), bytes);
    std::size_t start = 0;
    for (std::size_t end; (end = pending_.find("\r\n", start)) != std::string::npos;
         start = end + 2) {
      handle(pending_.substr(start, end - start));
    }
    pending_.erase(0, start);
    read();
  }

  void handle(std::string line) {
    if (pool_ == nullptr) return send("ack:" + line);
    asio::post(*pool_, [self = shared_from_this(), line = std::move(line)]() mutable {
      // The worker gives up its reference: the session is only ever released on the reactor.
      auto executor = self->socket_.get_executor();
      asio::post(executor, [self = std::move(self), reply = "ack:" + line] { self->send(reply); });
    });
  }

  void send(const std::string& reply) {
    outbox_.append(reply).append("\r\n");
    if (!writing_) flush();
  }

  void flush() {
    if (outbox_.empty()) return;
    writing_ = true;
    in_transit_.swap(outbox_);
    asio::async_write(socket_, asio::buffer(in_transit_),
                      [self = shared_from_this()](std::error_code error, std::size_t) {
                        self->writing_ = false;
                        self->in_transit_.clear();
                        if (!error) self->flush();
                      });
  }

  tcp::socket socket_;
  asio::thread_pool* pool_;
  std::array<char, 64 * 1024> buffer_;
  std::string pending_;  // bytes after the last complete line
  std::string outbox_;
  std::string in_transit_;
  bool writing_ = false;
};

void accept(tcp::acceptor& acceptor, asio::thread_pool* pool) {
  acceptor.async_accept([&acceptor, pool](std::error_code error, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!error) {
      socket.set_option(tcp::no_delay(true), error);  // as reference_server
      std::make_shared<Session>(std::move(socket), pool)->read();
    }
    accept(acceptor, pool);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "inline";
  std::size_t pool_size = 4;
  std::uint16_t port = 0;
  std::string port_file;
  CLI::App app{
      "asio_line_server - bare-Asio baseline for scripts/server-cpu: \"<line>\\r\\n\" is "
      "answered \"ack:<line>\\r\\n\""};
  app.add_option("--mode", mode, "inline (on the io_context thread) or hop (asio::thread_pool)")
      ->check(CLI::IsMember({"inline", "hop"}))
      ->capture_default_str();
  app.add_option("--pool-size", pool_size, "threads of the pool in hop mode")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--port", port, "TCP port on 127.0.0.1; 0 picks a free one")
      ->capture_default_str();
  app.add_option("--port-file", port_file, "write the port to this file once listening");
  CLI11_PARSE(app, argc, argv);

  asio::io_context context;
  // Declared after the context: destroyed (stopped and joined) before it.
  std::optional<asio::thread_pool> pool;
  if (mode == "hop") pool.emplace(pool_size);
  tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::address_v4::loopback(), port));
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << acceptor.local_endpoint().port() << '\n';
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  asio::signal_set signals(context, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) { context.stop(); });
  accept(acceptor, pool ? &*pool : nullptr);
  context.run();
  return 0;
}
