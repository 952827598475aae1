package io.ordersync.support;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Tests of ordersync in a child process of its own (its own heap, a kill -9), on an H2 file, syncing to the test CRM
 * on loopback: the process, the target and the mappings directory, stopped after each test.
 */
public abstract class CrmProcessTestSupport {

    protected static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    protected Path tmp;
    protected FakeTarget target;
    protected OrdersyncProcess process;
    protected Path mappings;

    @AfterEach
    void stopProcessAndTarget() throws Exception {
        if (process != null) {
            process.close();
        }
        if (target != null) {
            target.close();
        }
    }

    /** The H2 database's JDBC URL (a file in the test's directory). */
    protected String h2Url() {
        return "jdbc:h2:file:" + tmp.resolve("db").resolve("ordersync").toAbsolutePath();
    }

    /**
     * The test CRM (token s3cret) and its mapping with these settings, its text changed by {@code edit}; a process on
     * {@link #h2Url()} with these JVM options, not started.
     */
    protected OrdersyncProcess crmProcess(String name, Map<String, String> mapping, UnaryOperator<String> edit, List<String> jvm)
            throws Exception {
        target = new FakeTarget().requireAuthorization("Bearer s3cret");
        mappings = tmp.resolve("mappings");
        Path crm = Fixtures.mapping(mappings, "crm", mapping);
        String text = Files.readString(crm);
        String edited = edit.apply(text);
        if (!edited.equals(text)) {
            Files.writeString(crm, edited);
        }
        Map<String, String> settings = new HashMap<>(Map.of("ordersync.db.url", h2Url(), "ordersync.mappings.dir",
                mappings.toAbsolutePath().toString(), "test.crm.url", target.url(), "test.crm.token", "s3cret",
                "camel.main.routes-reload-enabled", "false"));
        process = new OrdersyncProcess(name, tmp.resolve("logs"), settings).jvmOptions(jvm);
        return process;
    }
}
