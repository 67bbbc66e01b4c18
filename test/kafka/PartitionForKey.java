// Kafka's own answer to "which partition does this key go to": for each line of stdin (a message
// key, UTF-8), prints the partition the Java producer picks for it,
// BuiltInPartitioner.partitionForKey(keyBytes, partitions) = toPositive(murmur2(keyBytes)) % partitions.
// broker.test.ts runs it from source against the broker's own kafka-clients jar:
//   java -cp '.kafka/libs-<version>/*' test/kafka/PartitionForKey.java <partitions> < keys.txt
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;

public class PartitionForKey {
  public static void main(String[] args) throws Exception {
    int partitions = Integer.parseInt(args[0]);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    StringBuilder out = new StringBuilder();
    for (String key; (key = in.readLine()) != null; ) {
      out.append(BuiltInPartitioner.partitionForKey(key.getBytes(StandardCharsets.UTF_8), partitions)).append('\n');
    }
    System.out.print(out);
  }
}
