// PoolPeer's command line: reference_server's flag names, meanings and defaults, for the subset
// this peer implements, plus --print-work. A bad flag throws IllegalArgumentException; main
// turns that into exit status 2.

import java.util.Map;

final class PeerOptions {
  // One line of the help text per source line.
  // clang-format off
  static final String USAGE =
      String.join(
          "\n",
          "Usage: java -cp BUILD/peers/java PoolPeer [OPTIONS]",
          "",
          "A line-protocol server with the flags of reference_server, written with Java's NIO",
          "Selector and a ThreadPoolExecutor. Each line ending in \\r\\n is answered",
          "ack:<line>\\r\\n once its work is done, or err:<what>|<line>\\r\\n if the work fails.",
          "",
          "Options:",
          "  --port N          TCP port; 0 picks a free one (default 9090)",
          "  --bind ADDR       address to listen on (default 127.0.0.1)",
          "  --port-file PATH  write the chosen port to PATH (a temporary file, then a rename)",
          "  --mode M          where the work runs: inline (on the selector thread, which it",
          "                    blocks) or call-in-thread (alias thread-pool: a fixed",
          "                    ThreadPoolExecutor, the reply written by the selector thread)",
          "                    (default call-in-thread)",
          "  --pool-size N     worker threads of call-in-thread, at least 1 (default 10)",
          "  --work SPEC       per-request work, reference_server's grammar: none, or parts",
          "                    joined by + run in turn: sleep:DUR (blocks, no CPU) or spin:DUR",
          "                    (DUR of the running thread's own CPU time), each optionally",
          "                    with ,exp and ,pPROB=DUR outliers (default sleep:10ms). sql:",
          "                    parts parse but are refused: this peer has no database client",
          "  --fail-rate P     probability in [0, 1] that a request fails with",
          "                    err:injected failure|<line> (default 0)",
          "  --seed N          seed of the random choices (default: a random seed)",
          "  --max-line N      longest line in bytes; a longer one gets err:line too long and",
          "                    the connection closes (default 16384)",
          "  --print-work SPEC print SPEC's canonical spelling and mean costs as one JSON line",
          "                    and exit",
          "  --help            print this text and exit",
          "",
          "On SIGTERM or SIGINT it stops accepting and reading, answers every request it has",
          "read, and exits. A second signal, or 10 s without finishing, cuts the drain.",
          "",
          "EXIT STATUS",
          "  0  stopped cleanly (every request read was answered), or --help / --print-work",
          "  1  an unexpected I/O error of the selector (the message says which)",
          "  2  bad flags, a bad --work spec (or one with sql: parts), a port that cannot be",
          "     bound or a port file that cannot be written",
          "  3  the drain was cut by a second signal or by its 10 s limit",
          "");
  // clang-format on

  private static final Map<String, String> MODES = Map.of(
      "inline", "inline", "call-in-thread", "call-in-thread", "thread-pool", "call-in-thread");

  int port = 9090;
  String bind = "127.0.0.1";
  String portFile;
  String mode = "call-in-thread"; // canonical name
  int poolSize = 10;
  WorkSpec work = WorkSpec.parse("sleep:10ms");
  double failRate = 0;
  Long seed; // null: random
  int maxLine = 16384;
  String printWork; // --print-work's SPEC, null if not given
  boolean help;

  static PeerOptions parse(String[] args) {
    PeerOptions options = new PeerOptions();
    for (int i = 0; i < args.length; ++i) {
      String name = args[i];
      String value = null;
      int equals = name.indexOf('=');
      if (name.startsWith("--") && equals > 0) {
        value = name.substring(equals + 1);
        name = name.substring(0, equals);
      }
      if (name.equals("--help") || name.equals("-h")) {
        options.help = true;
        continue;
      }
      if (value == null) {
        if (i + 1 >= args.length) throw new IllegalArgumentException(name + " needs a value");
        value = args[++i];
      }
      options.set(name, value);
    }
    return options;
  }

  private void set(String name, String value) {
    switch (name) {
      case "--port":
        port = (int) integer(name, value, 0, 65535);
        break;
      case "--bind":
        bind = value;
        break;
      case "--port-file":
        portFile = value;
        break;
      case "--mode":
        mode = MODES.get(value);
        if (mode == null) {
          throw new IllegalArgumentException(
              "--mode: unknown mode '" + value + "' (inline, call-in-thread or thread-pool)");
        }
        break;
      case "--pool-size":
        poolSize = (int) integer(name, value, 1, 4096);
        break;
      default:
        setWorkOption(name, value);
    }
  }

  private void setWorkOption(String name, String value) {
    switch (name) {
      case "--work":
        work = WorkSpec.parse(value);
        break;
      case "--fail-rate":
        failRate = number(name, value);
        if (!(failRate >= 0 && failRate <= 1)) {
          throw new IllegalArgumentException("--fail-rate " + value + " is not in [0, 1]");
        }
        break;
      case "--seed":
        seed = integer(name, value, 0, Long.MAX_VALUE);
        break;
      case "--max-line":
        maxLine = (int) integer(name, value, 1, Integer.MAX_VALUE);
        break;
      case "--print-work":
        printWork = value;
        break;
      default:
        throw new IllegalArgumentException("unknown option " + name + " (see --help)");
    }
  }

  private static long integer(String name, String value, long low, long high) {
    long parsed;
    try {
      parsed = Long.parseLong(value);
    } catch (NumberFormatException notANumber) {
      throw new IllegalArgumentException(name + ": '" + value + "' is not an integer");
    }
    if (parsed < low || parsed > high) {
      throw new IllegalArgumentException(
          name + ": " + value + " is not in [" + low + ", " + high + "]");
    }
    return parsed;
  }

  private static double number(String name, String value) {
    try {
      return Double.parseDouble(value);
    } catch (NumberFormatException notANumber) {
      throw new IllegalArgumentException(name + ": '" + value + "' is not a number");
    }
  }
}
