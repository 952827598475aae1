package io.ordersync.mapping;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An endpoint URI as shown: secret parameters and the user info's password masked, everything else kept. Camel's own
 * sanitizeUri masked from the port to an address's '@' in a later parameter (the first row).
 */
class SecretsShownUriTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', nullValues = "NULL", textBlock = """
            smtp://127.0.0.1:2525?username=crm&password=Pw-1&from=shop@example.org&to=crm@example.org | smtp://127.0.0.1:2525?username=xxxxxx&password=xxxxxx&from=shop@example.org&to=crm@example.org
            smtp://crm:Pw-1@mail.example.org:587/inbox?to=crm@example.org                             | smtp://crm:xxxxxx@mail.example.org:587/inbox?to=crm@example.org
            smtps://crm:Pw@1@mail.example.org                                                         | smtps://crm:xxxxxx@mail.example.org
            https://hooks.example.org/in?token=abc123&channel=sales                                   | https://hooks.example.org/in?token=xxxxxx&channel=sales
            sftp://files.example.org/in?username=u&password=RAW(a&b=c)&binary=true                    | sftp://files.example.org/in?username=xxxxxx&password=xxxxxx&binary=true
            aws2-s3://bucket?accessKey=AKIA1&secretKey=s3cr3t&region=eu-west-1                        | aws2-s3://bucket?accessKey=xxxxxx&secretKey=xxxxxx&region=eu-west-1
            ftp://crm@files.example.org/out                                                            | ftp://crm@files.example.org/out
            jms:queue:crm?connectionFactory=#crmBroker                                                 | jms:queue:crm?connectionFactory=#crmBroker
            file:/var/out/a@b?fileName=x.json                                                          | file:/var/out/a@b?fileName=x.json
            NULL                                                                                       | NULL
            """)
    void secretsAreMaskedAndTheRestKept(String uri, String shown) {
        assertThat(Secrets.shownUri(uri)).isEqualTo(shown);
    }
}
