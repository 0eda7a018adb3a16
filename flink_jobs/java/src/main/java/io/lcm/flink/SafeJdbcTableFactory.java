package io.lcm.flink;

import java.util.Set;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.connector.jdbc.core.table.JdbcDynamicTableFactory;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.legacy.SinkFunctionProvider;
import org.apache.flink.table.factories.DynamicTableSinkFactory;

/**
 * {@code 'connector' = 'lcm-jdbc'}: Flink's JDBC sink, with the same options, whose
 * shutdown never throws (see {@link SafeCloseSinkFunction}).
 *
 * <p>Why: the JDBC connector's close() flushes what it buffered and rethrows when that
 * fails. Flink calls close() while it cleans up a failed task, and an exception there is
 * fatal to the TaskManager ("FATAL - exception in exception handler"): one failed write to
 * an unreachable database took the whole TaskManager, and every job on it, down. The rows
 * that close() could not write are not lost: they come after the last checkpoint, and the
 * job replays them from there when it restarts.
 */
public final class SafeJdbcTableFactory implements DynamicTableSinkFactory {
    public static final String IDENTIFIER = "lcm-jdbc";

    private final JdbcDynamicTableFactory jdbc = new JdbcDynamicTableFactory();

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return jdbc.requiredOptions();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return jdbc.optionalOptions();
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        return new Sink(jdbc.createDynamicTableSink(context));
    }

    /** The JDBC table sink with its sink function wrapped. */
    static final class Sink implements DynamicTableSink {
        private final DynamicTableSink inner;

        Sink(DynamicTableSink inner) {
            this.inner = inner;
        }

        @Override
        public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
            return inner.getChangelogMode(requestedMode);
        }

        @Override
        public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
            SinkRuntimeProvider provider = inner.getSinkRuntimeProvider(context);
            if (!(provider instanceof SinkFunctionProvider)) {
                throw new IllegalStateException(
                        "lcm-jdbc expects the JDBC connector to give a SinkFunctionProvider, got "
                                + provider.getClass().getName());
            }
            SinkFunctionProvider functions = (SinkFunctionProvider) provider;
            return SinkFunctionProvider.of(
                    new SafeCloseSinkFunction<>(functions.createSinkFunction()),
                    functions.getParallelism().orElse(null));
        }

        @Override
        public DynamicTableSink copy() {
            return new Sink(inner.copy());
        }

        @Override
        public String asSummaryString() {
            return "LCM-" + inner.asSummaryString();
        }
    }
}
