package io.attn4j.cli;

import io.attn4j.util.Json;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Mechanism;
import io.attn4j.kv.KvPolicies;
import io.attn4j.kv.KvPolicyDescriptor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** {@code attn4j mechanisms}: the catalog as a table or JSON. */
@Command(name = "mechanisms", mixinStandardHelpOptions = true,
        description = "List every mechanism attn4j implements: id, family, patterns, weights, complexity, paper.")
final class MechanismsCommand implements Runnable {
    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            List<Object> all = new ArrayList<>();
            for (Mechanism m : Catalog.all()) {
                Map<String, Object> o = Json.object();
                o.put("id", m.id());
                o.put("family", m.family().label());
                o.put("system", m.system());
                o.put("paper", m.paper());
                o.put("patterns", List.of(m.patternList().split(",")));
                o.put("weights", m.weights().label());
                o.put("exact", m.exact());
                o.put("lse", m.lse());
                o.put("observers", m.observers());
                o.put("time", m.time());
                o.put("memory", m.memory());
                all.add(o);
            }
            List<Object> policies = new ArrayList<>();
            for (KvPolicyDescriptor p : KvPolicies.all()) {
                Map<String, Object> o = Json.object();
                o.put("id", p.id());
                o.put("family", p.family().label());
                o.put("system", p.system());
                o.put("paper", p.paper());
                o.put("weights", p.weights().label());
                o.put("time", p.time());
                o.put("memory", p.memory());
                policies.add(o);
            }
            Map<String, Object> doc = Json.object();
            doc.put("mechanisms", all);
            doc.put("kv_policies", policies);
            out.print(Json.write(doc));
            out.flush();
            return;
        }
        out.printf("%-10s %-6s %-22s %-8s %-6s %-26s %s%n", "id", "family", "patterns", "weights", "exact", "time",
                "system");
        for (Mechanism m : Catalog.all()) {
            out.printf("%-10s %-6s %-22s %-8s %-6s %-26s %s%n", m.id(), m.family().label(), m.patternList(),
                    m.weights().label(), m.exact() ? "yes" : "no", m.time(), m.system());
        }
        out.printf("%n%-10s %-8s %-26s %s%n", "KV policy", "weights", "compression time", "system");
        for (KvPolicyDescriptor p : KvPolicies.all()) {
            out.printf("%-10s %-8s %-26s %s%n", p.id(), p.weights().label(), p.time(), p.system());
        }
        out.printf("%n%d mechanisms, %d KV policies. Papers: attn4j mechanisms --json%n", Catalog.all().size(),
                KvPolicies.all().size());
        out.flush();
    }
}
