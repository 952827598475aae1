package io.ordersync.intake;

import org.apache.activemq.artemis.api.core.TransportConfiguration;
import org.apache.activemq.artemis.core.config.Configuration;
import org.apache.activemq.artemis.core.config.impl.ConfigurationImpl;
import org.apache.activemq.artemis.core.remoting.impl.invm.InVMAcceptorFactory;
import org.apache.activemq.artemis.core.settings.impl.AddressSettings;
import org.apache.activemq.artemis.core.server.embedded.EmbeddedActiveMQ;
import org.apache.activemq.artemis.jms.client.ActiveMQConnectionFactory;
import org.apache.camel.support.service.ServiceSupport;

import jakarta.jms.Connection;
import jakarta.jms.ConnectionFactory;
import jakarta.jms.JMSContext;
import jakarta.jms.JMSException;
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

    /**
     * The factory the intake-jms route uses; creating it opens no connection, and the Artemis client is
     * loaded only when the route first connects (with JMS intake off, never: that saved 0.2 s of start-up).
     */
    public ConnectionFactory connectionFactory() {
        return new LazyConnectionFactory(this::artemisFactory);
    }

    private ConnectionFactory artemisFactory() {
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

    /** A connection factory made on first use. */
    static final class LazyConnectionFactory implements ConnectionFactory {
        private final java.util.function.Supplier<ConnectionFactory> make;
        private volatile ConnectionFactory delegate;

        LazyConnectionFactory(java.util.function.Supplier<ConnectionFactory> make) {
            this.make = make;
        }

        private ConnectionFactory delegate() {
            ConnectionFactory d = delegate;
            if (d == null) {
                synchronized (this) {
                    if (delegate == null) {
                        delegate = make.get();
                    }
                    d = delegate;
                }
            }
            return d;
        }

        @Override
        public Connection createConnection() throws JMSException {
            return delegate().createConnection();
        }

        @Override
        public Connection createConnection(String userName, String password) throws JMSException {
            return delegate().createConnection(userName, password);
        }

        @Override
        public JMSContext createContext() {
            return delegate().createContext();
        }

        @Override
        public JMSContext createContext(String userName, String password) {
            return delegate().createContext(userName, password);
        }

        @Override
        public JMSContext createContext(String userName, String password, int sessionMode) {
            return delegate().createContext(userName, password, sessionMode);
        }

        @Override
        public JMSContext createContext(int sessionMode) {
            return delegate().createContext(sessionMode);
        }
    }

    @Override
    protected void doStop() throws Exception {
        if (embedded != null) {
            embedded.stop();
            embedded = null;
        }
    }
}
