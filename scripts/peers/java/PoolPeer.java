// PoolPeer: the pattern reference_server measures, built the way a Java programmer would build
// it with the standard library only, so that `loadgen sweep --server-cmd "java -cp
// BUILD/peers/java PoolPeer --port {port} --mode {mode} --pool-size {pool} --work {work}"`
// measures Java and our server with one tool.
//
// What it models: one thread owns an NIO Selector and every non-blocking socket. It cuts lines
// at \r\n (a lone \n is part of the line) and answers each with ack:<line>\r\n, or
// err:<what>|<line>\r\n when the work fails (--fail-rate: "injected failure").
//   inline          the work runs on the selector thread, so every connection waits for it;
//                   replies leave in arrival order.
//   call-in-thread  (alias thread-pool) the work goes to a ThreadPoolExecutor with
//                   --pool-size core and maximum threads and an unbounded LinkedBlockingQueue;
//                   the worker puts the finished reply on a ConcurrentLinkedQueue and wakes the
//                   selector, which writes it. Replies leave in completion order.
// The work grammar and its costs are WorkSpec.java's (reference_server's grammar).
//
// Threading: the selector thread (main) alone touches connections, channels and the selector's
// keys. Workers touch only the line they were given, their own Random and the `finished`
// queue (a Connection travels with the reply but only the selector thread reads it), then call
// selector.wakeup(). Signal handlers (JVM signal threads) set `stopRequested`, wake the
// selector and start the drain-limit thread; a second signal, or that thread after 10 s,
// halts the process (a cut drain).
//
// Where it departs from reference_server (reference_server/README.md):
// * Only the flags listed by --help; no admin endpoint or stats, no --lf, --max-queue,
//   --max-output, per-connection in-flight bound, idle timeout or connection limit.
// * Inline, all the lines of one read run in one go (no 16-line or 1 ms turn), so a
//   pipelining client can hold the selector longer than it could hold ours.
// * The drain limit is a fixed 10 s (no --drain-timeout); SIGHUP is not handled.
// * A JVM: the first requests run before the JIT has compiled the hot paths, and garbage
//   collection may pause every thread now and then. Worker threads start on demand and stay.

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import sun.misc.Signal;

public final class PoolPeer {
  private static final String SQL_REFUSED =
      "sql: work needs a database client; this peer has none (reference_server and "
      + "scripts/twisted_server.py have one)";
  private static final long DRAIN_LIMIT_MS = 10_000;
  private static final int READ_SIZE = 64 * 1024;
  // Asked of the kernel, which caps it at net.core.somaxconn (Java's default would be 50).
  private static final int LISTEN_BACKLOG = 4096;

  /** A request chosen by --fail-rate to fail. */
  private static final class InjectedFailure extends RuntimeException {
    private static final long serialVersionUID = 1;

    InjectedFailure() { super("injected failure", null, false, false); }
  }

  /** One client. Touched by the selector thread only. */
  private static final class Connection {
    final SocketChannel channel;
    SelectionKey key;
    byte[] input = new byte[4096];
    int inputLength;
    int scanFrom; // no \r\n starts before this index of `input`
    final ArrayDeque<ByteBuffer> output = new ArrayDeque<>();
    int inFlight; // dispatched, not yet answered
    boolean reading = true;
    boolean closed;

    Connection(SocketChannel channel) { this.channel = channel; }
  }

  /** A worker's finished reply, handed to the selector thread. */
  private record Finished(Connection connection, byte[] reply) {}

  private final PeerOptions options;
  private final Selector selector;
  private final ServerSocketChannel listener;
  private final ThreadPoolExecutor pool; // null inline
  private final ConcurrentLinkedQueue<Finished> finished = new ConcurrentLinkedQueue<>();
  private final Set<Connection> connections = new HashSet<>();
  private final Set<Connection> toFlush = new LinkedHashSet<>();
  private final ByteBuffer readBuffer = ByteBuffer.allocate(READ_SIZE);
  private final ThreadLocal<Random> random;
  private final AtomicInteger signals = new AtomicInteger();
  private volatile boolean stopRequested;
  private boolean draining;

  private PoolPeer(PeerOptions options) throws IOException {
    this.options = options;
    selector = Selector.open();
    listener = ServerSocketChannel.open();
    listener.bind(new InetSocketAddress(options.bind, options.port), LISTEN_BACKLOG);
    listener.configureBlocking(false);
    listener.register(selector, SelectionKey.OP_ACCEPT);
    pool = options.mode.equals("inline") ? null : newPool(options.poolSize);
    random = randomPerThread(options.seed);
  }

  public static void main(String[] args) {
    PeerOptions options;
    try {
      options = PeerOptions.parse(args);
    } catch (IllegalArgumentException bad) {
      throw exitWith(2, "PoolPeer: error: " + bad.getMessage());
    }
    if (options.help) {
      System.out.print(PeerOptions.USAGE);
      System.exit(0);
    }
    if (options.printWork != null) printWork(options.printWork);
    if (options.work.hasSql()) throw exitWith(2, "PoolPeer: error: " + SQL_REFUSED);
    PoolPeer peer = listen(options);
    peer.handleSignals(); // before the port is announced: a signal from then on drains
    peer.announce();
    try {
      peer.run();
    } catch (IOException broken) {
      throw exitWith(1, "PoolPeer: error: " + broken);
    }
    System.exit(0);
  }

  // Never returns; written `throw exitWith(...)` so the compiler knows the path ends there.
  private static RuntimeException exitWith(int status, String message) {
    System.err.println(message);
    System.exit(status);
    return new IllegalStateException("unreachable");
  }

  // --print-work: one JSON line and exit 0, or the parse error on stderr and exit 2.
  private static void printWork(String text) {
    try {
      WorkSpec spec = WorkSpec.parse(text);
      System.out.println("{\"canonical\": " + jsonString(spec.toString())
          + ", \"cpu_ns\": " + jsonNumber(spec.meanNanoseconds(WorkSpec.Kind.SPIN))
          + ", \"blocking_ns\": " + jsonNumber(spec.meanNanoseconds(WorkSpec.Kind.SLEEP)) + "}");
      System.exit(0);
    } catch (IllegalArgumentException bad) {
      throw exitWith(2, bad.getMessage());
    }
  }

  private static String jsonString(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    return out.append('"').toString();
  }

  // Whole numbers as integers (they are exact below 2^53), anything else as Java spells it.
  private static String jsonNumber(double value) {
    if (value == Math.rint(value) && Math.abs(value) < 9e15) return Long.toString((long) value);
    return Double.toString(value);
  }

  private static PoolPeer listen(PeerOptions options) {
    PoolPeer peer;
    try {
      peer = new PoolPeer(options);
    } catch (IOException | RuntimeException cannot) {
      throw exitWith(2,
          "PoolPeer: error: cannot listen on " + options.bind + ":" + options.port + ": " + cannot);
    }
    return peer;
  }

  private void announce() {
    int port = listener.socket().getLocalPort();
    if (options.portFile != null) writePortFile(options.portFile, port);
    System.err.println("listening on " + options.bind + ":" + port);
  }

  // Written to a temporary file, then renamed, so a reader never sees a partial number.
  private static void writePortFile(String file, int port) {
    Path target = Paths.get(file).toAbsolutePath();
    Path temporary =
        target.resolveSibling(target.getFileName() + ".tmp" + ProcessHandle.current().pid());
    try {
      Files.writeString(temporary, port + "\n");
      Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException cannot) {
      throw exitWith(2, "PoolPeer: error: cannot write --port-file " + file + ": " + cannot);
    }
  }

  private static ThreadPoolExecutor newPool(int size) {
    AtomicInteger made = new AtomicInteger();
    return new ThreadPoolExecutor(
        size, size, 0L, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), task -> {
          Thread worker = new Thread(task, "worker-" + made.incrementAndGet());
          worker.setDaemon(true); // a cut drain abandons them
          return worker;
        });
  }

  // Each thread draws from its own generator; with --seed, seeded from it and the thread's order.
  private static ThreadLocal<Random> randomPerThread(Long seed) {
    AtomicLong next = new AtomicLong(seed == null ? new Random().nextLong() : seed);
    return ThreadLocal.withInitial(() -> new Random(next.getAndIncrement()));
  }

  // ---- signals ----

  private void handleSignals() {
    Signal.handle(new Signal("TERM"), signal -> onSignal());
    Signal.handle(new Signal("INT"), signal -> onSignal());
  }

  private void onSignal() {
    if (signals.incrementAndGet() > 1) cutDrain("a second signal");
    stopRequested = true;
    selector.wakeup();
    Thread limit = new Thread(() -> {
      try {
        Thread.sleep(DRAIN_LIMIT_MS);
      } catch (InterruptedException ignored) {
        return;
      }
      cutDrain("the drain took over " + DRAIN_LIMIT_MS / 1000 + " s");
    }, "drain-limit");
    limit.setDaemon(true);
    limit.start();
  }

  private static void cutDrain(String why) {
    System.err.println("PoolPeer: drain cut by " + why + "; requests in flight are abandoned");
    Runtime.getRuntime().halt(3);
  }

  // ---- the selector loop ----

  private void run() throws IOException {
    while (!(draining && connections.isEmpty())) {
      selector.select();
      if (stopRequested && !draining) startDrain();
      deliverFinished();
      for (SelectionKey key : selector.selectedKeys()) {
        handle(key);
      }
      selector.selectedKeys().clear();
      flushAll();
    }
    if (pool != null) pool.shutdownNow();
  }

  private void startDrain() throws IOException {
    draining = true;
    listener.close();
    for (Connection connection : new ArrayList<>(connections)) {
      connection.reading = false;
      connection.inputLength = 0;
      toFlush.add(connection);
    }
  }

  private void handle(SelectionKey key) throws IOException {
    if (!key.isValid()) return;
    if (key.isAcceptable()) {
      acceptAll();
      return;
    }
    Connection connection = (Connection) key.attachment();
    if (key.isReadable() && connection.reading) read(connection);
    if (key.isValid() && key.isWritable()) toFlush.add(connection);
  }

  private void acceptAll() throws IOException {
    for (SocketChannel channel; (channel = listener.accept()) != null;) {
      channel.configureBlocking(false);
      channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
      Connection connection = new Connection(channel);
      connection.key = channel.register(selector, SelectionKey.OP_READ, connection);
      connections.add(connection);
    }
  }

  private void read(Connection connection) {
    readBuffer.clear();
    int count;
    try {
      count = connection.channel.read(readBuffer);
    } catch (IOException gone) {
      close(connection);
      return;
    }
    if (count < 0) {
      connection.reading = false; // the client may still read our replies
    } else {
      append(connection, readBuffer.array(), count);
      takeLines(connection);
    }
    toFlush.add(connection);
  }

  private static void append(Connection connection, byte[] bytes, int count) {
    int needed = connection.inputLength + count;
    if (needed > connection.input.length) {
      connection.input =
          Arrays.copyOf(connection.input, Math.max(needed, connection.input.length * 2));
    }
    System.arraycopy(bytes, 0, connection.input, connection.inputLength, count);
    connection.inputLength = needed;
  }

  // Dispatches every complete line, keeps the incomplete rest; an overlong line stops reading.
  private void takeLines(Connection connection) {
    int start = 0;
    for (int end; (end = indexOfCrlf(connection, Math.max(start, connection.scanFrom))) >= 0;) {
      if (end - start > options.maxLine) {
        refuseLongLine(connection);
        return;
      }
      dispatch(connection, Arrays.copyOfRange(connection.input, start, end));
      start = end + 2;
    }
    int rest = connection.inputLength - start;
    System.arraycopy(connection.input, start, connection.input, 0, rest);
    connection.inputLength = rest;
    connection.scanFrom = Math.max(0, rest - 1); // a trailing \r may meet its \n next read
    if (rest >= options.maxLine + 2) refuseLongLine(connection);
  }

  private static int indexOfCrlf(Connection connection, int from) {
    for (int i = from; i + 1 < connection.inputLength; ++i) {
      if (connection.input[i] == '\r' && connection.input[i + 1] == '\n') return i;
    }
    return -1;
  }

  private void refuseLongLine(Connection connection) {
    connection.output.add(
        ByteBuffer.wrap("err:line too long\r\n".getBytes(StandardCharsets.US_ASCII)));
    connection.reading = false;
    connection.inputLength = 0;
  }

  private void dispatch(Connection connection, byte[] line) {
    ++connection.inFlight;
    if (pool == null) {
      deliver(connection, respond(line));
      return;
    }
    pool.execute(() -> {
      finished.add(new Finished(connection, respond(line)));
      selector.wakeup();
    });
  }

  // Runs the work on the calling thread; returns the reply's bytes.
  private byte[] respond(byte[] line) {
    String prefix;
    try {
      Random generator = random.get();
      options.work.perform(generator);
      if (options.failRate > 0 && generator.nextDouble() < options.failRate) {
        throw new InjectedFailure();
      }
      prefix = "ack:";
    } catch (RuntimeException failure) {
      String what =
          failure.getMessage() == null ? failure.getClass().getName() : failure.getMessage();
      prefix = "err:" + what.replaceAll("[|\r\n]", "/") + "|";
    }
    byte[] head = prefix.getBytes(StandardCharsets.UTF_8);
    byte[] reply = Arrays.copyOf(head, head.length + line.length + 2);
    System.arraycopy(line, 0, reply, head.length, line.length);
    reply[reply.length - 2] = '\r';
    reply[reply.length - 1] = '\n';
    return reply;
  }

  private void deliverFinished() {
    for (Finished done; (done = finished.poll()) != null;) {
      deliver(done.connection(), done.reply());
    }
  }

  private void deliver(Connection connection, byte[] reply) {
    --connection.inFlight;
    if (connection.closed) return; // its client is gone: nobody to answer
    connection.output.add(ByteBuffer.wrap(reply));
    toFlush.add(connection);
  }

  private void flushAll() {
    for (Connection connection : toFlush) {
      if (!connection.closed) flush(connection);
    }
    toFlush.clear();
  }

  // Writes what the socket takes now; the rest waits for OP_WRITE.
  private void flush(Connection connection) {
    ArrayDeque<ByteBuffer> output = connection.output;
    try {
      if (!output.isEmpty()) connection.channel.write(output.toArray(new ByteBuffer[0]));
    } catch (IOException gone) {
      close(connection);
      return;
    }
    while (!output.isEmpty() && !output.peek().hasRemaining()) {
      output.poll();
    }
    if (!connection.reading && connection.inFlight == 0 && output.isEmpty()) {
      close(connection);
      return;
    }
    int interest = connection.reading ? SelectionKey.OP_READ : 0;
    connection.key.interestOps(interest | (output.isEmpty() ? 0 : SelectionKey.OP_WRITE));
  }

  private void close(Connection connection) {
    connection.closed = true;
    connection.key.cancel();
    connections.remove(connection);
    try {
      connection.channel.close();
    } catch (IOException ignored) {
      // closing a socket that already failed: nothing left to do with it
    }
  }
}
