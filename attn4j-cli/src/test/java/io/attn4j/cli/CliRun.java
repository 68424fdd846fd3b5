package io.attn4j.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One in-process run of the CLI, as the tests see it: exit code, standard output and standard error. */
record CliRun(int code, String out, String err) {

    static CliRun run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new CliRun(code, out.toString(), err.toString());
    }
}
