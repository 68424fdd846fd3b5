package io.attn4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/**
 * {@code attn4j}: the command line of the attention engine. Run through the {@code ./attn4j} launcher, which finds
 * a JDK 25, builds on first use and adds the Vector API module.
 */
@Command(name = "attn4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "The attention engine for the JVM: exact, sparse and linear attention, measured side by side.",
        subcommands = {CompareCommand.class, MechanismsCommand.class, PeakCommand.class, EmbedCommand.class, CaptureCommand.class,
                BenchCommand.class, JmhCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs a command line with the given streams and returns the exit code (tests call this). */
    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        // bad values get one clear line, not a stack trace
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof IllegalArgumentException || e instanceof java.io.UncheckedIOException
                    || e instanceof java.io.IOException) {
                commandLine.getErr().println("attn4j: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cli.execute(args);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"attn4j " + (v == null ? "(development build)" : v) + " on Java "
                    + Runtime.version()};
        }
    }
}
