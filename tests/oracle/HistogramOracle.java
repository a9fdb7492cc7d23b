// Conformance oracle for poolbench's C++ Histogram (loadgen/histogram.*): answers on stdout, using
// HdrHistogram 2.1.11 (Debian's libhdrhistogram-java, the reference implementation), the
// commands read from stdin. The histogram unit tests (tests/unit/histogram*_test.cpp, through
// tests/support/histogram_oracle.hpp) write the commands, print the same answers from the C++
// side and compare them byte for byte.
//
// Commands, one per line (numbers in decimal, doubles as Java/C++ literals, bits in hex):
//   percentiles <p>...                  the percentiles every later answer reports
//   record <lowest> <highest> <digits> <scaling> <ticks> <n>
//     then n lines "<value> <count>"    records them into a new Histogram
//   decode <scaling> <ticks> <base64>   decodes a V2 compressed histogram
//   format <precision> <width> <bits>...  String.format("%<width>.<precision>f") of each double
//   hlog <startMs> <baseMs> <startSec> <endSec> <maxRatio> <tag|-> <base64>
//                                       an interval log of that histogram (HistogramLogWriter)
// Answers end with a line "end". A histogram answer is:
//   v2 <base64>, shape <lowest> <highest> <digits>, total <n>, min <v> max <v>,
//   mean <bits> stddev <bits>, pct <v>..., bins <k> + k lines "<value> <count>",
//   hgrm <k> + k lines of outputPercentileDistribution.
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.Locale;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.HdrHistogram.HistogramLogWriter;

public final class HistogramOracle {
  private static double[] percentiles = new double[0];

  public static void main(String[] args) throws Exception {
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 16);
    StringBuilder out = new StringBuilder(1 << 20);
    String line;
    while ((line = in.readLine()) != null) {
      String[] f = line.trim().split(" +");
      switch (f[0]) {
        case "":
          break;
        case "percentiles":
          percentiles = new double[f.length - 1];
          for (int i = 1; i < f.length; i++) percentiles[i - 1] = Double.parseDouble(f[i]);
          break;
        case "record": {
          Histogram h = new Histogram(Long.parseLong(f[1]), Long.parseLong(f[2]),
              Integer.parseInt(f[3]));
          int n = Integer.parseInt(f[6]);
          for (int i = 0; i < n; i++) {
            String[] vc = in.readLine().trim().split(" +");
            h.recordValueWithCount(Long.parseLong(vc[0]), Long.parseLong(vc[1]));
          }
          describe(out, h, Double.parseDouble(f[4]), Integer.parseInt(f[5]));
          break;
        }
        case "decode":
          describe(out, decode(f[3]), Double.parseDouble(f[1]), Integer.parseInt(f[2]));
          break;
        case "format": {
          String format = "%" + (f[2].equals("0") ? "" : f[2]) + "." + f[1] + "f";
          for (int i = 3; i < f.length; i++) {
            double value = Double.longBitsToDouble(Long.parseUnsignedLong(f[i], 16));
            out.append('[').append(String.format(Locale.US, format, value)).append("]\n");
          }
          out.append("end\n");
          break;
        }
        case "hlog": {
          Histogram h = decode(f[7]);
          if (!f[6].equals("-")) h.setTag(f[6]);
          ByteArrayOutputStream bytes = new ByteArrayOutputStream();
          PrintStream log = new PrintStream(bytes, false, "UTF-8");
          HistogramLogWriter writer = new HistogramLogWriter(log);
          writer.outputLogFormatVersion();
          writer.outputStartTime(Long.parseLong(f[1]));
          writer.outputBaseTime(Long.parseLong(f[2]));
          writer.outputLegend();
          writer.outputIntervalHistogram(Double.parseDouble(f[3]), Double.parseDouble(f[4]), h,
              Double.parseDouble(f[5]));
          log.flush();
          out.append(bytes.toString("UTF-8")).append("end\n");
          break;
        }
        default:
          throw new IllegalArgumentException("unknown command: " + line);
      }
    }
    PrintStream stdout = new PrintStream(System.out, false, "UTF-8");
    stdout.print(out);
    stdout.flush();
  }

  private static Histogram decode(String base64) throws Exception {
    return Histogram.decodeFromCompressedByteBuffer(
        ByteBuffer.wrap(Base64.getDecoder().decode(base64)), 0);
  }

  private static void describe(StringBuilder out, Histogram h, double scaling, int ticks)
      throws Exception {
    ByteBuffer buffer = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
    int length = h.encodeIntoCompressedByteBuffer(buffer);
    out.append("v2 ")
        .append(Base64.getEncoder().encodeToString(Arrays.copyOf(buffer.array(), length)))
        .append('\n');
    out.append("shape ").append(h.getLowestDiscernibleValue()).append(' ')
        .append(h.getHighestTrackableValue()).append(' ')
        .append(h.getNumberOfSignificantValueDigits()).append('\n');
    out.append("total ").append(h.getTotalCount()).append('\n');
    out.append("min ").append(h.getMinValue()).append(" max ").append(h.getMaxValue()).append('\n');
    out.append("mean ").append(Long.toHexString(Double.doubleToLongBits(h.getMean())))
        .append(" stddev ").append(Long.toHexString(Double.doubleToLongBits(h.getStdDeviation())))
        .append('\n');
    out.append("pct");
    for (double p : percentiles) out.append(' ').append(h.getValueAtPercentile(p));
    out.append('\n');
    StringBuilder bins = new StringBuilder();
    int binCount = 0;
    for (HistogramIterationValue v : h.recordedValues()) {
      bins.append(v.getValueIteratedTo()).append(' ').append(v.getCountAtValueIteratedTo())
          .append('\n');
      binCount++;
    }
    out.append("bins ").append(binCount).append('\n').append(bins);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream hgrm = new PrintStream(bytes, false, "UTF-8");
    h.outputPercentileDistribution(hgrm, ticks, scaling);
    hgrm.flush();
    String text = bytes.toString("UTF-8");
    int lines = 0;
    for (int i = 0; i < text.length(); i++) {
      if (text.charAt(i) == '\n') lines++;
    }
    out.append("hgrm ").append(lines).append('\n').append(text);
    out.append("end\n");
  }
}
