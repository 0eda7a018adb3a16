package io.lcm.flink;

import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.InputTypeConfigurable;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.sink.legacy.RichSinkFunction;
import org.apache.flink.streaming.api.functions.sink.legacy.SinkFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A sink function that delegates everything to another, except that close() never throws.
 *
 * <p>Buffered rows are written where it matters: on every checkpoint (snapshotState) and at
 * the normal end of the input (finish), and a failure there fails the task the ordinary
 * way. close() only releases resources; it runs both after finish() and while Flink cleans
 * up a failed task, where an exception kills the TaskManager. What it could not write then
 * comes after the last checkpoint and is replayed from it on restart, so it is logged, not
 * thrown.
 */
public final class SafeCloseSinkFunction<T> extends RichSinkFunction<T>
        implements CheckpointedFunction, InputTypeConfigurable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(SafeCloseSinkFunction.class);

    private final SinkFunction<T> inner;

    public SafeCloseSinkFunction(SinkFunction<T> inner) {
        this.inner = inner;
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        if (inner instanceof RichFunction) {
            ((RichFunction) inner).setRuntimeContext(getRuntimeContext());
            ((RichFunction) inner).open(openContext);
        }
    }

    @Override
    public void invoke(T value, Context context) throws Exception {
        inner.invoke(value, context);
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        if (inner instanceof CheckpointedFunction) {
            ((CheckpointedFunction) inner).initializeState(context);
        }
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        if (inner instanceof CheckpointedFunction) {
            ((CheckpointedFunction) inner).snapshotState(context);
        }
    }

    @Override
    public void finish() throws Exception {
        // The end of a bounded input: write what is buffered now, failing loudly if it cannot.
        if (inner instanceof CheckpointedFunction) {
            ((CheckpointedFunction) inner).snapshotState(null);
        }
        inner.finish();
    }

    @Override
    public void close() {
        try {
            if (inner instanceof RichFunction) {
                ((RichFunction) inner).close();
            }
        } catch (Exception e) {
            LOG.warn("closing the JDBC sink failed; rows after the last checkpoint are written "
                    + "again when the job restarts from it", e);
        }
    }

    @Override
    public void setInputType(TypeInformation<?> type, ExecutionConfig executionConfig) {
        if (inner instanceof InputTypeConfigurable) {
            ((InputTypeConfigurable) inner).setInputType(type, executionConfig);
        }
    }
}
