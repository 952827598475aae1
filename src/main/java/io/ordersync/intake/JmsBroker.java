package io.ordersync.intake;

import org.apache.activemq.artemis.api.core.TransportConfiguration;
import org.apache.activemq.artemis.core.config.Configuration;
import org.apache.activemq.artemis.core.config.impl.ConfigurationImpl;
import org.apache.activemq.artemis.core.remoting.impl.invm.InVMAcceptorFactory;
import org.apache.activemq.artemis.core.settings.impl.AddressSettings;
import org.apache.activemq.artemis.core.server.embedded.EmbeddedActiveMQ;
import org.apache.activemq.artemis.jms.client.ActiveMQConnectionFactory;
import org.apache.camel.support.service.ServiceSupport;

import jakarta.jms.ConnectionFactory;
import java.nio.file.Path;
import java.util.Map;

/**
 * The JMS side of intake: a connection factory for an external broker given by URL, or, when JMS is
 * enabled without a URL, an embedded Artemis broker with a persistent journal (in-VM, and TCP on a
 * configurable port so a shop can send to it).
 */
public final class JmsBroker extends ServiceSupport {

    private final String url;
    private final Path dataDir;
    private final int port;
    private final String user;
    private final String password;
    private EmbeddedActiveMQ embedded;

    public JmsBroker(String url, Path dataDir, int port, String user, String password) {
        this.url = url;
        this.dataDir = dataDir;
        this.port = port;
        this.user = user;
        this.password = password;
    }

    public boolean embeddedBroker() {
        return url == null || url.isBlank();
    }

    /** The factory the intake-jms route uses; creating it opens no connection. */
    public ConnectionFactory connectionFactory() {
        ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory(embeddedBroker() ? "vm://0" : url);
        if (user != null && !user.isBlank()) {
            cf.setUser(user);
            cf.setPassword(password);
        }
        return cf;
    }

    /** Starts the embedded broker (nothing for an external one). */
    @Override
    protected void doStart() throws Exception {
        if (!embeddedBroker()) {
            return;
        }
        Configuration config = new ConfigurationImpl()
                .setPersistenceEnabled(true)
                .setSecurityEnabled(false)
                .setJournalDirectory(dataDir.resolve("journal").toString())
                .setBindingsDirectory(dataDir.resolve("bindings").toString())
                .setLargeMessagesDirectory(dataDir.resolve("large").toString())
                .setPagingDirectory(dataDir.resolve("paging").toString())
                .addAcceptorConfiguration(new TransportConfiguration(InVMAcceptorFactory.class.getName(), Map.of("serverId", 0)))
                .addAcceptorConfiguration("tcp", "tcp://127.0.0.1:" + port)
                // a message that keeps failing (database down for long) ends in DLQ instead of looping forever
                .addAddressSetting("#", new AddressSettings().setMaxDeliveryAttempts(20).setRedeliveryDelay(1000)
                        .setDeadLetterAddress(org.apache.activemq.artemis.api.core.SimpleString.of("DLQ")));
        embedded = new EmbeddedActiveMQ().setConfiguration(config);
        embedded.start();
    }

    @Override
    protected void doStop() throws Exception {
        if (embedded != null) {
            embedded.stop();
            embedded = null;
        }
    }
}
