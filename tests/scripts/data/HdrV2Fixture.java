// Writes hdr_v2_java.json: a V2 base64 histogram encoded by the reference HdrHistogram (Java)
// and the figures Java computes from it, so test_plot.py can check plot.py's decoder.
//
//   javac -cp /usr/share/java/hdrhistogram.jar -d /tmp HdrV2Fixture.java
//   java -cp /usr/share/java/hdrhistogram.jar:/tmp HdrV2Fixture > hdr_v2_java.json
import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.Locale;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

public class HdrV2Fixture {
  public static void main(String[] args) {
    // The loadgen's layout: 1 us to 1 hour, 3 significant digits.
    Histogram h = new Histogram(1, 3_600_000_000L, 3);
    h.recordValue(0);
    h.recordValueWithCount(1, 3);
    h.recordValueWithCount(137, 100);
    h.recordValue(2047);
    h.recordValue(2048);
    h.recordValue(2049);
    h.recordValueWithCount(10_000, 5000);  // 5000 needs two LEB128 bytes
    h.recordValueWithCount(10_123, 40);
    h.recordValue(123_456);
    h.recordValue(1_000_000);
    h.recordValue(3_000_000_000L);        // the far end: a long run of zero counts before it
    ByteBuffer buffer = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
    int length = h.encodeIntoCompressedByteBuffer(buffer);
    byte[] bytes = new byte[length];
    buffer.rewind();
    buffer.get(bytes);
    StringBuilder out = new StringBuilder();
    out.append("{\n  \"generator\": \"HdrHistogram (Java) ")
        .append(Histogram.class.getPackage().getImplementationVersion())
        .append(", tests/scripts/data/HdrV2Fixture.java\",\n");
    out.append("  \"base64\": \"").append(Base64.getEncoder().encodeToString(bytes)).append("\",\n");
    out.append("  \"total_count\": ").append(h.getTotalCount()).append(",\n");
    out.append("  \"min\": ").append(h.getMinValue()).append(",\n");
    out.append("  \"max\": ").append(h.getMaxValue()).append(",\n");
    out.append(String.format(Locale.ROOT, "  \"mean\": %.17g,\n", h.getMean()));
    out.append(String.format(Locale.ROOT, "  \"stdev\": %.17g,\n", h.getStdDeviation()));
    out.append("  \"value_at_percentile\": {");
    double[] percentiles = {0, 1, 25, 50, 90, 98.5, 99, 99.9, 99.95, 99.99, 100};
    for (int i = 0; i < percentiles.length; ++i) {
      out.append(i == 0 ? "" : ", ")
          .append(String.format(Locale.ROOT, "\"%s\": %d", Double.toString(percentiles[i]),
                                h.getValueAtPercentile(percentiles[i])));
    }
    out.append("},\n  \"bins\": [");
    boolean first = true;
    for (HistogramIterationValue v : h.recordedValues()) {
      out.append(first ? "" : ", ")
          .append("[").append(v.getValueIteratedTo()).append(", ")
          .append(v.getCountAtValueIteratedTo()).append("]");
      first = false;
    }
    out.append("]\n}\n");
    System.out.print(out);
  }
}
