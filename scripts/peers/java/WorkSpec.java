// The --work grammar of reference_server (reference_server/work.cpp), re-written in Java for the
// PoolPeer server. tests/data/work_specs.json pins what both accept, the canonical spelling,
// the mean costs and every error message, so any change here must keep that file passing.
//
// Numbers are plain decimals only ("10", "1.5", ".5", "5."): the C++ side hands them to strtod,
// and Double.parseDouble gives the same correctly rounded double (an overflow becomes infinity
// in both). Durations are rounded to whole nanoseconds half away from zero, as llround does,
// and the one-hour cap is checked on the unrounded product, as the C++ side checks it.
//
// Running: sleep parks the calling thread until a deadline on System.nanoTime (LockSupport
// parkNanos, re-parked after an early return), because Thread.sleep(ms, ns) in JDK 17 rounds
// any nanoseconds up to a whole millisecond. spin hashes until the calling thread has used the
// part's duration of its own CPU time (ThreadMXBean.getCurrentThreadCpuTime), so on a shared
// CPU it takes longer on the wall clock but not on the CPU. sql: parts parse (so --print-work
// agrees with the other servers) but this peer has no database client and refuses to run them.

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;

final class WorkSpec {
  static final String GRAMMAR =
      "expected none or PART[+PART]..., PART = KIND:DURATION[,fixed|exp][,pPROB=DURATION]... or "
      + "sql:STATEMENT or sql:NAME, KIND sleep|spin, DURATION a number with ns|us|ms|s, NAME "
      + "point-read|hot-update|range-scan|sleep-10ms, STATEMENT with {rand} or {rand:N} for "
      + "a random key (e.g. sleep:10ms, spin:200us, spin:2ms+sleep:8ms, "
      + "sleep:1ms,p0.01=100ms, sql:point-read+spin:1ms)";

  private static final double HOUR_NS = 3600e9;
  private static final String[][] NAMED_STATEMENTS = {
      {"point-read", "SELECT v FROM kv WHERE id={rand}"},
      {"hot-update", "UPDATE kv SET n=n+1 WHERE id={rand:8}"},
      {"range-scan", "SELECT COUNT(*),SUM(n) FROM kv WHERE id BETWEEN {rand} AND {rand}+9999"},
      {"sleep-10ms", "SELECT SLEEP(0.01)"},
  };
  private static final long LARGEST_RANGE = 2147483647L;

  /** What is wrong with one part; parse() adds which spec and which part. */
  private static final class BadPart extends Exception {
    private static final long serialVersionUID = 1;

    BadPart(String why) { super(why, null, false, false); }
  }

  enum Kind { SLEEP, SPIN, SQL }

  /** One part: a sleep or spin with its cost distribution, or an sql statement as spelled. */
  static final class Part {
    Kind kind;
    long nanoseconds; // the mean, when exponential
    boolean exponential;
    final List<double[]> outliers = new ArrayList<>(); // {probability, nanoseconds}
    String sqlSpelling;

    double meanNanoseconds() {
      double outlierProbability = 0;
      double mean = 0;
      for (double[] outlier : outliers) {
        outlierProbability += outlier[0];
        mean += outlier[0] * outlier[1];
      }
      return mean + (1 - outlierProbability) * (double) nanoseconds;
    }

    long sample(Random random) {
      if (!outliers.isEmpty()) {
        double pick = random.nextDouble();
        for (double[] outlier : outliers) {
          if (pick < outlier[0]) return (long) outlier[1];
          pick -= outlier[0];
        }
      }
      if (exponential && nanoseconds > 0) {
        return roundHalfAway(-Math.log(1 - random.nextDouble()) * nanoseconds);
      }
      return nanoseconds;
    }

    @Override
    public String toString() {
      if (kind == Kind.SQL) return "sql:" + sqlSpelling;
      StringBuilder out = new StringBuilder(kind == Kind.SLEEP ? "sleep:" : "spin:");
      out.append(specDuration(nanoseconds));
      if (exponential) out.append(",exp");
      for (double[] outlier : outliers) {
        out.append(",p").append(formatLikeOstream(outlier[0]));
        out.append('=').append(specDuration((long) outlier[1]));
      }
      return out.toString();
    }
  }

  final List<Part> parts = new ArrayList<>(); // empty: none

  /** Throws IllegalArgumentException with reference_server's message. */
  static WorkSpec parse(String text) {
    WorkSpec spec = new WorkSpec();
    if (text.equals("none")) return spec;
    List<String> pieces = splitParts(text);
    for (int i = 0; i < pieces.size(); ++i) {
      try {
        spec.parts.add(parsePart(pieces.get(i)));
      } catch (BadPart bad) {
        String where =
            pieces.size() > 1 ? "part " + (i + 1) + " " + quoted(pieces.get(i)) + ": " : "";
        throw new IllegalArgumentException(
            "bad work spec " + quoted(text) + ": " + where + bad.getMessage() + "; " + GRAMMAR);
      }
    }
    return spec;
  }

  @Override
  public String toString() {
    if (parts.isEmpty()) return "none";
    StringBuilder text = new StringBuilder();
    for (Part part : parts) {
      if (text.length() > 0) text.append('+');
      text.append(part);
    }
    return text.toString();
  }

  double meanNanoseconds(Kind kind) {
    double total = 0;
    for (Part part : parts) {
      if (part.kind == kind) total += part.meanNanoseconds();
    }
    return total;
  }

  boolean hasSql() { return parts.stream().anyMatch(part -> part.kind == Kind.SQL); }

  /** Runs the parts in order on the calling thread (never an sql part: main refuses those). */
  void perform(Random random) {
    for (Part part : parts) {
      long cost = part.sample(random);
      if (part.kind == Kind.SLEEP) {
        sleepNanoseconds(cost);
      } else if (part.kind == Kind.SPIN) {
        sink = consumeThreadCpu(cost);
      }
    }
  }

  // ---- parsing ----

  private static String quoted(String text) { return "'" + text + "'"; }

  // The spec's parts: split at '+', except that an sql: part runs on until the next piece that
  // starts a part of its own (a statement may hold '+', as in n=n+1).
  private static List<String> splitParts(String text) {
    List<String> parts = new ArrayList<>();
    for (String piece : text.split("\\+", -1)) {
      int last = parts.size() - 1;
      if (last >= 0 && parts.get(last).startsWith("sql:") && !startsAPart(piece)) {
        parts.set(last, parts.get(last) + "+" + piece);
      } else {
        parts.add(piece);
      }
    }
    return parts;
  }

  private static boolean startsAPart(String piece) {
    return piece.startsWith("sleep:") || piece.startsWith("spin:") || piece.startsWith("sql:");
  }

  private static Part parsePart(String text) throws BadPart {
    if (text.isEmpty()) throw new BadPart("it is empty");
    if (text.equals("none")) throw new BadPart("'none' cannot be combined with other parts");
    int colon = text.indexOf(':');
    if (colon < 0) throw new BadPart("no ':' after the kind");
    String kind = text.substring(0, colon);
    if (kind.equals("sql")) return parseSqlPart(text.substring(colon + 1));
    Part part = new Part();
    if (kind.equals("sleep")) {
      part.kind = Kind.SLEEP;
    } else if (kind.equals("spin")) {
      part.kind = Kind.SPIN;
    } else {
      throw new BadPart("unknown kind " + quoted(kind));
    }
    String[] options = text.substring(colon + 1).split(",", -1);
    part.nanoseconds = durationInPart(options[0]);
    double outlierProbability = 0;
    for (int i = 1; i < options.length; ++i) {
      outlierProbability += parseOption(part, options[i], i);
    }
    if (outlierProbability > 1 + 1e-12) {
      throw new BadPart("the p...= probabilities add up to over 1");
    }
    return part;
  }

  // Applies one option after the duration; returns the outlier probability it adds.
  private static double parseOption(Part part, String option, int index) throws BadPart {
    int equals = option.indexOf('=');
    if (option.equals("fixed") || option.equals("exp")) {
      if (index != 1) throw new BadPart("the distribution must come right after the duration");
      part.exponential = option.equals("exp");
      return 0;
    }
    if (!option.startsWith("p") || equals < 0) {
      throw new BadPart("unknown option " + quoted(option));
    }
    double probability = numberInPart(option.substring(1, equals));
    if (probability <= 0 || probability > 1) {
      throw new BadPart("probability in " + quoted(option) + " is not in (0, 1]");
    }
    part.outliers.add(new double[] {probability, durationInPart(option.substring(equals + 1))});
    return probability;
  }

  // A plain decimal: digits with an optional fraction, or a fraction alone; null otherwise.
  private static Double readDecimal(String text) {
    int digits = 0;
    boolean dot = false;
    for (int i = 0; i < text.length(); ++i) {
      char c = text.charAt(i);
      if (c >= '0' && c <= '9') {
        ++digits;
      } else if (c == '.' && !dot) {
        dot = true;
      } else {
        return null;
      }
    }
    return digits == 0 ? null : Double.parseDouble(text);
  }

  private static double numberInPart(String text) throws BadPart {
    Double value = readDecimal(text);
    if (value == null) throw new BadPart(quoted(text) + " is not a number");
    return value;
  }

  private static double nanosecondsPer(String unit) {
    switch (unit) {
      case "ns":
        return 1;
      case "us":
        return 1e3;
      case "ms":
        return 1e6;
      case "s":
        return 1e9;
      default:
        return 0; // the grammar has no minutes or hours
    }
  }

  private static long durationInPart(String text) throws BadPart {
    int unitAt = text.length();
    while (unitAt > 0 && text.charAt(unitAt - 1) >= 'a' && text.charAt(unitAt - 1) <= 'z') {
      --unitAt;
    }
    double scale = nanosecondsPer(text.substring(unitAt));
    Double value = readDecimal(text.substring(0, unitAt));
    if (value == null || scale == 0) {
      throw new BadPart(quoted(text) + " is not a duration with a unit");
    }
    if (value * scale > HOUR_NS) throw new BadPart(quoted(text) + " is longer than an hour");
    return roundHalfAway(value * scale);
  }

  /** llround for a value >= 0 (Math.rint would round halves to even). */
  static long roundHalfAway(double value) {
    double whole = Math.floor(value);
    return (long) whole + (value - whole >= 0.5 ? 1 : 0);
  }

  private static Part parseSqlPart(String statement) throws BadPart {
    if (statement.isEmpty()) throw new BadPart("no statement after 'sql:'");
    String resolved = statement;
    for (String[] named : NAMED_STATEMENTS) {
      if (statement.equals(named[0])) resolved = named[1];
    }
    checkPlaceholders(resolved);
    Part part = new Part();
    part.kind = Kind.SQL;
    part.sqlSpelling = statement;
    return part;
  }

  // Every {...} must be {rand} or {rand:N} with N in 1..2^31-1 (sql_statement.cpp's rule).
  private static void checkPlaceholders(String statement) throws BadPart {
    int from = 0;
    for (int open; (open = statement.indexOf('{', from)) >= 0;) {
      int close = statement.indexOf('}', open);
      String placeholder =
          close < 0 ? statement.substring(open) : statement.substring(open, close + 1);
      if (!isPlaceholder(placeholder)) {
        throw new BadPart("unknown placeholder " + quoted(placeholder)
            + " (expected {rand} or {rand:N}, N from 1 to 2147483647)");
      }
      from = close + 1;
    }
  }

  private static boolean isPlaceholder(String text) {
    if (text.equals("{rand}")) return true;
    if (!text.startsWith("{rand:") || !text.endsWith("}")) return false;
    String digits = text.substring("{rand:".length(), text.length() - 1);
    if (digits.isEmpty() || digits.length() > 10 || !digits.chars().allMatch(Character::isDigit)) {
      return false;
    }
    long n = Long.parseLong(digits);
    return n >= 1 && n <= LARGEST_RANGE;
  }

  // ---- spelling ----

  // The shortest exact spelling in the largest unit that divides the duration (1 h is 3600s).
  private static String specDuration(long ns) {
    if (ns == 0) return "0s";
    if (ns % 1_000_000_000L == 0) return ns / 1_000_000_000L + "s";
    if (ns % 1_000_000L == 0) return ns / 1_000_000L + "ms";
    if (ns % 1_000L == 0) return ns / 1_000L + "us";
    return ns + "ns";
  }

  // A probability as C++'s ostream prints a double by default (printf "%g": 6 significant
  // digits, no trailing zeros, an exponent below 1e-4), so canonical spellings agree.
  static String formatLikeOstream(double value) {
    BigDecimal rounded = new BigDecimal(value).round(new MathContext(6)).stripTrailingZeros();
    int exponent = rounded.precision() - rounded.scale() - 1;
    if (exponent >= -4 && exponent < 6) return rounded.toPlainString();
    String mantissa = rounded.movePointLeft(exponent).toPlainString();
    String sign = exponent < 0 ? "-" : "+";
    int magnitude = Math.abs(exponent);
    return mantissa + "e" + sign + (magnitude < 10 ? "0" : "") + magnitude;
  }

  // ---- running ----

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  // Where spin's hashes go, so that the JIT has a use for them.
  private static volatile long sink;

  // Parks until the deadline: park may return early (spuriously), so it parks again.
  private static void sleepNanoseconds(long nanoseconds) {
    long deadline = System.nanoTime() + nanoseconds;
    for (long left = nanoseconds; left > 0; left = deadline - System.nanoTime()) {
      LockSupport.parkNanos(left);
    }
  }

  // FNV-1a over a small buffer of this call's own, rewritten as it goes, so the JIT cannot drop
  // the work; the thread CPU clock is read once per round of 256 passes, not per pass.
  private static long consumeThreadCpu(long nanoseconds) {
    long[] words = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    long hash = 0xcbf29ce484222325L;
    long until = THREADS.getCurrentThreadCpuTime() + nanoseconds;
    while (THREADS.getCurrentThreadCpuTime() < until) {
      for (int pass = 0; pass < 256; ++pass) {
        for (int i = 0; i < words.length; ++i) {
          hash = (hash ^ words[i]) * 0x100000001b3L;
          words[i] = hash;
        }
      }
    }
    return hash;
  }
}
