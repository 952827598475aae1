package io.ordersync.bench;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs {@link MappingBenchmark} with JMH and prints the side-by-side table for BENCHMARKS.md.
 * {@code bench/run mapping} (full: 2 forks, 5 x 1 s warm-up, 5 x 1 s measurement, a 1 GB heap touched at start);
 * {@code --smoke}: in-process, tiny.
 */
public final class MappingBench {

    private MappingBench() {
    }

    public static Map<String, Double> run(boolean smoke) throws Exception {
        OptionsBuilder b = new OptionsBuilder();
        b.include(MappingBenchmark.class.getName() + ".*").shouldFailOnError(true);
        if (smoke) {
            b.forks(0).warmupIterations(1).warmupTime(TimeValue.milliseconds(100))
                    .measurementIterations(1).measurementTime(TimeValue.milliseconds(100));
        } else {
            // a fixed heap touched at start: on a VM, a young generation still growing into new pages faults
            // them in (the kernel's page clearing was 3 % of a profile) and iterations got faster for 10 s
            b.forks(2).warmupIterations(5).warmupTime(TimeValue.seconds(1))
                    .measurementIterations(5).measurementTime(TimeValue.seconds(1))
                    .jvmArgsAppend("-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch");
        }
        Options options = b.build();
        Collection<RunResult> results = new Runner(options).run();
        Map<String, Double> nsPerOrder = new LinkedHashMap<>();
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark();
            nsPerOrder.put(name.substring(name.lastIndexOf('.') + 1), r.getPrimaryResult().getScore());
        }
        return nsPerOrder;
    }

    public static void main(String[] args) throws Exception {
        Map<String, Double> ns = run(args.length > 0 && args[0].equals("--smoke"));
        double ours = ns.get("ordersync");
        double fastestOther = Math.min(ns.get("jslt"), ns.get("jsonata"));
        System.out.println();
        System.out.println("| mapping (3 positions, 20 properties) | µs per order | relative to ordersync |");
        System.out.println("|---|---|---|");
        for (Map.Entry<String, Double> e : ns.entrySet()) {
            if (!e.getKey().equals("ordersyncLanguage")) {
                System.out.printf("| %s | %.2f | %.1f× |%n", e.getKey(), e.getValue() / 1000, e.getValue() / ours);
            }
        }
        System.out.printf("%nordersync is %.1f× faster than the faster of JSLT and JSONata%n", fastestOther / ours);
        System.out.printf("ordersync with the rest of the mapping language (bench/crm-language.yaml: filters, answers, "
                + "name parts, check-ins, templates; no JSLT twin): %.2f µs per order%n", ns.get("ordersyncLanguage") / 1000);
    }
}
