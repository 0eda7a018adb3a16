package io.lcm.flink;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.data.binary.BinaryStringDataUtil;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

/**
 * JSON_ROW(payload, 'name TYPE, name TYPE, ...'): the named top-level fields of a JSON object
 * as one typed ROW, in a single streaming pass, or NULL for anything that is not exactly one
 * well-formed JSON object. TYPE is STRING, BIGINT or DOUBLE.
 *
 * <p>Each field takes the value JSON_FIELDS(payload)['name'] would give, converted the way
 * TRY_CAST would convert that text: STRING is a scalar's text (numbers exactly as written) or
 * a nested value's JSON text; BIGINT and DOUBLE are TRY_CAST(text AS BIGINT / DOUBLE), done
 * with the very functions Flink's cast uses, so a value that does not convert is NULL. A
 * missing field and JSON null are NULL; of a repeated name the last non-null value counts.
 *
 * <p>Why not JSON_FIELDS plus TRY_CAST: that builds a map of every field, converts each name
 * and value to Flink's binary strings, looks names up in it and decodes the text again for
 * the cast. This writes the few fields a topic needs straight into the row, skipping the
 * rest, which is most of the per-record cost of parsing (README, Performance).
 *
 * <p>Declared non-deterministic only so the planner calls it once per row instead of once
 * per field that reads the row.
 */
public class JsonRow extends ScalarFunction {
    private static final JsonFactory FACTORY = new JsonFactory();
    private static final ObjectMapper MAPPER = new ObjectMapper(FACTORY);

    /** The parsed spec of one call site (the spec is a literal, so it never changes). */
    private static final class Spec {
        final String text;
        final Map<String, Integer> index = new HashMap<>();
        final LogicalTypeRoot[] types;

        Spec(String text, RowType row) {
            this.text = text;
            List<RowType.RowField> fields = row.getFields();
            types = new LogicalTypeRoot[fields.size()];
            for (int i = 0; i < fields.size(); i++) {
                index.put(fields.get(i).getName(), i);
                types[i] = fields.get(i).getType().getTypeRoot();
            }
        }
    }

    private transient Spec spec;

    public RowData eval(StringData payload, StringData specText) {
        if (payload == null) {
            return null;
        }
        Spec s = spec;
        if (s == null || !s.text.equals(specText.toString())) {
            s = spec = new Spec(specText.toString(), rowType(specText.toString()));
        }
        GenericRowData row = new GenericRowData(s.types.length);
        byte[] bytes = ((BinaryStringData) payload).toBytes();
        try (JsonParser p = FACTORY.createParser(bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                Integer i = s.index.get(p.currentName());
                JsonToken value = p.nextToken();
                boolean nested = value == JsonToken.START_OBJECT || value == JsonToken.START_ARRAY;
                if (i == null) {
                    if (nested) {
                        p.skipChildren(); // still read token by token: malformed is caught
                    }
                    continue;
                }
                if (value == JsonToken.VALUE_NULL) {
                    continue; // like a missing key (JSON_FIELDS): an earlier value stays
                }
                String text = nested ? MAPPER.readTree(p).toString() : p.getText();
                row.setField(i, convert(text, s.types[i]));
            }
            // Exactly one object: trailing content means the text is not a JSON object.
            return p.nextToken() == null ? row : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** TRY_CAST(text AS type), by the functions Flink's generated cast calls. */
    private static Object convert(String text, LogicalTypeRoot type) {
        switch (type) {
            case BIGINT:
                try {
                    return BinaryStringDataUtil.toLong(BinaryStringData.fromString(text).trim());
                } catch (RuntimeException e) {
                    return null;
                }
            case DOUBLE:
                // Flink: toDouble(trim(s)) = Double.parseDouble(s), which trims anyway.
                try {
                    return Double.parseDouble(text);
                } catch (NumberFormatException e) {
                    return null;
                }
            default:
                return BinaryStringData.fromString(text);
        }
    }

    private static RowType rowType(String specText) {
        LogicalType type = org.apache.flink.table.types.logical.utils.LogicalTypeParser.parse(
                "ROW<" + specText + ">", JsonRow.class.getClassLoader());
        RowType row = (RowType) type;
        for (RowType.RowField f : row.getFields()) {
            LogicalTypeRoot root = f.getType().getTypeRoot();
            if (root != LogicalTypeRoot.VARCHAR && root != LogicalTypeRoot.BIGINT
                    && root != LogicalTypeRoot.DOUBLE) {
                throw new IllegalArgumentException("JSON_ROW field " + f.getName() + ": type "
                        + f.getType() + " is not one of STRING, BIGINT, DOUBLE");
            }
        }
        return row;
    }

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        return TypeInference.newBuilder()
                .typedArguments(DataTypes.STRING().bridgedTo(StringData.class),
                        DataTypes.STRING().bridgedTo(StringData.class))
                .outputTypeStrategy(ctx -> {
                    if (!ctx.isArgumentLiteral(1) || ctx.isArgumentNull(1)) {
                        return ctx.fail(true, "JSON_ROW: the field list (second argument) "
                                + "must be a string literal such as 'ts BIGINT, price DOUBLE'");
                    }
                    String text = ctx.getArgumentValue(1, String.class).orElseThrow();
                    RowType row;
                    try {
                        row = rowType(text);
                    } catch (RuntimeException e) {
                        return ctx.fail(true, "JSON_ROW: bad field list '" + text + "': "
                                + e.getMessage());
                    }
                    List<DataTypes.Field> fields = new ArrayList<>();
                    for (RowType.RowField f : row.getFields()) {
                        fields.add(DataTypes.FIELD(f.getName(), DataTypes.of(f.getType())));
                    }
                    DataType out = DataTypes.ROW(fields.toArray(new DataTypes.Field[0]))
                            .bridgedTo(RowData.class);
                    return Optional.of(out);
                })
                .build();
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
