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
 * enabled without a URL, an embedded Artemis broker with a persistent journal: in-VM only, or, with
 * {@code ordersync.jms.user} and {@code .password}, also TCP on loopback for senders that log in.
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
        boolean credentials = user != null && !user.isBlank() && password != null && !password.isBlank();
        Configuration config = new ConfigurationImpl()
                .setPersistenceEnabled(true)
                // with credentials every connection must log in; without, there is no TCP acceptor at all
                .setSecurityEnabled(credentials)
                // Artemis's built-in cluster login ("CHANGE ME!!") would skip every permission check: a random one
                .setClusterPassword(java.util.UUID.randomUUID().toString() + java.util.UUID.randomUUID())
                .setJournalDirectory(dataDir.resolve("journal").toString())
                .setBindingsDirectory(dataDir.resolve("bindings").toString())
                .setLargeMessagesDirectory(dataDir.resolve("large").toString())
                .setPagingDirectory(dataDir.resolve("paging").toString())
                .addAcceptorConfiguration(new TransportConfiguration(InVMAcceptorFactory.class.getName(), Map.of("serverId", 0)))
                // a message that keeps failing ends in DLQ instead of looping forever (intake holds a message while the
                // database is out of reach, so an outage does not count here); the queue there is created with it, so
                // that what reaches it is kept, not deleted (Artemis drops a message whose dead-letter address has no queue)
                .addAddressSetting("#", new AddressSettings().setMaxDeliveryAttempts(20).setRedeliveryDelay(1000)
                        .setDeadLetterAddress(org.apache.activemq.artemis.api.core.SimpleString.of("DLQ"))
                        .setAutoCreateDeadLetterResources(true));
        embedded = new EmbeddedActiveMQ().setConfiguration(config);
        if (credentials) {
            // a shop sends over TCP with ordersync.jms.user / .password; an anonymous sender cannot bypass the intake
            // token the HTTP intake asks for
            config.addAcceptorConfiguration("tcp", "tcp://127.0.0.1:" + port);
            org.apache.activemq.artemis.spi.core.security.ActiveMQJAASSecurityManager security =
                    new org.apache.activemq.artemis.spi.core.security.ActiveMQJAASSecurityManager(
                            org.apache.activemq.artemis.spi.core.security.jaas.InVMLoginModule.class.getName(),
                            new org.apache.activemq.artemis.core.config.impl.SecurityConfiguration());
            security.getConfiguration().addUser(user, password);
            security.getConfiguration().addRole(user, "ordersync");
            config.putSecurityRoles("#", java.util.Set.of(new org.apache.activemq.artemis.core.security.Role("ordersync",
                    true, true, true, true, true, true, true, true, true, true, false, false)));
            embedded.setSecurityManager(security);
        } else {
            org.slf4j.LoggerFactory.getLogger(JmsBroker.class).info("Embedded JMS broker: in-VM only; set ordersync.jms.user and "
                    + "ordersync.jms.password to accept senders on tcp://127.0.0.1:{}", port);
        }
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
